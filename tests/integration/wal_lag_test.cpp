// The WAL mirror's lag and the primary's disk, with two real servers: the lag pgdual shows while
// the mirror's apply is held up by a lock on the mirror, how it recovers, and the limit at which
// pgdual gives a database's slot up.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "conflict/wal_names.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_helpers.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kClientTimeout = 60s;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE t (id int PRIMARY KEY, note text);
CREATE TABLE big (id int PRIMARY KEY, filler text);
GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
)sql";

RunResult psql(const Endpoint& endpoint, const std::string& script) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", script}, endpoint,
                    kClientTimeout);
}


/// The value of the sample `series` (name and labels) in a /metrics text; nullopt when absent.
std::optional<double> sample_of(const std::string& metrics, const std::string& series) {
  std::istringstream lines{metrics};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

/// The |-separated columns of the first line of psql's unaligned output.
std::vector<std::string> columns_of(const std::string& output) {
  std::vector<std::string> columns;
  std::istringstream line{output.substr(0, output.find('\n'))};
  for (std::string column; std::getline(line, column, '|');) columns.push_back(column);
  if (!output.empty() && output.substr(0, output.find('\n')).ends_with('|')) columns.emplace_back();
  return columns;
}

/// A psql on the mirror, as its superuser, holding an exclusive lock on `table` in an open
/// transaction until release(): the apply of any change to the table waits behind it. Its backend
/// is found by its application_name and terminated, since it would not notice psql's end alone.
class MirrorLock {
 public:
  MirrorLock(const std::string& database, const std::string& table, const std::filesystem::path& dir)
      : database_{database}, name_{"pgdual-lag-test-lock-" + table} {
    ProcessOptions options;
    options.env = backends().cloud.superuser(database).libpq_env();
    options.env["PGAPPNAME"] = name_;
    const auto log = dir / (name_ + ".log");
    locker_.emplace(std::vector<std::string>{pg_program("psql"), "-X", "-q", "-c",
                                             "BEGIN; LOCK TABLE " + table +
                                                 " IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);"},
                    options, log, log);
    const bool held = wait_until([&] { return count("AND l.granted") == "1\n"; }, 10s);
    REQUIRE(held);
  }
  MirrorLock(const MirrorLock&) = delete;
  MirrorLock& operator=(const MirrorLock&) = delete;
  ~MirrorLock() {
    try {
      release();
    } catch (const std::exception& error) {
      WARN("could not release the mirror's lock: " << error.what());
    }
  }

  void release() {
    if (!locker_) return;
    static_cast<void>(backends().cloud.run_sql(
        database_, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + name_ + "'"));
    if (!locker_->wait_for(10s)) locker_->send_signal(SIGKILL);
    locker_.reset();
  }

 private:
  [[nodiscard]] std::string count(const std::string& condition) const {
    return backends().cloud.run_sql(
        database_, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '" +
                       name_ + "' AND l.mode = 'AccessExclusiveLock' AND l.relation IS NOT NULL " + condition);
  }

  std::string database_;
  std::string name_;
  std::optional<Subprocess> locker_;
};

/// A minimal wal-mode fixture of its own (wal_mode_test.cpp keeps its WalModeTest private): a
/// database with kSchema on both servers, pgdual in front in wal mode with its slot and apply as
/// the servers' superuser, /metrics and /health on a port of their own, and the app an admin.
class WalLagTest : public IntegrationTest {
 protected:
  ~WalLagTest() {
    if (started_) static_cast<void>(proxy().stop());
    dropper_.reset();  // once pgdual's walsender is gone
  }

  void start(std::string_view label, const std::string& mirror_lines, unsigned mirror_timeout_ms) {
    database_ = fresh_database(label);
    static_cast<void>(backends().onprem.run_sql(database_, std::string{kSchema}));
    static_cast<void>(backends().cloud.run_sql(database_, std::string{kSchema}));
    dropper_.emplace(backends().onprem, conflict::slot_name_for(database_));
    auto settings = default_settings();
    const auto superuser = backends().onprem.superuser();
    settings.users.push_back({superuser.user, superuser.password});
    settings.mirror_lines = "mode = \"wal\"\nreplication_user = \"" + superuser.user + "\"\n" + mirror_lines;
    settings.mirror_timeout_ms = mirror_timeout_ms;
    metrics_port_ = free_loopback_port();
    settings.extra = "\n[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port_) +
                     "\n\n[admin]\nusers = [\"app\"]\n";
    start_proxy(settings);
    started_ = true;
    endpoint_ = through_proxy(database_);
  }

  /// The first session starts the database's mirror and waits for its slot: once it is in, the
  /// mirror streams.
  void start_mirror() {
    const bool in = wait_until([&] { return psql(endpoint_, "SELECT 1").exit_code == 0; }, 20s);
    REQUIRE(in);
    const bool streaming = wait_until([&] { return health().find(R"("state":"streaming")") != std::string::npos; }, 20s);
    INFO(health());
    REQUIRE(streaming);
  }

  [[nodiscard]] std::string metrics() const { return http_get(metrics_port_, "/metrics").out; }
  /// The status line, then the body.
  [[nodiscard]] std::string health() const { return http_get(metrics_port_, "/health").out; }
  [[nodiscard]] std::optional<double> metric(std::string_view family) const {
    return sample_of(metrics(), std::string{family} + "{database=\"" + database_ + "\"}");
  }
  [[nodiscard]] RunResult console(const std::string& command) const {
    return psql(proxy_endpoint("pgdual"), command);
  }
  [[nodiscard]] bool slot_exists() const {
    return backends().onprem.run_sql("postgres", "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" +
                                                     conflict::slot_name_for(database_) + "'") == "1\n";
  }

  [[nodiscard]] const std::string& database() const { return database_; }
  [[nodiscard]] const Endpoint& endpoint() const { return endpoint_; }

 private:
  [[nodiscard]] Endpoint proxy_endpoint(const std::string& database) const {
    auto endpoint = endpoint_;
    endpoint.database = database;
    return endpoint;
  }

  std::string database_;
  Endpoint endpoint_;
  std::uint16_t metrics_port_ = 0;
  bool started_ = false;
  std::optional<SlotDropper> dropper_;
};

/// How long `result`'s command ran, with the command.
struct TimedRun {
  RunResult result;
  Clock::duration took{};
};

TimedRun timed_psql(const Endpoint& endpoint, const std::string& script) {
  const auto started = Clock::now();
  auto result = psql(endpoint, script);
  return {std::move(result), Clock::now() - started};
}

double seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

TEST_CASE_METHOD(WalLagTest, "wal lag: a held apply shows lag in bytes and seconds on /metrics, /health and SHOW WAL, "
                             "and the lag returns to 0 once it is released",
                 "[integration][wal_lag]") {
  start("wal_lag", "", 300);
  start_mirror();
  TempDir dir{"pgdual-wal-lag"};
  std::optional<MirrorLock> lock;
  lock.emplace(database(), "t", dir.path());

  const auto held = timed_psql(endpoint(), "INSERT INTO t VALUES (1, 'through pgdual')");
  check_succeeded(held.result);
  CHECK(seconds(held.took) >= 0.3);  // answered at mirror.timeout_ms, as lag
  static_cast<void>(backends().onprem.run_sql(database(), "INSERT INTO t VALUES (2, 'straight on the primary')"));

  std::optional<double> lag_bytes;
  std::optional<double> lag_seconds;
  const bool lagging = wait_until(
      [&] {
        lag_bytes = metric("pgdual_wal_lag_bytes");
        lag_seconds = metric("pgdual_wal_lag_seconds");
        return lag_bytes && lag_seconds && *lag_bytes > 0 && *lag_seconds >= 1;
      },
      10s);
  CHECK(lagging);
  CHECK(lag_bytes.value_or(0) > 0);
  CHECK(lag_seconds.value_or(0) >= 1);
  CHECK(metric("pgdual_wal_retained_bytes").value_or(0) >= lag_bytes.value_or(1));
  CHECK(metric("pgdual_wal_mirror_up") == 1.0);

  const auto shown = console("SHOW WAL");
  check_succeeded(shown);
  INFO(shown.out);
  const auto row = columns_of(shown.out);
  // database, state, lag_bytes, lag_seconds, retained_bytes, applied, waiting, last_error, then pgdual
  // sync's: sync, sync_tables, sync_rows, sync_bytes (never synced here)
  REQUIRE(row.size() == 12);
  CHECK(row[8].empty());
  CHECK(row[9] == "0/0");
  CHECK(row[0] == database());
  CHECK(std::stoull(row[2]) > 0);
  CHECK(std::stod(row[3]) >= 1);
  CHECK(std::stoull(row[4]) >= std::stoull(row[2]));
  const auto status = health();
  INFO(status);
  CHECK(status.starts_with("200\n"));
  CHECK(status.find(R"({"database":")" + database() + R"(",")") != std::string::npos);

  lock->release();
  const bool recovered = wait_until(
      [&] {
        lag_bytes = metric("pgdual_wal_lag_bytes");
        lag_seconds = metric("pgdual_wal_lag_seconds");
        return lag_bytes == 0.0 && lag_seconds == 0.0;
      },
      30s);
  CHECK(recovered);
  CHECK(lag_bytes == 0.0);
  CHECK(lag_seconds == 0.0);
  CHECK(metric("pgdual_wal_applied_transactions_total").value_or(0) >= 2);
  // The COMMIT held up to mirror.timeout_ms shows in the histogram of waits for the mirror.
  const auto text = metrics();
  CHECK(sample_of(text, "pgdual_wal_ack_wait_seconds_count").value_or(0) >= 1);
  CHECK(sample_of(text, "pgdual_wal_ack_wait_seconds_sum").value_or(0) >= 0.3);
  CHECK(sample_of(text, R"(pgdual_wal_ack_wait_seconds_bucket{le="0.25"})").value_or(1e9) <
        sample_of(text, R"(pgdual_wal_ack_wait_seconds_bucket{le="+Inf"})").value_or(0));
  CHECK(differing_tables(database()).empty());
}

TEST_CASE_METHOD(WalLagTest, "wal lag: past mirror.max_lag_bytes pgdual drops the slot, says so, answers sessions at "
                             "once and makes no new slot",
                 "[integration][wal_lag]") {
  start("wal_limit", "max_lag_bytes = 16777216\n", 20'000);
  start_mirror();
  TempDir dir{"pgdual-wal-limit"};
  MirrorLock lock{database(), "t", dir.path()};

  // A session's write waits for the mirror, whose apply the lock holds up, until the slot is given up.
  auto waiting = std::async(std::launch::async, [&] { return timed_psql(endpoint(), "INSERT INTO t VALUES (1, 'a')"); });
  static_cast<void>(backends().onprem.run_sql(
      database(), "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 200000) AS g"));
  const bool dropped = wait_until([&] { return !slot_exists(); }, 20s);
  REQUIRE(dropped);

  const auto woken = waiting.get();
  check_succeeded(woken.result);
  CHECK(seconds(woken.took) < 15);  // well before mirror.timeout_ms (20 s)
  CHECK(proxy().log_shows_within("wal mirror of database " + database() + ": the slot", 5s));
  CHECK(proxy().log_shows_within("more than mirror.max_lag_bytes (16777216)", 5s));
  CHECK(proxy().log_shows_within("pgdual sync", 5s));

  const auto status = health();
  INFO(status);
  CHECK(status.starts_with("503\n{\"status\":\"wal_mirror_given_up\""));
  CHECK(status.find(R"(","state":"given_up",)") != std::string::npos);
  CHECK(metric("pgdual_wal_mirror_up") == 0.0);
  const auto shown = console("SHOW WAL");
  INFO(shown.out);
  CHECK(shown.out.starts_with(database() + "|given_up|"));
  // The read ramp is not raised past a given-up WAL mirror (docs/read-ramp.md, "Runbook").
  const auto raise = console("SET read_percent = 10");
  CHECK(raise.exit_code != 0);
  CHECK(raise.err.find("the WAL mirror of database " + database() + " is given_up") != std::string::npos);

  const auto after = timed_psql(endpoint(), "INSERT INTO t VALUES (2, 'after')");
  check_succeeded(after.result);
  CHECK(seconds(after.took) < 5);

  const auto records = wait_for_conflicts(1, 5s);
  REQUIRE(records.size() == 1);
  CHECK(records.front().kind == conflict::ConflictKind::mirror_unavailable);
  CHECK(records.front().session.database == database());
  CHECK(records.front().tables.empty());

  // The stopped apply would have made the slot again within its longest pause (5 s).
  std::this_thread::sleep_for(6s);
  CHECK_FALSE(slot_exists());
}

}  // namespace pgdual::test

namespace pgdual::test {
namespace {

/// max_slot_wal_keep_size on the shared primary for one test, then back to its default.
class SlotKeepLimit {
 public:
  explicit SlotKeepLimit(const std::string& size) { set("ALTER SYSTEM SET max_slot_wal_keep_size = '" + size + "'"); }
  SlotKeepLimit(const SlotKeepLimit&) = delete;
  SlotKeepLimit& operator=(const SlotKeepLimit&) = delete;
  ~SlotKeepLimit() {
    try {
      set("ALTER SYSTEM RESET max_slot_wal_keep_size");
    } catch (const std::exception& error) {
      WARN("could not reset max_slot_wal_keep_size: " << error.what());
    }
  }

 private:
  static void set(const std::string& statement) {
    static_cast<void>(backends().onprem.run_sql("postgres", statement));
    static_cast<void>(backends().onprem.run_sql("postgres", "SELECT pg_reload_conf()"));
  }
};

TEST_CASE_METHOD(WalLagTest, "wal lag: a slot the primary invalidated (max_slot_wal_keep_size) is given up at once, "
                             "not waited on by every commit",
                 "[integration][wal_lag]") {
  start("wal_lost", "", 20'000);
  start_mirror();
  TempDir dir{"pgdual-wal-lost"};
  MirrorLock lock{database(), "t", dir.path()};
  const SlotKeepLimit keep{"1MB"};

  auto waiting = std::async(std::launch::async, [&] { return timed_psql(endpoint(), "INSERT INTO t VALUES (1, 'a')"); });
  // Past the limit, the primary's next checkpoint invalidates the slot the lock holds back.
  static_cast<void>(backends().onprem.run_sql(
      database(), "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 200000) AS g"));
  static_cast<void>(backends().onprem.run_sql(database(), "SELECT pg_switch_wal()"));
  static_cast<void>(backends().onprem.run_sql(database(), "CHECKPOINT"));
  const bool dropped = wait_until([&] { return !slot_exists(); }, 20s);
  REQUIRE(dropped);

  const auto woken = waiting.get();
  check_succeeded(woken.result);
  CHECK(seconds(woken.took) < 15);  // well before mirror.timeout_ms (20 s)
  CHECK(proxy().log_shows_within("the primary invalidated the slot", 5s));
  CHECK(proxy().log_shows_within("max_slot_wal_keep_size", 5s));
  CHECK(health().starts_with("503\n{\"status\":\"wal_mirror_given_up\""));

  const auto after = timed_psql(endpoint(), "INSERT INTO t VALUES (2, 'after')");
  check_succeeded(after.result);
  CHECK(seconds(after.took) < 5);
  const auto records = wait_for_conflicts(1, 5s);
  REQUIRE(records.size() == 1);
  CHECK(records.front().kind == conflict::ConflictKind::mirror_unavailable);
  CHECK(records.front().mirror.error->message.find("wal_status lost") != std::string::npos);
}

}  // namespace
}  // namespace pgdual::test
