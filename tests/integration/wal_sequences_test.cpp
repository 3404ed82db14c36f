// SequenceCopier against the real servers: after a copy, `SELECT last_value, is_called` of every
// sequence is the same on both, whatever state the primary's is in, and the next id drawn on
// either server is the same; a sequence that cannot be copied is named in a warning and holds
// up no other.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "proxy/mirror/sequence_copier.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/wal_helpers.h"

namespace pgdual::test {
namespace {

namespace asio = proxy::asio;

/// The same on both servers. The copier is the only thing that moves the mirror's sequences here:
/// no WAL apply runs, so the mirror's tables stay empty and its sequences where the test puts them.
constexpr std::string_view kSchema = R"SQL(
CREATE TABLE patient (id serial PRIMARY KEY, name text);
CREATE TABLE visit (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
CREATE SEQUENCE untouched START 500;
CREATE SEQUENCE bed;
CREATE SCHEMA "Ward Two";
CREATE SEQUENCE "Ward Two"."Bed""Number" START 10 INCREMENT 5;
CREATE SEQUENCE pgdual.own;
)SQL";
/// kSchema's sequences outside pgdual's schema.
constexpr std::size_t kCopiedSequences = 5;
constexpr std::string_view kApplication = "pgdual_sequence_test";

proxy::BackendLogin login_of(const Endpoint& endpoint) {
  return proxy::BackendLogin{.user = endpoint.user,
                             .password = endpoint.password,
                             .protocol_version = 196608,
                             .parameters = {{"user", endpoint.user},
                                            {"database", endpoint.database},
                                            {"application_name", std::string{kApplication}}}};
}

/// SequenceCopier::run() on a thread of its own, as the server runs it beside the applier.
class RunningCopier {
 public:
  RunningCopier(asio::io_context& io, proxy::SequenceCopier& copier) : io_{io} {
    asio::co_spawn(io_, copier.run(), [this](std::exception_ptr error) {
      if (error) ended_.set_exception(error);
      else ended_.set_value();
    });
    io_.restart();
    thread_ = std::jthread{[this] { io_.run(); }};
  }
  RunningCopier(const RunningCopier&) = delete;
  RunningCopier& operator=(const RunningCopier&) = delete;
  ~RunningCopier() {
    io_.stop();
    thread_.join();
  }
  /// Whether run() ended within `limit`; rethrows what it threw.
  [[nodiscard]] bool ended_within(std::chrono::milliseconds limit) {
    if (ended_future_.wait_for(limit) != std::future_status::ready) return false;
    ended_future_.get();
    return true;
  }

 private:
  asio::io_context& io_;
  std::promise<void> ended_;
  std::future<void> ended_future_ = ended_.get_future();
  std::jthread thread_;
};

/// A fresh database with kSchema on both servers, and a SequenceCopier for it whose log is kept.
class SequenceCopierTest : public IntegrationTest {
 protected:
  enum class PrimaryLogin : std::uint8_t { superuser, app };

  void start(std::string_view label, PrimaryLogin primary_login = PrimaryLogin::superuser) {
    database_ = fresh_database(label);
    static_cast<void>(primary().run_sql(database_, std::string{kSchema}));
    static_cast<void>(mirror().run_sql(database_, std::string{kSchema}));
    auto to_stderr = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    to_stderr->set_level(spdlog::level::warn);
    const auto logger =
        std::make_shared<spdlog::logger>("sequence-copier-test", spdlog::sinks_init_list{log_, to_stderr});
    logger->set_level(spdlog::level::debug);
    const auto reader = primary_login == PrimaryLogin::app ? direct(database_) : primary().superuser(database_);
    const proxy::SequenceCopier::Options options{.primary_login = login_of(reader),
                                                 .mirror_login = login_of(mirror().superuser(database_))};
    copier_.emplace(backend_of(primary()), nullptr, backend_of(mirror(), "cloud"), nullptr, options, logger);
  }

  std::size_t copy_once() {
    auto copied = asio::co_spawn(io_, copier_->copy_once(), asio::use_future);
    io_.restart();
    io_.run();
    return copied.get();
  }

  /// `SELECT last_value, is_called` of `sequence` on `server`, as psql prints it: "100|t\n".
  [[nodiscard]] std::string state(const PgCluster& server, const std::string& sequence) const {
    return server.run_sql(database_, "SELECT last_value, is_called FROM " + sequence);
  }
  /// Checks that `sequence` is in `expected` state on both servers.
  void check_both(const std::string& sequence, const std::string& expected) const {
    INFO(sequence);
    CHECK(state(primary(), sequence) == expected);
    CHECK(state(mirror(), sequence) == expected);
  }
  /// Checks that `sql` draws `expected` on both servers.
  void check_next(const std::string& sql, const std::string& expected) const {
    INFO(sql);
    CHECK(primary().run_sql(database_, sql) == expected);
    CHECK(mirror().run_sql(database_, sql) == expected);
  }
  /// The warnings logged so far.
  [[nodiscard]] std::vector<std::string> warnings() const {
    std::vector<std::string> found;
    for (const auto& message : log_->last_raw()) {
      if (message.level == spdlog::level::warn) found.emplace_back(message.payload.begin(), message.payload.end());
    }
    return found;
  }

  [[nodiscard]] PgCluster& primary() const { return backends().onprem; }
  [[nodiscard]] PgCluster& mirror() const { return backends().cloud; }
  [[nodiscard]] const std::string& database() const { return database_; }
  [[nodiscard]] asio::io_context& io() { return io_; }
  [[nodiscard]] proxy::SequenceCopier& copier() { return *copier_; }

 private:
  std::string database_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  asio::io_context io_;
  std::optional<proxy::SequenceCopier> copier_;  // after io_: its connections go before their io_context
};

bool names(const std::vector<std::string>& messages, const std::string& sequence) {
  return std::ranges::any_of(messages,
                             [&](const std::string& message) { return message.find(sequence) != std::string::npos; });
}

}  // namespace

TEST_CASE_METHOD(SequenceCopierTest, "A serial column's sequence after 100 inserts is copied; both draw the next id",
                 "[integration][wal][sequences]") {
  start("seq_serial");
  static_cast<void>(
      primary().run_sql(database(), "INSERT INTO patient (name) SELECT 'p' FROM generate_series(1, 100)"));
  CHECK(state(mirror(), "patient_id_seq") == "1|f\n");

  CHECK(copy_once() == kCopiedSequences);
  check_both("patient_id_seq", "100|t\n");
  check_next("INSERT INTO patient (name) VALUES ('next') RETURNING id", "101\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "An identity column's sequence is copied, and both draw the next id",
                 "[integration][wal][sequences]") {
  start("seq_identity");
  static_cast<void>(primary().run_sql(database(), "INSERT INTO visit (note) SELECT 'v' FROM generate_series(1, 7)"));

  CHECK(copy_once() == kCopiedSequences);
  check_both("visit_id_seq", "7|t\n");
  check_next("INSERT INTO visit (note) VALUES ('next') RETURNING id", "8\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "A sequence never called on the primary is uncalled at its start on the mirror",
                 "[integration][wal][sequences]") {
  start("seq_never_called");
  static_cast<void>(mirror().run_sql(database(), "SELECT nextval('untouched'); SELECT nextval('untouched')"));
  CHECK(state(mirror(), "untouched") == "501|t\n");

  CHECK(copy_once() == kCopiedSequences);
  check_both("untouched", "500|f\n");
  check_next("SELECT nextval('untouched')", "500\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "A sequence set with setval(..., false) keeps that value uncalled on the mirror",
                 "[integration][wal][sequences]") {
  start("seq_setval_false");
  static_cast<void>(primary().run_sql(database(), "SELECT setval('bed', 42, false)"));

  CHECK(copy_once() == kCopiedSequences);
  check_both("bed", "42|f\n");
  check_next("SELECT nextval('bed')", "42\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "A sequence whose name needs quoting, in a schema with a space, is copied",
                 "[integration][wal][sequences]") {
  start("seq_quoted");
  const std::string sequence = R"("Ward Two"."Bed""Number")";
  static_cast<void>(primary().run_sql(database(), "SELECT nextval('" + sequence + "') FROM generate_series(1, 3)"));

  CHECK(copy_once() == kCopiedSequences);
  check_both(sequence, "20|t\n");
  check_next("SELECT nextval('" + sequence + "')", "25\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "pgdual's own sequences are left to each server",
                 "[integration][wal][sequences]") {
  start("seq_own");
  static_cast<void>(primary().run_sql(database(), "SELECT nextval('pgdual.own')"));

  CHECK(copy_once() == kCopiedSequences);
  CHECK(state(primary(), "pgdual.own") == "1|t\n");
  CHECK(state(mirror(), "pgdual.own") == "1|f\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "A sequence missing on the mirror is named in a warning once, the others copied",
                 "[integration][wal][sequences]") {
  start("seq_missing");
  static_cast<void>(primary().run_sql(database(), "CREATE SEQUENCE orphan START 7; SELECT nextval('orphan'); "
                                                  "SELECT setval('bed', 12)"));

  CHECK(copy_once() == kCopiedSequences);
  check_both("bed", "12|t\n");
  CHECK(warnings().size() == 1);
  CHECK(names(warnings(), R"("public"."orphan")"));
  CHECK(copier().progress().last_error.find("orphan") != std::string::npos);

  // Every pass tries it again, without another warning, until the mirror has it.
  CHECK(copy_once() == 0);
  CHECK(warnings().size() == 1);
  static_cast<void>(mirror().run_sql(database(), "CREATE SEQUENCE orphan START 7"));
  CHECK(copy_once() == 1);
  check_both("orphan", "7|t\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "Sequences the primary's login may not read are named in warnings, others copied",
                 "[integration][wal][sequences]") {
  // The app's login reads what it is granted, but not bed, nor "Ward Two"'s sequence, whose schema it may not use.
  start("seq_unreadable", PrimaryLogin::app);
  static_cast<void>(primary().run_sql(database(), R"(GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, "Ward Two" TO app;
                                                      REVOKE SELECT ON bed FROM app; SELECT setval('bed', 5);
                                                      SELECT nextval('untouched'))"));

  CHECK(copy_once() == kCopiedSequences - 2);
  check_both("untouched", "500|t\n");
  CHECK(state(mirror(), "bed") == "1|f\n");
  CHECK(warnings().size() == 2);
  CHECK(names(warnings(), R"("public"."bed")"));
  CHECK(names(warnings(), R"("Ward Two"."Bed""Number")"));
}

TEST_CASE_METHOD(SequenceCopierTest, "A pass after no change sets nothing; after one change, that one",
                 "[integration][wal][sequences]") {
  start("seq_unchanged");
  CHECK(copy_once() == kCopiedSequences);
  CHECK(copy_once() == 0);
  static_cast<void>(primary().run_sql(database(), "SELECT nextval('bed')"));
  CHECK(copy_once() == 1);
  check_both("bed", "1|t\n");
  CHECK(copy_once() == 0);
  const auto progress = copier().progress();
  CHECK(progress.passes == 4);
  CHECK(progress.sequences_copied == kCopiedSequences + 1);
  CHECK(progress.last_error.empty());
}

TEST_CASE_METHOD(SequenceCopierTest, "A pass after a lost connection fails, and the next one reconnects and sets all",
                 "[integration][wal][sequences]") {
  start("seq_reconnect");
  CHECK(copy_once() == kCopiedSequences);
  const std::string terminate = "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                                "WHERE application_name = '" + std::string{kApplication} + "'";
  CHECK(primary().run_sql(database(), terminate) == "t\n");
  static_cast<void>(primary().run_sql(database(), "SELECT setval('bed', 3)"));

  CHECK_THROWS_AS(copy_once(), proxy::SequenceCopyError);
  CHECK_FALSE(copier().progress().last_error.empty());
  // A new mirror connection may meet a mirror changed meanwhile: every sequence is set again.
  CHECK(copy_once() == kCopiedSequences);
  check_both("bed", "3|t\n");
}

TEST_CASE_METHOD(SequenceCopierTest, "run() copies within a few intervals, and stop() ends it at once",
                 "[integration][wal][sequences]") {
  start("seq_run");
  const auto interval = proxy::SequenceCopier::Options{}.interval;
  const auto same = [&](const std::string& sequence) {
    return state(primary(), sequence) == state(mirror(), sequence);
  };
  static_cast<void>(primary().run_sql(database(), "SELECT setval('bed', 30)"));
  RunningCopier running{io(), copier()};
  CHECK(wait_until([&] { return same("bed"); }, 3 * interval));

  static_cast<void>(primary().run_sql(database(), "INSERT INTO patient (name) SELECT 'p' FROM generate_series(1, 10)"));
  CHECK(wait_until([&] { return same("patient_id_seq"); }, 3 * interval));
  check_both("patient_id_seq", "10|t\n");

  asio::post(io(), [&] { copier().stop(); });
  CHECK(running.ended_within(interval / 4));
  CHECK(copier().progress().passes >= 2);
}

}  // namespace pgdual::test
