// /health under real faults of the mirror, in mirror.mode = "wal": "lagging" while the test's own
// mirror server is frozen (SIGSTOP) as writes go on, "degraded" once it is stopped.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = 30s;

class HealthTest : public WalModeTest {
 protected:
  /// wal mode with an own mirror, writes answered after 300 ms at most, "lagging" beyond 1 s.
  void start_health(std::string_view label) {
    auto settings = wal_settings();
    settings.mirror_timeout_ms = 300;
    metrics_port_ = free_loopback_port();
    settings.extra = "\n[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port_) +
                     "\nhealth_lag_seconds = 1\n";
    start_with_own_mirror(label, "CREATE TABLE notes (id serial PRIMARY KEY); GRANT ALL ON notes, notes_id_seq TO app;",
                          settings);
    REQUIRE(wait_until([&] { return write().exit_code == 0; }, kLimit));
  }

  /// The status line, then the body.
  [[nodiscard]] std::string health() const { return http_get(metrics_port_, "/health").out; }

  [[nodiscard]] RunResult write() const {
    return run_client({pg_program("psql"), "-X", "-c", "INSERT INTO notes DEFAULT VALUES"}, endpoint(), kLimit);
  }

  /// Writes on, one by one, until /health starts with `prefix` or kLimit passes; the last answer.
  std::string write_until_health(const std::string& prefix) const {
    std::string last;
    static_cast<void>(wait_until(
        [&] {
          static_cast<void>(write());
          last = health();
          return last.starts_with(prefix);
        },
        kLimit));
    return last;
  }

 private:
  std::uint16_t metrics_port_ = 0;
};

}  // namespace

TEST_CASE_METHOD(HealthTest, "/health: lagging with the figures while the mirror is frozen, degraded once it is down",
                 "[integration][health]") {
  start_health("health");
  const auto healthy = write_until_health("200\n{\"status\":\"ok\"");
  INFO(healthy);
  REQUIRE(healthy.starts_with("200\n{\"status\":\"ok\",\"reason\":\"\""));

  {
    FrozenServer frozen{mirror()};
    const auto lagging = write_until_health("200\n{\"status\":\"lagging\"");
    INFO(lagging);
    CHECK(lagging.starts_with("200\n{\"status\":\"lagging\",\"reason\":\"the WAL mirror of database " + database() +
                              " is "));
    CHECK(lagging.find("bytes) behind, more than metrics.health_lag_seconds 1\"") != std::string::npos);
    frozen.thaw();
  }
  const auto caught_up = write_until_health("200\n{\"status\":\"ok\"");
  INFO(caught_up);
  CHECK(caught_up.starts_with("200\n{\"status\":\"ok\""));

  mirror().shut_down();
  const auto degraded = write_until_health("200\n{\"status\":\"degraded\"");
  INFO(degraded);
  CHECK(degraded.starts_with("200\n{\"status\":\"degraded\",\"reason\":\"the WAL mirror of database " + database() +
                             " is failing: "));
  mirror().restart();
  CHECK(write_until_health("200\n{\"status\":\"ok\"").starts_with("200\n{\"status\":\"ok\""));
}

}  // namespace pgdual::test

namespace pgdual::test {

TEST_CASE_METHOD(IntegrationTest, "/health in statement mode: degraded while sessions cannot reach the mirror",
                 "[integration][health]") {
  const auto database = fresh_database("health_statement");
  const auto metrics_port = free_loopback_port();
  auto settings = default_settings();
  settings.cloud_port = free_loopback_port();  // nothing listens there: the mirror is unreachable
  settings.extra = "\n[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port) + "\n";
  start_proxy(settings);
  CHECK(http_get(metrics_port, "/health").out.starts_with("200\n{\"status\":\"ok\""));  // no session knows yet

  TempDir output{"pgdual-health"};
  ProcessOptions options;
  options.env = through_proxy(database).libpq_env();
  Subprocess client{{pg_program("psql"), "-X", "-c", "SELECT 1", "-c", "\\! sleep 20"}, options,
                    output.path() / "out", output.path() / "err"};
  std::string health;
  static_cast<void>(wait_until(
      [&] {
        health = http_get(metrics_port, "/health").out;
        return health.starts_with("200\n{\"status\":\"degraded\"");
      },
      15s));
  INFO(health << read_file(output.path() / "err"));
  CHECK(health.starts_with("200\n{\"status\":\"degraded\",\"reason\":\"1 session is reconnecting to the mirror\""));
}

}  // namespace pgdual::test
