// `pgdual sync` with real servers: a live database of a few million rows copied onto an empty
// server while pgbench writes through pgdual and another client writes straight to the primary;
// a sync interrupted, then killed, half-way and run again; a mirror holding what the sync did not
// put there, refused and then, told --force, emptied and copied.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <iostream>
#include <string>

#include "tests/integration/sync_fixture.h"

namespace pgdual::test {
namespace {

constexpr auto kSyncLimit = 600s;

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

/// The value of the /metrics sample `series`, e.g. `pgdual_sync_state{database="x"}`; "" when absent.
std::string metric(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return {};
  const auto from = at + series.size() + 2;
  return metrics.substr(from, metrics.find('\n', from) - from);
}

}  // namespace

TEST_CASE_METHOD(SyncTest, "pgdual sync copies a live database of millions of rows onto an empty server while "
                           "clients write through pgdual (a new table too) and straight to the primary; both end "
                           "identical",
                 "[integration][sync]") {
  start_sync("sync_live", 20, true);
  const TempDir dir{"sync-live"};
  auto through_pgdual = write_through_pgdual(dir, 25s);
  auto direct = write_directly(dir, 25s);
  // pgdual init found the cloud's database empty: serve applies nothing there until the sync.
  REQUIRE(wait_until([&] { return contains(http_get(metrics_port(), "/health").out, "waits for pgdual sync"); }, 30s));
  const auto backends = run_client({pg_program("psql"), "-X", "-A", "-t", "-c", "SHOW BACKENDS"},
                                   proxy().endpoint(kAppUser, kAppPassword, "pgdual"), 30s);
  CHECK(contains(backends.out, "not in sync: " + database() + " waiting for pgdual sync"));

  const auto began = std::chrono::steady_clock::now();
  auto sync = start_sync_command(dir, "live", {"--jobs", "2"});
  // A table made through pgdual after the copy's point (while the rows are copied, as a rule)
  // reaches the mirror through the stream, not the dump.
  REQUIRE(wait_until([&] { return past_the_copy_point(); }, 120s));
  check_succeeded(run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c",
                              "CREATE TABLE referrals (id bigserial PRIMARY KEY, note text)", "-c",
                              "INSERT INTO referrals (note) VALUES ('made during the sync')"},
                             endpoint(), 120s));
  bool saw_syncing = false;
  std::optional<int> exit_code;
  while (!(exit_code = sync.wait_for(200ms)) && std::chrono::steady_clock::now() - began < kSyncLimit) {
    saw_syncing = saw_syncing || contains(http_get(metrics_port(), "/health").out, R"("status":"syncing")");
  }
  const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  const auto out = read_file(dir.path() / "sync-live.out");
  const auto err = read_file(dir.path() / "sync-live.err");
  INFO("sync's stdout:\n" << out << "\nits stderr:\n" << err);
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == 0);
  CHECK(contains(out, "schema, rows, sequences and large objects"));
  CHECK(contains(out, ": both servers hold the same database"));
  CHECK(contains(err, R"("phase":"copying")"));  // not a terminal: JSON progress lines
  CHECK(saw_syncing);

  finish_writers(dir, {&through_pgdual, &direct});
  check_servers_identical();
  CHECK(conflicts().empty());  // nothing was applied onto the empty mirror, so nothing failed there
  const auto metrics = http_get(metrics_port(), "/metrics").out;
  const auto label = "{database=\"" + database() + "\"}";
  CHECK(metric(metrics, "pgdual_sync_state" + label) == "4");
  CHECK(std::stol(metric(metrics, "pgdual_sync_rows_copied" + label)) > 2'000'000);
  // COMMITs through pgdual did not wait for the mirror while it was no copy yet, and did after.
  CHECK(std::stol(metric(metrics, "pgdual_wal_acks_total{result=\"syncing\"}")) > 0);
  CHECK(std::stol(metric(metrics, "pgdual_wal_acks_total{result=\"applied\"}")) > 0);
  const auto size = on_primary("SELECT pg_size_pretty(pg_database_size(current_database())) || ', ' || "
                               "(SELECT sum(n_live_tup) FROM pg_stat_user_tables) || ' rows'");
  std::cerr << "pgdual sync of " << size.substr(0, size.find('\n')) << " took " << took
            << " s under writes, verify included\n";
}

TEST_CASE_METHOD(SyncTest, "A sync interrupted, then killed, half-way is run again: it starts over, and both "
                           "servers end identical",
                 "[integration][sync]") {
  start_sync("sync_again", 5);
  const TempDir dir{"sync-again"};
  auto through_pgdual = write_through_pgdual(dir, 40s);
  auto direct = write_directly(dir, 40s);
  const auto copying = [&] { return sync_record().starts_with("copying|") && !sync_record().starts_with("copying|0"); };

  auto interrupted = start_sync_command(dir, "interrupted", {"--jobs", "1"});
  REQUIRE(wait_until(copying, 120s));
  interrupted.send_signal(SIGINT);
  const auto interrupted_code = interrupted.wait_for(60s);
  REQUIRE(interrupted_code.has_value());
  CHECK(*interrupted_code == 130);
  CHECK(contains(read_file(dir.path() / "sync-interrupted.out"), "interrupted: the mirror is left half-copied"));
  CHECK(on_primary("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" +
                   conflict::slot_name_for(database()) + "'") == "0\n");

  auto killed = start_sync_command(dir, "killed", {"--jobs", "1"});
  REQUIRE(wait_until(copying, 120s));
  killed.send_signal(SIGKILL);
  REQUIRE(killed.wait_for(10s).has_value());

  auto again = start_sync_command(dir, "again", {"--jobs", "2"});
  const auto exit_code = again.wait_for(kSyncLimit);
  const auto out = read_file(dir.path() / "sync-again.out");
  INFO(out << read_file(dir.path() / "sync-again.err"));
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == 0);
  CHECK(contains(out, "starting over"));
  CHECK(contains(out, ": both servers hold the same database"));
  finish_writers(dir, {&through_pgdual, &direct});
  check_servers_identical();
}

TEST_CASE_METHOD(SyncTest, "A mirror holding rows the sync did not put there is refused, untouched; with --force it "
                           "is emptied and copied. No swap of roles while a database is not in sync",
                 "[integration][sync]") {
  start_sync("sync_force", 1);
  const auto ctl = [&](const std::string& command) {
    return run({PGDUAL_BINARY, "ctl", "--config", proxy().config_file().string(), command}, {}, 60s);
  };
  check_succeeded(ctl("START APPLY " + database()));
  REQUIRE(wait_until([&] { return contains(ctl("SHOW WAL").out, "|waiting|"); }, 30s));
  check_succeeded(ctl("PAUSE WRITES"));
  const auto swap = ctl("SWAP ROLES");
  check_succeeded(ctl("RESUME WRITES"));
  CHECK(swap.exit_code == 1);
  CHECK(contains(swap.err, "is not in sync on the mirror yet (pgdual sync)"));

  static_cast<void>(mirror().run_sql(database(), "CREATE TABLE stray (id int); INSERT INTO stray VALUES (7)"));
  const TempDir dir{"sync-force"};
  auto refused = start_sync_command(dir, "refused");
  const auto refused_code = refused.wait_for(120s);
  const auto refusal = read_file(dir.path() / "sync-refused.err");
  INFO(refusal);
  REQUIRE(refused_code.has_value());
  CHECK(*refused_code == 1);
  CHECK(contains(refusal, "holds what pgdual sync did not put there (relation stray)"));
  CHECK(contains(refusal, "--force"));
  CHECK(mirror().run_sql(database(), "SELECT id FROM stray") == "7\n");

  auto forced = start_sync_command(dir, "forced", {"--force"});
  const auto forced_code = forced.wait_for(kSyncLimit);
  INFO(read_file(dir.path() / "sync-forced.out") << read_file(dir.path() / "sync-forced.err"));
  REQUIRE(forced_code.has_value());
  CHECK(*forced_code == 0);
  CHECK(mirror().run_sql(database(), "SELECT to_regclass('stray') IS NULL") == "t\n");
  check_servers_identical();
}

}  // namespace pgdual::test
