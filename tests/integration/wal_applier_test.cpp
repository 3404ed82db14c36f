// The WAL mirror of one database end to end, against the real servers: MirrorApplier reads the
// primary's slot and applies every transaction to the mirror, whoever wrote it, and goes on from
// the slot when its connection to the mirror is killed.
#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <sys/types.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "proxy/mirror/applied_units.h"
#include "protocol/replication.h"
#include "proxy/mirror/applier.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_helpers.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
namespace asio = proxy::asio;

constexpr auto kClientTimeout = 180s;
constexpr std::string_view kApplyApplication = "pgdual_apply_test";

/// The tables of the test, the same on both servers; the audit trigger is on both too, and must
/// fire on the primary only (its rows reach the mirror as rows).
constexpr std::string_view kSchema = R"SQL(
CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL, note text);
CREATE TABLE audit (account int, balance int, at timestamptz NOT NULL DEFAULT clock_timestamp(), by_xid xid8);
CREATE FUNCTION audit_balance() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO audit (account, balance, by_xid) VALUES (NEW.id, NEW.balance, pg_current_xact_id()); RETURN NEW; END$$;
CREATE TRIGGER audit_balance AFTER INSERT OR UPDATE ON account FOR EACH ROW EXECUTE FUNCTION audit_balance();
)SQL";

/// An io_context on a thread of its own, as the server runs an applier beside its sessions.
class ApplierThread {
 public:
  explicit ApplierThread(proxy::MirrorApplier& applier) {
    asio::co_spawn(io_, applier.run(), asio::detached);
    thread_ = std::jthread{[this] { io_.run(); }};
  }
  ApplierThread(const ApplierThread&) = delete;
  ApplierThread& operator=(const ApplierThread&) = delete;
  ~ApplierThread() {
    io_.stop();
    thread_.join();
  }
  [[nodiscard]] asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  asio::io_context io_;
  std::jthread thread_;
};

/// A database with kSchema on both servers and pgdual's schema, and a MirrorApplier for it
/// running on a thread of its own, whose conflicts are kept.
class WalApplierTest : public IntegrationTest {
 protected:
  void start(std::string_view label) {
    start_proxy();
    database_ = fresh_database(label);
    check_succeeded(run({PGDUAL_BINARY, "init", "--config", proxy().config_file().string(), "--database", database_},
                        {}, 60s));
    static_cast<void>(primary().run_sql(database_, std::string{kSchema}));
    static_cast<void>(mirror().run_sql(database_, std::string{kSchema}));
    options_ = applier_options(primary(), mirror(), database_, kApplyApplication);
    dropper_.emplace(primary(), options_.slot.slot);
    applier_.emplace(backend_of(primary()), nullptr, backend_of(mirror(), "cloud"), nullptr, options_, units_,
                     [this](conflict::ConflictRecord record) {
                       const std::lock_guard lock{recorded_mutex_};
                       recorded_.push_back(std::move(record));
                     },
                     std::make_shared<spdlog::logger>("wal-applier-test",
                                                      std::make_shared<spdlog::sinks::stderr_sink_mt>()));
    thread_.emplace(*applier_);
    const auto slot_exists = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + options_.slot.slot + "'";
    REQUIRE(wait_until([&] { return primary().run_sql(database_, slot_exists) == "1\n"; }, 30s));
  }

  [[nodiscard]] PgCluster& primary() { return backends().onprem; }
  [[nodiscard]] PgCluster& mirror() { return backends().cloud; }
  [[nodiscard]] const std::string& database() const { return database_; }
  [[nodiscard]] proxy::AppliedUnits& units() { return units_; }
  [[nodiscard]] proxy::MirrorApplier& applier() { return *applier_; }
  [[nodiscard]] asio::any_io_executor executor() { return thread_->executor(); }
  [[nodiscard]] std::vector<conflict::ConflictRecord> recorded() {
    const std::lock_guard lock{recorded_mutex_};
    return recorded_;
  }

 private:
  std::string database_;
  proxy::MirrorApplier::Options options_;
  std::optional<SlotDropper> dropper_;  // after the thread below is gone, so the slot is idle
  proxy::AppliedUnits units_;
  std::mutex recorded_mutex_;
  std::vector<conflict::ConflictRecord> recorded_;
  std::optional<proxy::MirrorApplier> applier_;
  std::optional<ApplierThread> thread_;
};

/// Server processes stopped (SIGSTOP) for the guard's life, continued whatever happens to the test.
class StoppedProcesses {
 public:
  explicit StoppedProcesses(std::vector<pid_t> pids) : pids_{std::move(pids)} {
    for (const auto pid : pids_) ::kill(pid, SIGSTOP);
  }
  StoppedProcesses(const StoppedProcesses&) = delete;
  StoppedProcesses& operator=(const StoppedProcesses&) = delete;
  ~StoppedProcesses() {
    for (const auto pid : pids_) ::kill(pid, SIGCONT);
  }
  /// The processes were killed (the server crashed): nothing is left to continue.
  void forget() noexcept { pids_.clear(); }

 private:
  std::vector<pid_t> pids_;
};

/// The processes of `server` that flush its WAL or write its buffers (which flushes the WAL first)
/// on their own: with them stopped, a quiet server's WAL is flushed only by a synchronous commit.
std::vector<pid_t> wal_flushers(PgCluster& server, const std::string& database) {
  std::vector<pid_t> pids;
  const auto listed = server.run_sql(
      database, "SELECT pid FROM pg_stat_activity WHERE backend_type IN ('walwriter', 'background writer')");
  for (std::size_t at = 0; at < listed.size();) {
    const auto end = listed.find('\n', at);
    pids.push_back(static_cast<pid_t>(std::stol(listed.substr(at, end - at))));
    at = end == std::string::npos ? listed.size() : end + 1;
  }
  return pids;
}

}  // namespace

TEST_CASE_METHOD(WalApplierTest,
                 "A transaction is announced once on the mirror, and the slot confirmed only once the mirror's WAL "
                 "holds it durably, even on a quiet stream",
                 "[integration][wal][applier]") {
  start("wal_applier_durable");
  auto& primary = this->primary();
  auto& mirror = this->mirror();
  const auto& database = this->database();
  static_cast<void>(primary.run_sql(database, "INSERT INTO account VALUES (1, 0, 'first')"));
  REQUIRE(wait_until(
      [&] {
        const auto progress = applier().progress();
        return progress.applied > 0 && progress.durable >= progress.applied;
      },
      30s));
  const auto confirmed = [&] {
    const auto text = primary.run_sql(database, "SELECT confirmed_flush_lsn FROM pg_replication_slots");
    return protocol::parse_lsn(text.substr(0, text.find('\n'))).value_or(0);
  };
  const auto mirror_flushed = [&] { return mirror.run_sql(database, "SELECT pg_current_wal_flush_lsn()"); };

  const std::string key = "01a2b3c4-0000-7000-8000-00000000d0ab";
  {
    const StoppedProcesses stopped{wal_flushers(mirror, database)};
    const auto flushed_before = mirror_flushed();
    auto ticket = units().expect(key, executor());
    static_cast<void>(primary.run_sql(database, "BEGIN; INSERT INTO account VALUES (2, 0, 'second'); "
                                                "SELECT pg_logical_emit_message(true, 'pgdual', '" + key + "'); COMMIT;"));
    // Announced with the mirror's WAL writer stopped: the session does not wait for the mirror's disk.
    REQUIRE(wait_until([&] { return ticket.applied(); }, 30s));
    CHECK(mirror.run_sql(database, "SELECT note FROM account WHERE id = 2") == "second\n");
    const auto applied = applier().progress().applied;
    std::this_thread::sleep_for(1500ms);
    // Nothing flushed the mirror's WAL meanwhile (its WAL writer and background writer stand still,
    // and the apply commits asynchronously): the slot must still hold the transaction.
    if (mirror_flushed() == flushed_before) {
      CHECK(confirmed() < applied);
      CHECK(applier().progress().durable < applied);
    } else {
      WARN("something else flushed the mirror's WAL: the slot's hold could not be observed");
    }
  }
  // With the WAL writer going again and no further write, the quiet stream's apply finds it durable.
  const auto applied = applier().progress().applied;
  CHECK(wait_until([&] { return confirmed() >= applied; }, 30s));
  CHECK(applier().progress().durable >= applied);
  CHECK(differing_tables(database).empty());
}

TEST_CASE_METHOD(WalApplierTest,
                 "A mirror that crashes before its WAL holds what it applied gets it again from the slot, and "
                 "sessions keep their reads off it meanwhile",
                 "[integration][wal][applier]") {
  start("wal_applier_lost");
  auto& primary = this->primary();
  auto& mirror = this->mirror();
  const auto& database = this->database();
  static_cast<void>(primary.run_sql(database, "INSERT INTO account VALUES (1, 0, 'durable')"));
  REQUIRE(wait_until(
      [&] {
        const auto progress = applier().progress();
        return progress.applied > 0 && progress.durable >= progress.applied;
      },
      30s));
  const auto mirror_flushed = [&] { return mirror.run_sql(database, "SELECT pg_current_wal_flush_lsn()"); };

  bool flushed_meanwhile = false;
  {
    StoppedProcesses stopped{wal_flushers(mirror, database)};
    const auto flushed_before = mirror_flushed();
    const std::string key = "01a2b3c4-0000-7000-8000-00000000105e";
    auto ticket = units().expect(key, executor());
    static_cast<void>(primary.run_sql(database, "BEGIN; INSERT INTO account VALUES (2, 0, 'answered'); "
                                                "SELECT pg_logical_emit_message(true, 'pgdual', '" + key + "'); COMMIT;"));
    REQUIRE(wait_until([&] { return ticket.applied(); }, 30s));
    flushed_meanwhile = mirror_flushed() != flushed_before;
    // The WAL writer never wrote the commit out: the crash takes it with the server's memory.
    mirror.crash();
    stopped.forget();
  }
  mirror.restart();
  CHECK(wait_until([&] { return differing_tables(database).empty(); }, 60s));
  CHECK(mirror.run_sql(database, "SELECT note FROM account WHERE id = 2") == "answered\n");
  CHECK(wait_until([&] { return !units().mirror_recovering(); }, 30s));
  if (flushed_meanwhile) {
    WARN("something else flushed the mirror's WAL: no transaction was lost to observe");
  } else {
    CHECK(applier().progress().mirror_losses == 1);
  }
  CHECK(mirror.run_sql(database, "SELECT count(*) = count(DISTINCT commit_lsn) FROM pgdual.applied") == "t\n");
}

TEST_CASE_METHOD(WalApplierTest,
                 "Writes made straight on the primary reach the mirror exactly, also when the apply connection is killed",
                 "[integration][wal][applier]") {
  start("wal_applier");
  auto& primary = this->primary();
  auto& mirror = this->mirror();
  const auto& database = this->database();

  // A key carried as pgdual carries it wakes the session that expects it.
  const std::string key = "01a2b3c4-0000-7000-8000-00000000abcd";
  auto ticket = units().expect(key, executor());
  static_cast<void>(primary.run_sql(
      database, "BEGIN; INSERT INTO account SELECT g, 0, 'opened' FROM generate_series(1, 100) g; "
                "SELECT pg_logical_emit_message(true, 'pgdual', '" + key + "'); COMMIT;"));
  CHECK(wait_until([&] { return ticket.applied(); }, 30s));

  TempDir dir{"pgdual-wal-applier"};
  const auto script = dir.path() / "deposit.sql";
  write_file(script, "\\set id random(1, 100)\nUPDATE account SET balance = balance + 1 WHERE id = :id;\n");
  const auto deposits = [&] {
    check_succeeded(run_client({pg_program("pgbench"), "--no-vacuum", "--client=4", "--jobs=2", "--transactions=100",
                                "--file=" + script.string()},
                               primary.superuser(database), kClientTimeout));
  };
  deposits();
  static_cast<void>(mirror.run_sql(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                             "WHERE application_name = '" + std::string{kApplyApplication} + "'"));
  deposits();
  static_cast<void>(primary.run_sql(database, "UPDATE account SET note = 'closed' WHERE id % 10 = 0; "
                                              "DELETE FROM account WHERE id > 95"));

  REQUIRE(wait_until([&] { return differing_tables(database).empty(); }, 60s));
  CHECK(mirror.run_sql(database, "SELECT count(*) FROM audit") == primary.run_sql(database, "SELECT count(*) FROM audit"));
  // Every transaction is in the mirror's ledger once.
  CHECK(mirror.run_sql(database, "SELECT count(*) = count(DISTINCT commit_lsn) FROM pgdual.applied") == "t\n");
  CHECK(mirror.run_sql(database, "SELECT count(*) FROM pgdual.applied WHERE unit_key = '" + key + "'") == "1\n");
  const auto progress = applier().progress();
  CHECK(progress.rounds >= 2);
  CHECK(progress.skipped_changes == 0);
  CHECK(recorded().empty());
}

TEST_CASE_METHOD(WalApplierTest, "A change the mirror refuses is left out and recorded, and the stream goes on",
                 "[integration][wal][applier]") {
  start("wal_applier_refused");
  static_cast<void>(mirror().run_sql(database(), "INSERT INTO account VALUES (5, -1, 'mirror only')"));
  static_cast<void>(primary().run_sql(database(), "INSERT INTO account SELECT g, 0, 'opened' FROM generate_series(1, 10) g"));
  static_cast<void>(primary().run_sql(database(), "INSERT INTO account VALUES (11, 0, 'after')"));

  REQUIRE(wait_until([&] { return mirror().run_sql(database(), "SELECT count(*) FROM account") == "11\n"; }, 60s));
  const auto records = recorded();
  REQUIRE(records.size() == 1);
  CHECK(records[0].kind == conflict::ConflictKind::mirror_error);
  REQUIRE(records[0].mirror.error);
  CHECK(records[0].mirror.error->sqlstate == "23505");
  CHECK(records[0].tables == std::vector<std::string>{"\"public\".\"account\""});
  CHECK(records[0].session.database == database());
  // The mirror keeps its own row 5; every other row is the primary's.
  CHECK(mirror().run_sql(database(), "SELECT note FROM account WHERE id = 5") == "mirror only\n");
  CHECK(mirror().run_sql(database(), "SELECT count(*) FROM account WHERE note IN ('opened', 'after')") == "10\n");
  CHECK(applier().progress().skipped_changes == 1);
}

}  // namespace pgdual::test
