// DualWrite over loopback against a scripted fake PostgreSQL mirror (STYLE.md §8.2, "Testing
// proxy/"): the server-wide parts are built as Server builds them, the session's parts as Session
// wires them, and each unit is driven as Session::pump_client_to_backend drives it.

#include "proxy/session/dual_write.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "config/proxy_config.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"
#include "proxy/admin/live_settings.h"
#include "proxy/admin/metrics.h"
#include "proxy/backend/backend_tls.h"
#include "proxy/cancel_registry.h"
#include "proxy/conflict_sink.h"
#include "proxy/cutover/running_roles.h"
#include "proxy/cutover/write_gate.h"
#include "proxy/ledger_pruner.h"
#include "proxy/mirror/database_setup.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"
#include "proxy/route/shadow_judgement.h"
#include "proxy/route/statement_latencies.h"
#include "proxy/session_registry.h"
#include "tests/unit/conflict/answers.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/unit/proxy/fake_postgres.h"

namespace pgdual::proxy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using conflict::ConflictKind;
using conflict::ConflictRecord;
using conflict::test::Answer;
using protocol::TransactionStatus;
using test::FakePostgres;
using test::ScriptStep;

constexpr std::uint64_t kSessionId = 7;
constexpr std::string_view kPassword = "secret";
constexpr std::string_view kInsert = "INSERT INTO patients (id, ward) VALUES (1, 'east')";
/// A part of the mirror catalog query ColumnDefaults makes before the first INSERT is compared.
constexpr std::string_view kColumnDefaultsQuery = "pg_catalog.pg_attrdef";
constexpr std::string_view kLedgerInsertStart = "INSERT INTO pgdual.ledger (idempotency_key) VALUES ('";

std::string ledger_insert(std::string_view key) {
  return "INSERT INTO pgdual.ledger (idempotency_key) VALUES ('" + std::string{key} + "')";
}

/// The configuration a test runs with: the mirror (cloud) is the fake peer; the primary is never
/// connected to, since the test plays its answers itself.
std::shared_ptr<const config::ProxyConfig> config_for(std::uint16_t mirror_port, std::chrono::milliseconds timeout,
                                                      const fs::path& conflict_log) {
  const auto text = "[backends.onprem]\nhost = \"127.0.0.1\"\nport = 1\n"
                    "[backends.cloud]\nhost = \"127.0.0.1\"\nport = " + std::to_string(mirror_port) +
                    "\nconnect_timeout_ms = 2000\n"
                    "[[users]]\nname = \"app\"\npassword = \"" + std::string{kPassword} + "\"\n"
                    "[mirror]\ntimeout_ms = " + std::to_string(timeout.count()) + "\n"
                    "[conflicts]\nlog_path = \"" + conflict_log.string() + "\"\n";
  auto config = config::parse_config(text, "dual_write_test.toml");
  INFO((config ? std::string{"accepted"} : config.error().to_string()));
  REQUIRE(config.has_value());
  return std::make_shared<const config::ProxyConfig>(std::move(*config));
}

conflict::ConflictLog open_log(const fs::path& path) {
  auto log = conflict::ConflictLog::open(path, {.sync = conflict::SyncPolicy::on_flush});
  REQUIRE(log.has_value());
  return std::move(*log);
}

/// What every session shares (SessionContext), built as Server builds it, with a log kept in
/// memory to read back.
class ServerParts {
 public:
  ServerParts(std::uint16_t mirror_port, std::chrono::milliseconds mirror_timeout)
      : log_{std::make_shared<spdlog::logger>("dual-write-test",
                                              std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_))},
        config_{config_for(mirror_port, mirror_timeout, directory_.path() / "conflicts.jsonl")},
        backend_tls_{*config_},
        // The key the outcomes of tests/unit/conflict/answers.h are digested with, so that the
        // primary's rows and the mirror's compare.
        rows_digest_key_{std::make_shared<const std::vector<std::byte>>(conflict::test::rows_digest_key().begin(),
                                                                         conflict::test::rows_digest_key().end())},
        conflicts_{open_log(config_->conflicts.log_path), 1ms, log_},
        ledger_pruner_{config_, log_},
        database_setup_{config_, directory_.path() / "pgdual.toml", log_},
        steering_{*config_},
        brake_{config_->brake},
        settings_{directory_.path() / "pgdual.toml", config_, steering_, brake_, log_},
        metrics_{config_->primary_backend().name, config_->mirror_backend().name} {}

  [[nodiscard]] SessionContext context() {
    return {config_, cancels_,           sessions_, log_,     conflicts_,   ledger_pruner_, rows_digest_key_,
            steering_, brake_, primary_latencies_, shadows_, settings_, metrics_, backend_tls_, database_setup_,
            write_gate_, roles_};
  }

  /// Every record in the conflict log, once the sink has written what it was given.
  [[nodiscard]] std::vector<ConflictRecord> records() {
    conflicts_.wait_durable();
    std::ifstream in{config_->conflicts.log_path, std::ios::binary};
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE_FALSE(conflict::verify_chain(lines).first_bad.has_value());
    std::vector<ConflictRecord> records;
    for (const auto& line : lines) {
      auto parsed = conflict::parse_json_line(line);
      REQUIRE(parsed.has_value());
      records.push_back(std::move(parsed->record));
    }
    return records;
  }

  [[nodiscard]] std::string log_text() const { return log_text_.str(); }
  [[nodiscard]] const config::ProxyConfig& config() const { return *config_; }

 private:
  pgdual::test::TempDir directory_{"pgdual-dual-write"};  ///< the conflict log's, removed with the test
  std::ostringstream log_text_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<const config::ProxyConfig> config_;
  BackendTlsContexts backend_tls_;
  CancelRegistry cancels_;
  SessionRegistry sessions_;
  std::shared_ptr<const std::vector<std::byte>> rows_digest_key_;
  ConflictSink conflicts_;
  LedgerPruner ledger_pruner_;
  DatabaseSetup database_setup_;
  WriteGate write_gate_;
  RunningRoles roles_{config_};
  ReadSteering steering_;
  ReadBrake brake_;
  PrimaryLatencies primary_latencies_;
  ShadowLedger shadows_{1};
  LiveSettings settings_;
  Metrics metrics_;
};

/// A session's parts, wired as Session's constructor wires them. The client socket is never
/// connected: DualWrite does not touch it.
struct SessionParts {
  SessionParts(SessionContext session_context, asio::io_context& io)
      : context{std::move(session_context)}, client{tcp::socket{io}}, link{context, kSessionId, io.get_executor()} {
    link.on_lost([this](const MirrorFailure& failure) {
      const bool committing = writes.mirror_lost(failure);
      reads.keep_on_primary("the mirror connection was lost");
      return committing;
    });
  }

  SessionContext context;
  sql::Classifier classifier{};
  UnitPlanner planner{classifier};
  conflict::SessionInfo info{"app", "dual_write_test", "127.0.0.1:50000", "chart"};
  Stream client;
  MirrorLink link;
  MirrorReads reads{context, kSessionId, link, planner, client};
  ConflictRecorder recorder{context, kSessionId, reads};
  DualWrite writes{{context, kSessionId, info, planner, link, reads, recorder}};
};

/// What the driven unit left to check.
struct UnitRun {
  UnitPlan plan;
  std::string key;  ///< DualWrite::unit_key() of the open unit
  bool mirror_connected_after = false;
};

// Logs in to the mirror as Session::connect_backends does, runs one autocommit Query as a unit
// (the primary answered it with `primary`), then ends as Session::relay does.
Awaitable<void> run_autocommit_unit(SessionParts& session, std::string sql, conflict::Outcome primary,
                                    UnitRun& run) {
  const auto& backend = session.context.config->mirror_backend();
  auto tls = session.context.backend_tls.for_backend(backend);
  const BackendLogin login{"app", std::string{kPassword}, protocol::kProtocolVersion3,
                           {{"user", "app"}, {"database", "chart"}}};
  auto connection = co_await BackendConnection::open(backend, std::move(tls), login,
                                                     session.context.config->limits.max_message_bytes);
  session.link.attach(std::move(connection));
  co_await session.link.replay_session_state();

  std::vector<std::byte> segment;
  protocol::Writer out{segment};
  protocol::encode(protocol::Query{sql}, out);
  auto frames = protocol::split_frames(segment);
  for (const auto& frame : frames) session.planner.observe(frame);
  run.plan = session.planner.plan(TransactionStatus::idle);
  const auto pins = session.writes.open_unit(run.plan, segment, frames);
  run.key = session.writes.unit_key();
  co_await session.writes.send(segment, frames, pins);
  co_await session.writes.finish_unit(primary);
  session.writes.end_unit(primary.transaction_status.value_or(TransactionStatus::idle));
  session.planner.start_unit();

  run.mirror_connected_after = session.link.connected();
  if (session.link.connected()) co_await session.writes.settle_pending();
  co_await session.link.terminate();
}

/// One test's world: the fake mirror, the server's parts and a session's, on one io_context.
struct Rig {
  Rig(std::string_view password, std::vector<ScriptStep> script, std::chrono::milliseconds mirror_timeout = 2s)
      : peer{io, std::string{password}, std::move(script)}, server{peer.port(), mirror_timeout},
        session{server.context(), io} {}

  /// Runs the fake peer and the unit until both are done. The bound only keeps a broken test
  /// from hanging: nothing waits for it to pass.
  void run_unit(std::string_view sql, const conflict::Outcome& primary) {
    std::exception_ptr peer_failure;
    std::exception_ptr unit_failure;
    bool peer_done = false;
    bool unit_done = false;
    asio::co_spawn(io, peer.serve(), [&](std::exception_ptr failure) {
      peer_failure = failure;
      peer_done = true;
    });
    asio::co_spawn(io, run_autocommit_unit(session, std::string{sql}, primary, run),
                   [&](std::exception_ptr failure) {
                     unit_failure = failure;
                     unit_done = true;
                   });
    io.run_for(20s);
    REQUIRE(unit_done);
    REQUIRE(peer_done);
    if (unit_failure) std::rethrow_exception(unit_failure);
    if (peer_failure) std::rethrow_exception(peer_failure);
    INFO("the proxy's log:\n" << server.log_text());
    CHECK(peer.deviation() == "");  // compared as text, so that a failure shows the deviation
  }

  asio::io_context io;
  FakePostgres peer;
  ServerParts server;
  SessionParts session;
  UnitRun run;
};

conflict::Outcome primary_inserted() { return Answer{}.complete("INSERT 0 1").ready('I').outcome(); }

}  // namespace

TEST_CASE("An autocommit INSERT runs on the mirror inside BEGIN, then its key goes into the ledger, then COMMIT",
          "[unit][proxy][dual_write]") {
  // The ledger insert's text holds the key, drawn when the unit opens: matched in part here, and
  // whole below.
  Rig rig{kPassword,
          {test::query_answered("BEGIN", Answer{}.complete("BEGIN").ready('T').bytes()),
           test::query_answered(kInsert, Answer{}.complete("INSERT 0 1").ready('T').bytes()),
           test::query_containing_answered(kLedgerInsertStart, Answer{}.complete("INSERT 0 1").ready('T').bytes()),
           test::query_answered("COMMIT", Answer{}.complete("COMMIT").ready('I').bytes()),
           test::query_containing_answered(kColumnDefaultsQuery, Answer{}.complete("SELECT 0").ready('I').bytes())}};

  rig.run_unit(kInsert, primary_inserted());

  CHECK(rig.run.plan.mirror == MirrorMode::wrapped);
  CHECK(rig.run.plan.writes);
  REQUIRE_FALSE(rig.run.key.empty());
  const auto queries = rig.peer.queries();
  REQUIRE(queries.size() == 5);
  CHECK(queries[0] == "BEGIN");
  CHECK(queries[1] == kInsert);
  CHECK(queries[2] == ledger_insert(rig.run.key));
  CHECK(queries[3] == "COMMIT");
  CHECK(queries[4].find(kColumnDefaultsQuery) != std::string::npos);
  CHECK(rig.peer.user() == "app");
  CHECK(rig.peer.password_received() == kPassword);
  CHECK(rig.peer.terminated());
  CHECK(rig.server.records().empty());
}

TEST_CASE("A unique violation on the mirror where the primary inserted is one mirror_error conflict",
          "[unit][proxy][dual_write]") {
  // What PostgreSQL answers in a transaction the INSERT failed: the ledger insert is refused, and
  // COMMIT rolls back.
  Rig rig{"",
          {test::query_answered("BEGIN", Answer{}.complete("BEGIN").ready('T').bytes()),
           test::query_answered(kInsert, Answer{}
                                             .error("23505", "duplicate key value violates unique constraint")
                                             .ready('E')
                                             .bytes()),
           test::query_containing_answered(
               kLedgerInsertStart,
               Answer{}.error("25P02", "current transaction is aborted").ready('E').bytes()),
           test::query_answered("COMMIT", Answer{}.complete("ROLLBACK").ready('I').bytes()),
           test::query_containing_answered(kColumnDefaultsQuery, Answer{}.complete("SELECT 0").ready('I').bytes())}};

  rig.run_unit(kInsert, primary_inserted());

  // DualWrite sends no ROLLBACK of its own once the primary succeeded: the ledger insert and
  // COMMIT go as ever, and the mirror's failed transaction turns the COMMIT into a rollback.
  const auto queries = rig.peer.queries();
  REQUIRE(queries.size() == 5);
  CHECK(queries[0] == "BEGIN");
  CHECK(queries[1] == kInsert);
  CHECK(queries[2] == ledger_insert(rig.run.key));
  CHECK(queries[3] == "COMMIT");
  CHECK(rig.peer.user() == "app");
  CHECK(rig.peer.password_received().empty());
  const auto records = rig.server.records();
  REQUIRE(records.size() == 1);
  const auto& record = records.front();
  CHECK(record.kind == ConflictKind::mirror_error);
  CHECK(record.idempotency_key == rig.run.key);
  CHECK(record.session == rig.session.info);
  CHECK(record.primary.command_tag == "INSERT 0 1");
  REQUIRE(record.mirror.error.has_value());
  CHECK(record.mirror.error->sqlstate == "23505");
  CHECK(record.mirror.reachability == conflict::Reachability::reached);
}

TEST_CASE("A write the primary lost to a deadlock is not sent to the mirror at all", "[unit][proxy][dual_write]") {
  Rig rig{kPassword, {}};

  rig.run_unit(kInsert, Answer{}.error("40P01", "deadlock detected").ready('I').outcome());

  CHECK(rig.run.plan.mirror == MirrorMode::wrapped);
  // Only the session's goodbye: no BEGIN, no INSERT, no ledger insert.
  REQUIRE(rig.peer.received().size() == 1);
  CHECK(rig.peer.received().front().tag == protocol::frontend_tag::kTerminate);
  CHECK(rig.run.mirror_connected_after);
  CHECK(rig.server.records().empty());
}

TEST_CASE("A mirror silent past mirror.timeout_ms is dropped, cancelled, and the unit is a mirror_timeout conflict",
          "[unit][proxy][dual_write]") {
  constexpr auto kMirrorTimeout = 200ms;
  Rig rig{kPassword,
          {test::query_answered("BEGIN", Answer{}.complete("BEGIN").ready('T').bytes()),
           test::query_left_unanswered(kInsert), test::cancel_request()},
          kMirrorTimeout};
  const auto started = std::chrono::steady_clock::now();

  rig.run_unit(kInsert, primary_inserted());

  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= kMirrorTimeout);
  CHECK(took < 3s);
  CHECK_FALSE(rig.run.mirror_connected_after);
  CHECK(rig.server.log_text().find("dropping the mirror connection") != std::string::npos);
  // Nothing after the INSERT it never answered, and a cancel for the INSERT, with the mirror's key.
  CHECK(rig.peer.queries() == std::vector<std::string>{"BEGIN", std::string{kInsert}});
  CHECK_FALSE(rig.peer.terminated());
  REQUIRE(rig.peer.cancel_received().has_value());
  CHECK(rig.peer.cancel_received()->process_id == FakePostgres::kKey.process_id);
  CHECK(rig.peer.cancel_received()->secret_key == FakePostgres::kKey.secret_key);
  const auto records = rig.server.records();
  REQUIRE(records.size() == 1);
  CHECK(records.front().kind == ConflictKind::mirror_timeout);
  CHECK(records.front().idempotency_key == rig.run.key);
  CHECK(records.front().mirror.reachability == conflict::Reachability::timed_out);
}

}  // namespace pgdual::proxy
