// The WAL mirror of one database end to end, against the real servers: MirrorApplier reads the
// primary's slot and applies every transaction to the mirror, whoever wrote it, and goes on from
// the slot when its connection to the mirror is killed.
#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "proxy/mirror/applied_units.h"
#include "proxy/mirror/applier.h"
#include "tests/integration/harness/fixture.h"
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

/// Waits up to `limit` for `holds`.
template <class Condition>
bool eventually(Condition holds, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (holds()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return holds();
}

void check_succeeded(const RunResult& result) {
  INFO(result.describe());
  REQUIRE_FALSE(result.timed_out);
  REQUIRE(result.exit_code == 0);
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest,
                 "Writes made straight on the primary reach the mirror exactly, also when the apply connection is killed",
                 "[integration][wal][applier]") {
  start_proxy();
  const auto database = fresh_database("wal_applier");
  check_succeeded(run({PGDUAL_BINARY, "init", "--config", proxy().config_file().string(), "--database", database}, {},
                      60s));
  auto& primary = backends().onprem;
  auto& mirror = backends().cloud;
  static_cast<void>(primary.run_sql(database, std::string{kSchema}));
  static_cast<void>(mirror.run_sql(database, std::string{kSchema}));

  auto options = proxy::MirrorApplier::Options{};
  options.slot = options_for(primary, database);
  const auto mirror_login = mirror.superuser(database);
  options.mirror_login = proxy::BackendLogin{.user = mirror_login.user,
                                             .password = mirror_login.password,
                                             .protocol_version = 196608,
                                             .parameters = {{"user", mirror_login.user},
                                                            {"database", database},
                                                            {"application_name", std::string{kApplyApplication}}}};
  SlotDropper dropper{primary, options.slot.slot};
  proxy::AppliedUnits units;
  std::mutex recorded_mutex;
  std::vector<conflict::ConflictRecord> recorded;
  proxy::MirrorApplier applier{backend_of(primary), nullptr, backend_of(mirror, "cloud"), nullptr, options, units,
                               [&](conflict::ConflictRecord record) {
                                 const std::lock_guard lock{recorded_mutex};
                                 recorded.push_back(std::move(record));
                               },
                               std::make_shared<spdlog::logger>(
                                   "wal-applier-test", std::make_shared<spdlog::sinks::stderr_sink_mt>())};
  ApplierThread thread{applier};
  const auto slot_exists = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + options.slot.slot + "'";
  REQUIRE(eventually([&] { return primary.run_sql(database, slot_exists) == "1\n"; }, 30s));

  // A key carried as pgdual carries it wakes the session that expects it.
  const std::string key = "01a2b3c4-0000-7000-8000-00000000abcd";
  auto ticket = units.expect(key, thread.executor());
  static_cast<void>(primary.run_sql(
      database, "BEGIN; INSERT INTO account SELECT g, 0, 'opened' FROM generate_series(1, 100) g; "
                "SELECT pg_logical_emit_message(true, 'pgdual', '" + key + "'); COMMIT;"));
  CHECK(eventually([&] { return ticket.applied(); }, 30s));

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

  REQUIRE(eventually([&] { return differing_tables(database).empty(); }, 60s));
  CHECK(mirror.run_sql(database, "SELECT count(*) FROM audit") == primary.run_sql(database, "SELECT count(*) FROM audit"));
  // Every transaction is in the mirror's ledger once.
  CHECK(mirror.run_sql(database, "SELECT count(*) = count(DISTINCT commit_lsn) FROM pgdual.applied") == "t\n");
  CHECK(mirror.run_sql(database, "SELECT count(*) FROM pgdual.applied WHERE unit_key = '" + key + "'") == "1\n");
  const auto progress = applier.progress();
  CHECK(progress.rounds >= 2);
  CHECK(progress.skipped_changes == 0);
  const std::lock_guard lock{recorded_mutex};
  CHECK(recorded.empty());
}

}  // namespace pgdual::test
