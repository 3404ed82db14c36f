// Real conflicts made through pgdual, repaired by `pgdual reconcile --apply`, and resolved in the
// conflict log: through the inbox while pgdual serve holds the log, directly once it stopped.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 120s;

RunResult psql(const Endpoint& endpoint, const std::string& script) {
  return run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=0", "-c", script}, endpoint, kCommandTimeout);
}

RunResult pgdual(const std::vector<std::string>& words) {
  std::vector<std::string> argv{PGDUAL_BINARY};
  argv.insert(argv.end(), words.begin(), words.end());
  return run(argv, {}, kCommandTimeout);
}

RunResult reconcile(const ProxyProcess& proxy, const std::string& database, const std::string& table) {
  return pgdual({"reconcile", "--config", proxy.config_file().string(), "--database", database, "--table", table,
                 "--apply"});
}

/// The latest record of each conflict id, in the order the ids first appear.
std::vector<conflict::ConflictRecord> latest_by_id(const std::vector<conflict::ConflictRecord>& records) {
  std::vector<conflict::ConflictRecord> latest;
  for (const auto& record : records) {
    const auto same_id = [&](const conflict::ConflictRecord& seen) { return seen.id == record.id; };
    if (const auto found = std::find_if(latest.begin(), latest.end(), same_id); found != latest.end()) {
      *found = record;
    } else {
      latest.push_back(record);
    }
  }
  return latest;
}

conflict::Resolution status_of(const std::vector<conflict::ConflictRecord>& records, const std::string& table) {
  for (const auto& record : latest_by_id(records)) {
    if (std::find(record.tables.begin(), record.tables.end(), table) != record.tables.end()) return record.resolution;
  }
  FAIL("no conflict on " << table);
  return conflict::Resolution::open;
}

/// Waits until the conflict of `table` reads as resolved, or `limit` passed.
bool wait_until_resolved(IntegrationTest& test, const std::string& table, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (status_of(test.conflicts(), table) != conflict::Resolution::resolved) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "reconcile --apply resolves the conflicts of the tables it made identical",
                 "[integration][reconcile]") {
  const auto database = fresh_database("resolution");
  auto& proxy = start_proxy();
  const auto endpoint = through_proxy(database);
  check_succeeded(psql(endpoint, "CREATE TABLE patients (id int PRIMARY KEY, mrn text); "
                                 "CREATE TABLE visits (id int PRIMARY KEY, ward text)"));
  // The client has its answer before the mirror's COMMIT is read (docs/dual-write.md).
  REQUIRE(wait_until([&] { return backends().cloud.run_sql(database, "SELECT to_regclass('visits') IS NOT NULL") == "t\n"; },
                     10s));
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO patients VALUES (7, 'zq-mirror-mrn'); "
                                                       "INSERT INTO visits VALUES (3, 'zq-mirror-ward')"));
  check_succeeded(psql(endpoint, "INSERT INTO patients VALUES (7, 'zq-primary-mrn')"));
  check_succeeded(psql(endpoint, "INSERT INTO visits VALUES (3, 'zq-primary-ward')"));
  REQUIRE(latest_by_id(wait_for_conflicts(2, 10s)).size() == 2);
  CHECK(status_of(conflicts(), "patients") == conflict::Resolution::open);

  SECTION("while pgdual serve holds the log, through its inbox") {
    const auto repaired = reconcile(proxy, database, "patients");
    INFO(repaired.describe() << proxy.log());
    CHECK(repaired.exit_code == 0);
    CHECK(repaired.out.find("conflict log: 1 of 2 open conflicts resolved; pgdual serve holds the log") !=
          std::string::npos);
    CHECK(wait_until_resolved(*this, "patients", 10s));
    CHECK(status_of(conflicts(), "visits") == conflict::Resolution::open);
    CHECK(proxy.log_shows_within("appended 1 resolutions from the inbox", 10s));
  }
  SECTION("after pgdual serve stopped, directly") {
    REQUIRE(proxy.stop() == 0);
    const auto repaired = reconcile(proxy, database, "visits");
    INFO(repaired.describe());
    CHECK(repaired.exit_code == 0);
    CHECK(repaired.out.find("conflict log: 1 of 2 open conflicts resolved (appended to") != std::string::npos);
    CHECK(status_of(conflicts(), "visits") == conflict::Resolution::resolved);
    CHECK(status_of(conflicts(), "patients") == conflict::Resolution::open);
  }
  const auto report = pgdual({"conflicts", "report", "--log", proxy.conflict_log().string()});
  INFO(report.describe());
  CHECK(report.exit_code == 0);
  CHECK(report.out.find("zq-") == std::string::npos);
  CHECK(differing_tables(database, backends().onprem, backends().cloud).size() == 1);
}

}  // namespace pgdual::test
