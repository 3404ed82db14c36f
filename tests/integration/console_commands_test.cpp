// The console's commands on pgdual itself, through psql: SHOW VERSION and SHOW HELP, KILL of a
// client session, SHUTDOWN.
#include <catch2/catch.hpp>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

/// psql on the console: unaligned, tuples only, so each row is one line of |-separated columns.
RunResult console(IntegrationTest& test, const std::string& command) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command},
                    test.through_proxy("pgdual"), 60s);
}

ProxyProcess& start_with_admin(IntegrationTest& test) {
  auto settings = test.default_settings();
  settings.extra = "\n[admin]\nusers = [\"app\"]\n";
  return test.start_proxy(settings);
}

/// The id SHOW SESSIONS gives the one session of the app user in `database`; empty if none.
std::string session_id_in(IntegrationTest& test, const std::string& database) {
  const auto sessions = console(test, "SHOW SESSIONS");
  check_succeeded(sessions);
  std::istringstream lines{sessions.out};
  for (std::string line; std::getline(lines, line);) {
    if (line.find("|app|" + database + "|") != std::string::npos) return line.substr(0, line.find('|'));
  }
  return {};
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "SHOW VERSION says what pgdual --version says, SHOW HELP lists every command",
                 "[integration][admin][console]") {
  start_with_admin(*this);
  const auto version = console(*this, "SHOW VERSION");
  check_succeeded(version);
  const auto expected = run_client({PGDUAL_BINARY, "--version"}, through_proxy("pgdual"), 10s);
  check_succeeded(expected);
  CHECK(version.out == expected.out);

  CHECK(console(*this, "SHOW CONFIG").out.find("metrics.health_lag_seconds|30\n") != std::string::npos);

  const auto help = console(*this, "show help;");
  check_succeeded(help);
  for (const auto* row : {"SHOW BACKENDS|", "SHOW VERSION|pgdual's version\n", "SHOW HELP|", "KILL id|",
                          "SHUTDOWN|shuts pgdual down gracefully, as SIGTERM\n", "RESUME APPLY database|"}) {
    INFO(row);
    CHECK(help.out.find(row) != std::string::npos);
  }
}

TEST_CASE_METHOD(IntegrationTest, "KILL ends a client session with 57P01, and an unknown id is an error naming it",
                 "[integration][admin][console]") {
  const auto database = distinguishable_database(*this, "kill");
  auto& proxy = start_with_admin(*this);
  // A psql that reads, stays idle for 3 s, then reads again: its second read meets the FATAL.
  TempDir output{"pgdual-kill"};
  ProcessOptions options;
  options.env = through_proxy(database).libpq_env();
  Subprocess victim{{pg_program("psql"), "-X", "-A", "-t", "-v", "VERBOSITY=verbose", "-c", kWhereAmI, "-c",
                     "\\! sleep 3", "-c", "SELECT 'never'"},
                    options, output.path() / "out", output.path() / "err"};
  for (int attempt = 0; attempt < 100 && read_file(output.path() / "out").empty(); ++attempt) {
    std::this_thread::sleep_for(20ms);
  }
  const auto id = session_id_in(*this, database);
  REQUIRE_FALSE(id.empty());

  check_succeeded(console(*this, "KILL " + id));
  REQUIRE(victim.wait_for(10s).has_value());
  const auto out = read_file(output.path() / "out");
  const auto err = read_file(output.path() / "err");
  INFO("psql stdout: " << out << "\npsql stderr: " << err);
  CHECK(out == "onprem\n");
  CHECK(err.find("FATAL:  57P01: terminating connection due to administrator command") != std::string::npos);
  CHECK(session_id_in(*this, database).empty());
  CHECK(client_of(proxy, database).query_value(kWhereAmI) == "onprem");  // others go on

  const auto unknown = run_client({pg_program("psql"), "-X", "-v", "VERBOSITY=verbose", "-c", "KILL 999999"},
                                  through_proxy("pgdual"), 60s);
  CHECK(unknown.exit_code != 0);
  CHECK(unknown.err.find("ERROR:  42704: no client session 999999") != std::string::npos);
  const auto not_a_number = console(*this, "KILL everyone");
  CHECK(not_a_number.exit_code != 0);
  CHECK(not_a_number.err.find("KILL takes a session id") != std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "SHUTDOWN answers, then pgdual shuts down as on SIGTERM and exits 0",
                 "[integration][admin][console]") {
  const auto database = distinguishable_database(*this, "shutdown");
  auto& proxy = start_with_admin(*this);
  auto app = client_of(proxy, database);
  REQUIRE(app.query_value(kWhereAmI) == "onprem");

  const auto shutdown = console(*this, "SHUTDOWN");
  INFO(shutdown.describe());
  CHECK(shutdown.exit_code == 0);
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (proxy.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  CHECK_FALSE(proxy.running());
  CHECK(proxy.stop() == 0);
  CHECK_THROWS(app.query_value(kWhereAmI));
  CHECK(proxy.log().find("asked pgdual to shut down") != std::string::npos);
  CHECK(proxy.log().find("info shut down\n") != std::string::npos);
}

}  // namespace pgdual::test
