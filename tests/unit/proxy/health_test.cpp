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
        R"({"status":"ok","reason":"","lag_seconds":0.000,"sessions":3,"read_percent":10,"read_brake":"engaged",)"
        R"("wal_mirrors":[]})"
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
        R"({"status":"degraded","reason":"the WAL mirror of database lab is failing: the slot cannot be read on )"
        R"(the primary: Connection refused","lag_seconds":2.500,"sessions":0,"read_percent":0,)"
        R"("read_brake":"released","wal_mirrors":[)"
        R"({"database":"ward \"7\"","state":"catching_up","lag_bytes":4096,"lag_seconds":2.500,)"
        R"("retained_bytes":65536,"figures_age_seconds":1.000,"last_error":"","sync":"","sync_tables_done":0,)"
        R"("sync_tables_total":0,"sync_rows_copied":0,"sync_bytes_copied":0},)"
        R"({"database":"lab","state":"failing","lag_bytes":0,"lag_seconds":0.000,"retained_bytes":0,)"
        R"("figures_age_seconds":null,"last_error":"the slot cannot be read on the primary: Connection refused",)"
        R"("sync":"","sync_tables_done":0,"sync_tables_total":0,"sync_rows_copied":0,"sync_bytes_copied":0}]})"
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

TEST_CASE("/health says lagging, still 200, while a WAL mirror is behind beyond the bound, with the figures",
          "[unit][proxy][http]") {
  auto behind = mirror_of("ehr", WalMirrorState::catching_up);
  behind.lag.lag = 42500ms;
  behind.lag.lag_bytes = 123456;
  auto fine = mirror_of("lab", WalMirrorState::streaming);
  fine.lag.lag = 30s;  // at the bound is not beyond it
  const auto report = health_report({.wal_mirrors = {fine, behind}, .lag_bound = 30s});
  CHECK(report.healthy);
  CHECK(report.body.starts_with(
      R"({"status":"lagging","reason":"the WAL mirror of database ehr is 42.5 s (123456 bytes) behind, more than )"
      R"(metrics.health_lag_seconds 30","lag_seconds":42.500,)"));
  CHECK(health_report({.wal_mirrors = {behind}, .lag_bound = 60s}).body.starts_with(R"({"status":"ok","reason":"",)"));
}

TEST_CASE("/health says degraded, still 200, while the mirror is unreachable, over lagging; given up over both",
          "[unit][proxy][http]") {
  auto behind = mirror_of("ehr", WalMirrorState::catching_up);
  behind.lag.lag = 60s;
  CHECK(health_report({.sessions = 1, .sessions_reconnecting = 1})
            .body.starts_with(R"({"status":"degraded","reason":"1 session is reconnecting to the mirror",)"));
  const auto statement_mode = health_report({.sessions = 4, .sessions_reconnecting = 3});
  CHECK(statement_mode.healthy);
  CHECK(statement_mode.body.starts_with(
      R"({"status":"degraded","reason":"3 sessions are reconnecting to the mirror","lag_seconds":0.000,)"));
  auto failing = mirror_of("lab", WalMirrorState::failing);
  failing.status.problem = "the mirror cannot be reached";
  const auto both = health_report({.wal_mirrors = {behind, failing}, .lag_bound = 30s});
  CHECK(both.healthy);
  CHECK(both.body.starts_with(
      R"({"status":"degraded","reason":"the WAL mirror of database lab is failing: the mirror cannot be reached",)"));
  const auto given_up = health_report(
      {.wal_mirrors = {behind, failing, mirror_of("x", WalMirrorState::given_up)}, .lag_bound = 30s});
  CHECK_FALSE(given_up.healthy);
  CHECK(given_up.body.starts_with(R"({"status":"wal_mirror_given_up","reason":"the WAL mirror of database x is )"
                                  R"(given_up: ",)"));
}

TEST_CASE("/health says syncing, with the copy's progress, while pgdual sync has not brought a database in sync",
          "[unit][proxy][http]") {
  auto copying = mirror_of("ehr", WalMirrorState::copying);
  copying.progress.sync = SyncRecord{.state = SyncState::copying,
                                     .catch_up_to = 0,
                                     .tables_total = 12,
                                     .tables_done = 3,
                                     .rows_copied = 1000,
                                     .bytes_copied = 2000,
                                     .bytes_total = 9000};
  const auto report = health_report({.wal_mirrors = {copying, mirror_of("lab", WalMirrorState::streaming)}});
  CHECK(report.healthy);
  CHECK(report.body.starts_with(
      R"({"status":"syncing","reason":"pgdual sync is copying database ehr (3 of 12 tables copied); reads and )"
      R"(COMMITs do not use the mirror until it is in sync",)"));
  CHECK(report.body.find(R"("state":"copying")") != std::string::npos);
  CHECK(report.body.find(R"("sync":"copying","sync_tables_done":3,"sync_tables_total":12,"sync_rows_copied":1000,)"
                         R"("sync_bytes_copied":2000})") != std::string::npos);
  auto degraded = health_report({.wal_mirrors = {copying, mirror_of("lab", WalMirrorState::failing)}});
  CHECK(degraded.body.starts_with(R"({"status":"degraded",)"));
}

}  // namespace pgdual::proxy
