#include "proxy/admin/health.h"

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

WalMirrors::DatabaseProgress mirror_of(std::string database, WalMirrorState state) {
  WalMirrors::DatabaseProgress mirror;
  mirror.database = std::move(database);
  mirror.status.state = state;
  return mirror;
}

}  // namespace

TEST_CASE("/health without WAL mirrors says ok with an empty list", "[unit][proxy][http]") {
  const auto report = health_report({.sessions = 3, .read_percent = 10, .braked = true});
  CHECK(report.healthy);
  CHECK(report.body ==
        R"({"status":"ok","sessions":3,"read_percent":10,"read_brake":"engaged","wal_mirrors":[]})"
        "\n");
}

TEST_CASE("/health shows each database's WAL mirror, with its lag and how old the figures are",
          "[unit][proxy][http]") {
  const auto now = Clock::now();
  auto behind = mirror_of("ward \"7\"", WalMirrorState::catching_up);
  behind.lag.lag_bytes = 4096;
  behind.lag.lag = 2500ms;
  behind.lag.retained_bytes = 65536;
  behind.lag.read_at = now - 1s;
  auto failing = mirror_of("lab", WalMirrorState::failing);
  failing.status.problem = "the slot cannot be read on the primary: Connection refused";
  const auto report = health_report({.wal_mirrors = {behind, failing}, .now = now});
  CHECK(report.healthy);
  CHECK(report.body ==
        R"({"status":"ok","sessions":0,"read_percent":0,"read_brake":"released","wal_mirrors":[)"
        R"({"database":"ward \"7\"","state":"catching_up","lag_bytes":4096,"lag_seconds":2.500,)"
        R"("retained_bytes":65536,"figures_age_seconds":1.000,"last_error":""},)"
        R"({"database":"lab","state":"failing","lag_bytes":0,"lag_seconds":0.000,"retained_bytes":0,)"
        R"("figures_age_seconds":null,"last_error":"the slot cannot be read on the primary: Connection refused"}]})"
        "\n");
}

TEST_CASE("/health is unhealthy (503) while a database's WAL mirror is given up, not while one fails",
          "[unit][proxy][http]") {
  const auto report = health_report(
      {.wal_mirrors = {mirror_of("a", WalMirrorState::streaming), mirror_of("b", WalMirrorState::given_up)}});
  CHECK_FALSE(report.healthy);
  CHECK(report.body.starts_with(R"({"status":"wal_mirror_given_up",)"));
  CHECK(report.body.find(R"("database":"b","state":"given_up")") != std::string::npos);
  CHECK(health_report({.wal_mirrors = {mirror_of("a", WalMirrorState::failing)}}).healthy);
}

}  // namespace pgdual::proxy
