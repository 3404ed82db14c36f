#pragma once

// What the tests of mirror.mode = "wal" through pgdual share: a database fresh on both servers, the
// same tables made on both directly, and pgdual in front.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/wal_names.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/wal_helpers.h"

namespace pgdual::test {

/// One wal-mode test: pgdual in wal mode, its slot and apply as the servers' superuser. The mirror
/// is the shared cloud server, or one of the test's own that it may crash or freeze.
class WalModeTest : public IntegrationTest {
 protected:
  ~WalModeTest() {
    if (started_) static_cast<void>(proxy().stop());
    dropper_.reset();  // once pgdual's walsender is gone
    if (own_mirror_) keep_for_failure_report("own mirror's server log", own_mirror_->log());
  }

  static ProxySettings wal_settings() {
    auto settings = default_settings();
    const auto superuser = backends().onprem.superuser();
    settings.users.push_back({superuser.user, superuser.password});
    settings.mirror_lines = "mode = \"wal\"\nreplication_user = \"" + superuser.user + "\"\n";
    return settings;
  }

  /// The database, labelled `label`, with `schema` run on both servers, then pgdual.
  void start(std::string_view label, const std::string& schema, const ProxySettings& settings = wal_settings()) {
    database_ = fresh_database(label);
    on_both(schema);
    start_pgdual(settings);
  }

  /// start() in a database nobody ran `pgdual init` for: its first session sets it up.
  void start_without_init(std::string_view label, const std::string& schema) {
    database_ = database_without_init(label);
    on_both(schema);
    start_pgdual(wal_settings());
  }

  /// start() with a mirror server of the test's own in place of the shared cloud server.
  void start_with_own_mirror(std::string_view label, const std::string& schema,
                             ProxySettings settings = wal_settings()) {
    auto& server = own_mirror_.emplace("cloud-" + std::string{label});
    server.create_role(kAppUser, kAppPassword);
    database_ = fresh_database(label);
    server.create_database(database_, kAppUser);
    settings.cloud_port = server.port();
    run_pgdual_init(database_, settings);
    on_both(schema);
    start_pgdual(settings);
  }

  /// pgbench's tables at scale 1: made on both servers directly (wal mode carries no DDL it did not
  /// run), then filled through pgdual.
  void make_pgbench_tables() {
    constexpr auto kLimit = std::chrono::seconds{120};
    for (const auto* server : {&backends().onprem, &backends().cloud}) {
      check_succeeded(run_client({pg_program("pgbench"), "--initialize", "--init-steps=dtp", "--scale=1"},
                                 server->superuser(database_), kLimit));
    }
    on_both("GRANT ALL ON ALL TABLES IN SCHEMA public TO app");
    check_succeeded(
        run_client({pg_program("pgbench"), "--initialize", "--init-steps=g", "--scale=1"}, endpoint_, kLimit));
  }

  void on_both(const std::string& sql) const {
    static_cast<void>(on_primary(sql));
    static_cast<void>(on_mirror(sql));
  }

  [[nodiscard]] std::string on_mirror(const std::string& sql) const { return mirror().run_sql(database_, sql); }
  [[nodiscard]] std::string on_primary(const std::string& sql) const {
    return backends().onprem.run_sql(database_, sql);
  }

  /// The tables of the database whose rows differ between the primary and the mirror.
  [[nodiscard]] std::vector<std::string> differing() const {
    return differing_tables(database_, backends().onprem, mirror());
  }

  /// Requires both servers' tables to be identical now, with no wait: the writes were acknowledged.
  void check_identical() const {
    const auto tables = differing();
    INFO("differing tables:\n" << lines(tables));
    CHECK(tables.empty());
  }

  /// How long until both servers' tables are identical, polled up to `limit`; nullopt when they
  /// still differ then.
  [[nodiscard]] std::optional<std::chrono::milliseconds> wait_until_identical(std::chrono::milliseconds limit) const {
    using std::chrono::steady_clock;
    const auto start = steady_clock::now();
    for (;;) {
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - start);
      if (differing().empty()) return waited;
      if (waited > limit) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds{200});
    }
  }

  /// Waits up to `limit` until the mirror has scanned `table` at least `reads` times: reads it
  /// served, where the apply scans nothing (it only inserts, or nothing is written). A backend's
  /// counts reach the statistics by its exit at the latest. Returns the last count seen.
  [[nodiscard]] long wait_for_mirror_scans(const std::string& table, long reads, std::chrono::milliseconds limit) const {
    long scans = 0;
    static_cast<void>(wait_until(
        [&] {
          scans = std::stol(on_mirror("SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) FROM "
                                      "pg_stat_user_tables WHERE relname = '" + table + "'"));
          return scans >= reads;
        },
        limit));
    return scans;
  }

  static std::string lines(const std::vector<std::string>& items) {
    std::string all;
    for (const auto& item : items) all += item + "\n";
    return all;
  }

  /// The mirror pgdual applies to: the test's own when it has one.
  [[nodiscard]] const PgCluster& mirror() const { return own_mirror_ ? *own_mirror_ : backends().cloud; }
  [[nodiscard]] const std::string& database() const { return database_; }
  [[nodiscard]] const Endpoint& endpoint() const { return endpoint_; }

 private:
  void start_pgdual(const ProxySettings& settings) {
    dropper_.emplace(backends().onprem, conflict::slot_name_for(database_));
    start_proxy(settings);
    started_ = true;
    endpoint_ = through_proxy(database_);
  }

  std::optional<PgCluster> own_mirror_;
  std::string database_;
  Endpoint endpoint_;
  bool started_ = false;
  std::optional<SlotDropper> dropper_;
};

}  // namespace pgdual::test
