// The runbook of docs/read-ramp.md, step by step, through psql on the admin console: raising the
// ramp, the refusals that guard it (open conflicts, a mirror out of step) and FORCE, pulling back
// by SET and for good by RELOAD, and reconcile clearing the way again.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 120s;
constexpr const char* kAdmins = "\n[admin]\nusers = [\"app\"]\n";

/// psql on the console, as an operator types it.
RunResult console(IntegrationTest& test, const std::string& command) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command},
                    test.through_proxy("pgdual"), kClientTimeout);
}

bool says(const RunResult& result, const std::string& text) {
  return result.out.find(text) != std::string::npos || result.err.find(text) != std::string::npos;
}

/// How many of `reads` reads a new session of `proxy` gets from the cloud.
int cloud_reads(const ProxyProcess& proxy, const std::string& database, int reads) {
  auto client = client_of(proxy, database);
  int on_cloud = 0;
  for (int read = 0; read < reads; ++read) on_cloud += client.query_value(kWhereAmI) == "cloud" ? 1 : 0;
  return on_cloud;
}

void write_read_percent(ProxySettings settings, const ProxyProcess& proxy, const std::string& percent) {
  settings.conflict_log = proxy.conflict_log().string();
  settings.routing = "read_percent = " + percent + "\n";
  write_file(proxy.config_file(), proxy_config_text(settings, proxy.port()));
}

RunResult reconcile(const ProxyProcess& proxy, const std::string& database, const std::string& table) {
  return run({PGDUAL_BINARY, "reconcile", "--config", proxy.config_file().string(), "--database", database, "--table",
              table, "--apply"},
             {}, kClientTimeout);
}

/// SET read_percent = N until it goes through (the sink takes reconcile's resolutions from its
/// inbox once a second), for up to `limit`.
RunResult set_once_allowed(IntegrationTest& test, const std::string& percent, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto result = console(test, "SET read_percent = " + percent);
    if (result.exit_code == 0 || std::chrono::steady_clock::now() >= deadline) return result;
    std::this_thread::sleep_for(200ms);
  }
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "Runbook: the ramp goes up step by step, comes back by SET and by RELOAD, and is "
                                  "refused while a conflict is open unless FORCE",
                 "[integration][admin][runbook]") {
  const auto database = distinguishable_database(*this, "runbook");
  auto settings = default_settings();
  settings.extra = kAdmins;
  auto& proxy = start_proxy(settings);
  auto app = client_of(proxy, database);
  app.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)");

  // Before the first step: the cloud holds the same data.
  const auto verified = run({PGDUAL_BINARY, "verify", "--config", proxy.config_file().string(), "--database", database,
                             "--table", "notes"},
                            {}, kClientTimeout);
  INFO(verified.describe());
  CHECK(verified.exit_code == 0);

  // Raise the share step by step: each SET says what it changed.
  const std::vector<std::pair<std::string, std::string>> steps{{"0", "1"}, {"1", "5"}, {"5", "25"}, {"25", "100"}};
  for (const auto& [from, to] : steps) {
    const auto raised = console(*this, "SET read_percent = " + to + ";");
    INFO(raised.describe());
    check_succeeded(raised);
    CHECK(says(raised, "NOTICE:  read_percent " + from + " -> " + to + "\n"));
  }
  CHECK(cloud_reads(proxy, database, 20) == 20);

  // Pulling back at once, then for good: the file says 0, and a RELOAD brings the live ramp there
  // whatever a SET made it since.
  check_succeeded(console(*this, "SET read_percent = 0"));
  CHECK(cloud_reads(proxy, database, 20) == 0);
  check_succeeded(console(*this, "SET read_percent = 10"));
  const auto pulled_back = console(*this, "RELOAD");
  INFO(pulled_back.describe());
  check_succeeded(pulled_back);
  CHECK(says(pulled_back, "read_percent 10 -> 0 (from the file)"));
  CHECK(cloud_reads(proxy, database, 20) == 0);
  CHECK(says(console(*this, "RELOAD"), "read_percent 0, unchanged"));

  // A conflict: a row the cloud has and the primary has not.
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO notes VALUES (1, 'zq-cloud-only')"));
  app.execute("INSERT INTO notes VALUES (1, 'zq-primary')");
  REQUIRE(wait_for_conflicts(1, 10s).size() == 1);

  const auto refused = console(*this, "SET read_percent = 10");
  INFO(refused.describe());
  CHECK(refused.exit_code != 0);
  CHECK(says(refused, "ERROR:  read_percent not raised to 10: 1 open conflict in the conflict log; "
                      "SET read_percent = 10 FORCE raises it anyway"));
  CHECK(cloud_reads(proxy, database, 20) == 0);
  check_succeeded(console(*this, "SET read_percent = 0"));  // lowering, or staying, is never refused

  write_read_percent(settings, proxy, "50");
  const auto file_refused = console(*this, "RELOAD");
  INFO(file_refused.describe());
  check_succeeded(file_refused);
  CHECK(says(file_refused, "read_percent stays 0: the file's 50 is refused: 1 open conflict in the conflict log"));
  CHECK(cloud_reads(proxy, database, 20) == 0);
  write_read_percent(settings, proxy, "0");

  const auto forced = console(*this, "SET read_percent = 100 FORCE");
  INFO(forced.describe());
  check_succeeded(forced);
  CHECK(says(forced, "read_percent 0 -> 100, forced past: 1 open conflict in the conflict log"));
  CHECK(cloud_reads(proxy, database, 20) == 20);
  check_succeeded(console(*this, "SET read_percent = 0"));

  // Reviewed and repaired: reconcile resolves the conflict, and the ramp may go up again.
  const auto repaired = reconcile(proxy, database, "notes");
  INFO(repaired.describe());
  CHECK(repaired.exit_code == 0);
  const auto allowed = set_once_allowed(*this, "10", 10s);
  INFO(allowed.describe() << proxy.log());
  check_succeeded(allowed);
  CHECK(says(allowed, "read_percent 0 -> 10"));
  CHECK(proxy.log().find("zq-") == std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "Runbook: in statement mode the ramp is not raised while the mirror is unreachable",
                 "[integration][admin][runbook]") {
  const auto database = distinguishable_database(*this, "runbook_down");
  PgCluster cloud{"cloud-down"};
  cloud.create_role(kAppUser, kAppPassword);
  cloud.create_database(database, kAppUser);
  auto settings = default_settings();
  settings.extra = kAdmins;
  settings.cloud_port = cloud.port();
  auto& proxy = start_proxy(settings);
  auto app = client_of(proxy, database);
  app.execute("CREATE TABLE notes (id int PRIMARY KEY)");

  cloud.shut_down();
  app.execute("INSERT INTO notes VALUES (1)");  // the session finds the mirror gone
  const auto refused = console(*this, "SET read_percent = 5");
  INFO(refused.describe() << proxy.log());
  CHECK(refused.exit_code != 0);
  CHECK(says(refused, "the mirror is unreachable: 1 of 1 sessions are reconnecting to it"));
  const auto forced = console(*this, "SET read_percent = 5 FORCE");
  check_succeeded(forced);
  CHECK(says(forced, "forced past:"));
}

}  // namespace pgdual::test
