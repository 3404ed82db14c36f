// A real conflict that names no table (a bare SELECT nextval through pgdual), which no reconcile
// can settle, closed by `pgdual conflicts resolve`: through the inbox while pgdual serve holds the
// log, directly once it stopped; and the report that lists it apart, with who resolved it and why.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 120s;

RunResult psql(const Endpoint& endpoint, const std::string& script) {
  return run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", script}, endpoint, kCommandTimeout);
}

RunResult pgdual(const std::vector<std::string>& words) {
  std::vector<std::string> argv{PGDUAL_BINARY};
  argv.insert(argv.end(), words.begin(), words.end());
  return run(argv, {}, kCommandTimeout);
}

RunResult resolve(const ProxyProcess& proxy, const std::string& id, const std::string& by = "dr.ops") {
  return pgdual({"conflicts", "resolve", "--config", proxy.config_file().string(), "--id", id, "--by", by,
                 "--reason", "INC-7: sequence checked on both servers"});
}

/// The latest record of conflict `id`.
conflict::ConflictRecord latest_of(const std::vector<conflict::ConflictRecord>& records, const std::string& id) {
  conflict::ConflictRecord latest;
  for (const auto& record : records) {
    if (record.id == id) latest = record;
  }
  REQUIRE(latest.id == id);
  return latest;
}

bool wait_until_resolved(IntegrationTest& test, const std::string& id, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (latest_of(test.conflicts(), id).resolution != conflict::Resolution::resolved) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "conflicts resolve closes a conflict naming no table, saying who and why",
                 "[integration][resolve]") {
  const auto database = fresh_database("resolve");
  auto& proxy = start_proxy();
  const auto endpoint = through_proxy(database);
  check_succeeded(psql(endpoint, "CREATE SEQUENCE invoice_numbers"));
  check_succeeded(psql(endpoint, "SELECT nextval('invoice_numbers')"));
  const auto records = wait_for_conflicts(1, 10s);
  REQUIRE(records.size() == 1);
  const auto id = records.front().id;
  CHECK(records.front().tables.empty());

  // No verification can settle it: reconcile leaves it open.
  const auto reconciled = pgdual({"reconcile", "--config", proxy.config_file().string(), "--database", database,
                                  "--apply"});
  INFO(reconciled.describe());
  CHECK(reconciled.out.find("conflict log: 0 of 1 open conflicts resolved") != std::string::npos);

  SECTION("while pgdual serve holds the log, through its inbox") {
    const auto resolved = resolve(proxy, id);
    INFO(resolved.describe() << proxy.log());
    CHECK(resolved.exit_code == 0);
    CHECK(resolved.out.find("conflict log: 1 conflict resolved; pgdual serve holds the log") != std::string::npos);
    CHECK(wait_until_resolved(*this, id, 10s));
    CHECK(proxy.log_shows_within("appended 1 resolutions from the inbox", 10s));
  }
  SECTION("after pgdual serve stopped, directly") {
    REQUIRE(proxy.stop() == 0);
    const auto resolved = resolve(proxy, id);
    INFO(resolved.describe());
    CHECK(resolved.exit_code == 0);
    CHECK(resolved.out.find("conflict log: 1 conflict resolved (appended to") != std::string::npos);
  }
  const auto latest = latest_of(conflicts(), id);
  CHECK(latest.resolution == conflict::Resolution::resolved);
  CHECK(latest.resolved_by == "dr.ops");
  CHECK(latest.resolution_note == "INC-7: sequence checked on both servers");

  const auto again = resolve(proxy, id);
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("pgdual conflicts resolve: " + id + ": already resolved") != std::string::npos);
  const auto unknown = resolve(proxy, "no-such-id");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("no-such-id: no conflict with this id") != std::string::npos);
  const auto nameless = pgdual({"conflicts", "resolve", "--config", proxy.config_file().string(), "--id", id,
                                "--reason", "checked"});
  CHECK(nameless.exit_code == 2);
  CHECK(nameless.err.find("--by NAME is required") != std::string::npos);

  const auto log = proxy.conflict_log().string();
  const auto open = pgdual({"conflicts", "report", "--log", log, "--status", "open"});
  INFO(open.describe());
  CHECK(open.exit_code == 0);
  CHECK(open.out.find(id) == std::string::npos);
  CHECK(open.out.find("No conflicts match.") != std::string::npos);
  const auto closed = pgdual({"conflicts", "report", "--log", log, "--status", "resolved"});
  INFO(closed.describe());
  CHECK(closed.out.find("Conflicts naming no table") != std::string::npos);
  CHECK(closed.out.find(id + "  nondeterministic") != std::string::npos);
  CHECK(closed.out.find("dr.ops       INC-7: sequence checked on both servers") != std::string::npos);
}

}  // namespace pgdual::test
