// The admin console through psql, and configuration reloads (RELOAD, SIGHUP), with the read
// steering they change observed on a session that stays connected throughout.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 60s;
constexpr const char* kAdmins = "\n[admin]\nusers = [\"app\"]\n";

/// psql on the console: unaligned, tuples only, so each row is one line of |-separated columns.
RunResult console(IntegrationTest& test, const std::string& command) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command},
                    test.through_proxy("pgdual"), kClientTimeout);
}

/// Starts pgdual with kAppUser an admin, and opens an app session whose reads go to the primary.
jobs::PgClient session_reading_primary(IntegrationTest& test, ProxySettings& settings, const std::string& database) {
  settings.extra = kAdmins;
  auto client = client_of(test.start_proxy(settings), database);
  REQUIRE(client.query_value(kWhereAmI) == "onprem");
  return client;
}

/// Reads until one is served by `server`, for up to five seconds.
bool soon_served_by(jobs::PgClient& client, const std::string& server) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (client.query_value(kWhereAmI) == server) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

bool says(const RunResult& result, const std::string& text) {
  return result.out.find(text) != std::string::npos || result.err.find(text) != std::string::npos;
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "The admin console shows pgdual's state and sets read_percent live",
                 "[integration][admin]") {
  const auto database = distinguishable_database(*this, "admin");
  auto settings = default_settings();
  auto app = session_reading_primary(*this, settings, database);
  auto& proxy = this->proxy();

  const auto backends_shown = console(*this, "SHOW BACKENDS");
  check_succeeded(backends_shown);
  CHECK(says(backends_shown, "onprem|primary|127.0.0.1:"));
  CHECK(says(backends_shown, "|connected|1|"));
  CHECK(says(backends_shown, "cloud|mirror|127.0.0.1:"));
  CHECK(says(backends_shown, "|0%\n"));

  const auto sessions = console(*this, "show sessions;");
  check_succeeded(sessions);
  CHECK(says(sessions, "|app|" + database + "|pgdual|127.0.0.1:"));
  CHECK(says(sessions, "|connected|primary or mirror"));

  check_succeeded(console(*this, "SET read_percent = 100"));
  CHECK(soon_served_by(app, "cloud"));
  const auto config = console(*this, "SHOW CONFIG");
  CHECK(says(config, "routing.read_percent|100%"));
  check_succeeded(console(*this, "SET read_percent TO 0"));
  CHECK(soon_served_by(app, "onprem"));

  const auto stats = console(*this, "SHOW STATS");
  check_succeeded(stats);
  CHECK(says(stats, "sessions|"));
  CHECK(says(stats, "read_brake|released"));
  check_succeeded(console(*this, "SHOW CONFLICTS"));

  const auto unknown = console(*this, "SELECT 1");
  CHECK(unknown.exit_code != 0);
  CHECK(says(unknown, "not an admin console command"));
  const auto out_of_range = console(*this, "SET read_percent = 150");
  CHECK(out_of_range.exit_code != 0);
  CHECK(says(out_of_range, "invalid value for parameter \"read_percent\": \"150\""));
  CHECK(proxy.log().find("read_percent 0 -> 100 by admin console user app") != std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "SET shadow_percent changes the share of shadow reads live, and SHOW CONFIG shows it",
                 "[integration][admin]") {
  const auto database = distinguishable_database(*this, "admin");
  auto settings = default_settings();
  auto app = session_reading_primary(*this, settings, database);
  auto& proxy = this->proxy();

  const auto defaults = console(*this, "SHOW CONFIG");
  check_succeeded(defaults);
  CHECK(says(defaults, "routing.shadow_percent|0%\n"));
  CHECK(says(defaults, "routing.shadow_max_in_flight|16\n"));
  CHECK(says(defaults, "routing.shadow_timeout_ms|2000\n"));
  CHECK(says(defaults, "brake.latency_ratio|10\n"));
  CHECK(says(defaults, "brake.p99_latency_ms|0\n"));

  const auto set = console(*this, "SET shadow_percent = 10");
  check_succeeded(set);
  CHECK(says(set, "shadow_percent 0 -> 10"));
  CHECK(says(console(*this, "SHOW CONFIG"), "routing.shadow_percent|10%\n"));
  CHECK(proxy.log().find("shadow_percent 0 -> 10 by admin console user app") != std::string::npos);
  // Shadow reads never change where a client's reads are answered.
  CHECK(app.query_value(kWhereAmI) == "onprem");

  const auto out_of_range = console(*this, "SET shadow_percent = 150");
  CHECK(out_of_range.exit_code != 0);
  CHECK(says(out_of_range, "invalid value for parameter \"shadow_percent\": \"150\"; it takes a number from 0 to 100"));
  const auto forced = console(*this, "SET shadow_percent = 20 FORCE");
  CHECK(forced.exit_code != 0);
  CHECK(says(forced, "SET shadow_percent takes no FORCE"));
  CHECK(says(console(*this, "SHOW CONFIG"), "routing.shadow_percent|10%\n"));

  // The brake leaves the shadow reads alone, and a SET read_percent too.
  check_succeeded(console(*this, "SET read_percent = 0"));
  CHECK(says(console(*this, "SHOW CONFIG"), "routing.shadow_percent|10%\n"));
}

TEST_CASE_METHOD(IntegrationTest, "RELOAD puts the file's shadow_percent in force over a SET, and says so",
                 "[integration][admin]") {
  const auto database = distinguishable_database(*this, "admin");
  auto settings = default_settings();
  auto app = session_reading_primary(*this, settings, database);
  auto& proxy = this->proxy();

  check_succeeded(console(*this, "SET shadow_percent = 25"));
  settings.conflict_log = proxy.conflict_log().string();
  settings.routing = "shadow_percent = 5\n";
  write_file(proxy.config_file(), proxy_config_text(settings, proxy.port()));
  const auto reloaded = console(*this, "RELOAD");
  check_succeeded(reloaded);
  CHECK(says(reloaded, "read_percent 0, unchanged"));
  CHECK(says(reloaded, "shadow_percent 25 -> 5 (from the file)"));
  CHECK(says(console(*this, "SHOW CONFIG"), "routing.shadow_percent|5%\n"));

  const auto again = console(*this, "RELOAD");
  check_succeeded(again);
  CHECK(says(again, "shadow_percent 5, unchanged"));

  // The file's 0 after a SET: the way to stop shadow reads for good.
  check_succeeded(console(*this, "SET shadow_percent = 50"));
  settings.routing = "shadow_percent = 0\nshadow_max_in_flight = 4\n";
  write_file(proxy.config_file(), proxy_config_text(settings, proxy.port()));
  const auto stopped = console(*this, "RELOAD");
  check_succeeded(stopped);
  CHECK(says(stopped, "shadow_percent 50 -> 0 (from the file)"));
  CHECK(says(stopped, "routing.shadow_max_in_flight"));
  CHECK(says(stopped, "take effect at the next start"));
  CHECK(says(console(*this, "SHOW CONFIG"), "routing.shadow_percent|0%\n"));
  CHECK(app.query_value(kWhereAmI) == "onprem");
}

TEST_CASE_METHOD(IntegrationTest, "Only the configured admins get into the console", "[integration][admin]") {
  start_proxy();
  const auto refused = console(*this, "SHOW BACKENDS");
  CHECK(refused.exit_code != 0);
  CHECK(says(refused, "may not use the admin console"));
}

TEST_CASE_METHOD(IntegrationTest, "SIGHUP and RELOAD apply a new read_percent without dropping sessions",
                 "[integration][admin]") {
  const auto database = distinguishable_database(*this, "admin");
  auto settings = default_settings();
  auto app = session_reading_primary(*this, settings, database);
  auto& proxy = this->proxy();

  settings.conflict_log = proxy.conflict_log().string();
  settings.routing = "read_percent = 100\n";
  write_file(proxy.config_file(), proxy_config_text(settings, proxy.port()));
  REQUIRE(::kill(proxy.pid(), SIGHUP) == 0);
  CHECK(soon_served_by(app, "cloud"));

  settings.routing = "read_percent = 0\n";
  write_file(proxy.config_file(), proxy_config_text(settings, proxy.port()));
  check_succeeded(console(*this, "RELOAD"));
  CHECK(soon_served_by(app, "onprem"));

  write_file(proxy.config_file(), "[routing]\nread_percent = 500\n");
  const auto refused = console(*this, "RELOAD");
  CHECK(refused.exit_code != 0);
  CHECK(says(refused, "configuration not reloaded"));
  CHECK(app.query_value(kWhereAmI) == "onprem");
  CHECK(proxy.running());
}

}  // namespace pgdual::test

namespace pgdual::test {

TEST_CASE_METHOD(IntegrationTest, "/metrics counts queries by backend in Prometheus text, /health says ok",
                 "[integration][admin][metrics]") {
  const auto database = distinguishable_database(*this, "admin");
  const auto metrics_port = free_loopback_port();
  auto settings = default_settings();
  settings.routing = "read_percent = 100\n";
  settings.extra = "\n[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port) + "\n";
  auto& proxy = start_proxy(settings);
  auto app = client_of(proxy, database);
  for (int read = 0; read < 5; ++read) REQUIRE(app.query_value(kWhereAmI) == "cloud");
  app.execute("CREATE TABLE notes (id int PRIMARY KEY)");
  CHECK_THROWS(app.execute("SELECT * FROM no_such_table"));

  const auto metrics = http_get(metrics_port, "/metrics");
  INFO(metrics.describe());
  REQUIRE(metrics.exit_code == 0);
  CHECK(metrics.out.starts_with("200\n"));
  // The read of a table no server has failed on the cloud, then on the primary, which answered it.
  CHECK(metrics.out.find("pgdual_queries_total{backend=\"cloud\",role=\"mirror\",kind=\"read\"} 5\n") !=
        std::string::npos);
  CHECK(metrics.out.find("pgdual_queries_total{backend=\"onprem\",role=\"primary\",kind=\"write\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.out.find("pgdual_errors_total{backend=\"cloud\",role=\"mirror\",class=\"42\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.out.find("pgdual_reads_total{served_by=\"mirror\"} 5\n") != std::string::npos);
  CHECK(metrics.out.find("pgdual_read_failovers_total 1\n") != std::string::npos);
  CHECK(metrics.out.find("pgdual_read_percent 100\n") != std::string::npos);
  CHECK(metrics.out.find("# TYPE pgdual_query_duration_seconds histogram\n") != std::string::npos);
  CHECK(metrics.out.find("zq") == std::string::npos);

  const auto health = http_get(metrics_port, "/health");
  INFO(health.describe());
  CHECK(health.out.starts_with("200\n{\"status\":\"ok\""));
}

}  // namespace pgdual::test
