// [limits] at the client edge (issue 3, item 5), each answered with PostgreSQL's SQLSTATE: too
// many clients (53300), a startup packet too large or too slow (08P01), a message too large
// (08P01), and a backend that does not answer the login (08006, naming it) instead of a hang.
#include <catch2/catch.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/raw_client.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;

/// How long pgdual may take to answer and close where nothing slow is involved.
constexpr auto kAnswerLimit = 5s;
constexpr unsigned kConnectTimeoutMs = 1000;
const std::string kConnectTimeoutLine = "connect_timeout_ms = " + std::to_string(kConnectTimeoutMs) + "\n";
/// A login held up by a backend that does not answer ends within the connect timeout; the
/// margin is for a busy 2-core machine.
constexpr auto kBackendBound = std::chrono::milliseconds{kConnectTimeoutMs} + 4s;
/// PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
constexpr std::size_t kMaxStartupPacket = 10'000;

/// pgdual trusting every loopback client, so that raw clients log in without SCRAM.
ProxySettings trusting(const ProxyLimits& limits = {}) {
  auto settings = IntegrationTest::default_settings();
  settings.limits = limits;
  settings.extra = kTrustLoopbackClients;
  return settings;
}

long long milliseconds(Clock::duration elapsed) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

/// Reads until pgdual closes `client`, and checks that it said one FATAL ErrorResponse with
/// `sqlstate` first. Returns what arrived.
std::string check_closed_with(RawClient& client, const std::string& sqlstate,
                              std::chrono::milliseconds limit = kAnswerLimit) {
  const auto answer = client.receive_until_closed(limit);
  const auto messages = backend_messages(answer.bytes);
  INFO("answer: " << first_error_sqlstate(answer.bytes) << " " << first_error_message(answer.bytes));
  CHECK(answer.closed);
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].tag == 'E');
  CHECK(error_field(messages[0], 'S') == "FATAL");
  CHECK(error_field(messages[0], 'C') == sqlstate);
  return answer.bytes;
}

/// A StartupMessage for kAppUser and `database`, padded with application_name to `size` bytes.
std::string startup_packet_of_size(const std::string& database, std::size_t size) {
  const auto bare = startup_packet({{"user", kAppUser}, {"database", database}, {"application_name", ""}});
  const std::string padding(size - bare.size(), 'a');
  return startup_packet({{"user", kAppUser}, {"database", database}, {"application_name", padding}});
}

/// How a raw login through pgdual ended: in a ReadyForQuery, or an error and a close.
struct TimedLogin {
  std::string answer;
  bool closed = false;
  Clock::duration took{};
};

TimedLogin log_in_timed(std::uint16_t port, const std::string& database) {
  RawClient client{port};
  const auto started = Clock::now();
  client.send(startup_packet({{"user", kAppUser}, {"database", database}}));
  auto answer = client.receive_until_message('Z', 30s);
  return {answer.bytes, answer.closed, Clock::now() - started};
}

/// The client gets 08006 naming `backend`, within the connect timeout (and a margin).
void check_login_fails_naming(IntegrationTest& test, const std::string& backend) {
  const auto login = log_in_timed(test.proxy().port(), "postgres");
  std::cout << "[limits] login with backend " << backend << " not answering: ended after " << milliseconds(login.took)
            << " ms\n" << std::flush;
  INFO("answer: " << first_error_sqlstate(login.answer) << " " << first_error_message(login.answer));
  CHECK(login.closed);
  CHECK(first_error_sqlstate(login.answer) == "08006");
  CHECK_THAT(first_error_message(login.answer), Contains("backend \"" + backend + "\""));
  CHECK(login.took < kBackendBound);

  // psql tells its user the same.
  const auto psql = run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, test.through_proxy("postgres"), 60s);
  INFO(psql.describe());
  CHECK(psql.exit_code == 2);
  CHECK_THAT(psql.err, Contains("backend \"" + backend + "\""));
  CHECK(test.proxy().running());
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "Clients beyond limits.max_client_connections are refused with 53300",
                 "[integration][edge][limits]") {
  const auto database = fresh_database("max_clients");
  auto& pgdual_process = start_proxy(trusting({.max_client_connections = 2}));
  auto first = client_of(pgdual_process, database);
  std::optional<jobs::PgClient> second{client_of(pgdual_process, database)};

  RawClient third{pgdual_process.port()};
  third.send(startup_packet({{"user", kAppUser}, {"database", database}}));
  const auto refusal = check_closed_with(third, "53300");
  CHECK(first_error_message(refusal) == "sorry, too many clients already");

  const auto psql = run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, through_proxy(database), 60s);
  CHECK_THAT(psql.err, Contains("FATAL:  sorry, too many clients already"));

  // Cancel requests are not counted, as in PostgreSQL: this one is ignored silently, not refused.
  RawClient canceller{pgdual_process.port()};
  canceller.send(cancel_request_packet(1, 2));
  const auto cancel_answer = canceller.receive_until_closed(kAnswerLimit);
  CHECK(cancel_answer.closed);
  CHECK(cancel_answer.bytes.empty());

  second.reset();
  CHECK(wait_until(
      [&] {
        try {
          return client_of(pgdual_process, database).query_value("SELECT 1") == "1";
        } catch (const jobs::PgClientError&) {
          return false;
        }
      },
      kAnswerLimit));
  CHECK(first.query_value("SELECT 2") == "2");
}

TEST_CASE_METHOD(IntegrationTest, "A startup packet longer than PostgreSQL's 10000 bytes is refused with 08P01",
                 "[integration][edge][limits]") {
  const auto database = fresh_database("startup_size");
  auto& pgdual_process = start_proxy(trusting());

  RawClient largest{pgdual_process.port()};
  REQUIRE(largest.send(startup_packet_of_size(database, kMaxStartupPacket)));
  CHECK(holds_message(largest.receive_until_message('Z', 30s).bytes, 'Z'));

  RawClient too_large{pgdual_process.port()};
  too_large.send(startup_packet_of_size(database, kMaxStartupPacket + 1));
  check_closed_with(too_large, "08P01");

  // The declared length is enough: pgdual does not wait for a gigabyte to arrive.
  RawClient declared_huge{pgdual_process.port()};
  declared_huge.send(int32_bytes(1 << 30) + int32_bytes(196608));
  check_closed_with(declared_huge, "08P01");
  CHECK(pgdual_process.running());
}

TEST_CASE_METHOD(IntegrationTest, "A client that does not finish its startup in limits.startup_timeout is closed",
                 "[integration][edge][limits]") {
  const auto database = fresh_database("startup_timeout");
  auto& pgdual_process = start_proxy(ProxyLimits{.startup_timeout_ms = 500});
  const auto full_packet = startup_packet({{"user", kAppUser}, {"database", database}});

  SECTION("silent from the start") {
    RawClient silent{pgdual_process.port()};
    check_closed_with(silent, "08P01");
  }
  SECTION("half a startup packet") {
    RawClient half{pgdual_process.port()};
    half.send(full_packet.substr(0, full_packet.size() / 2));
    check_closed_with(half, "08P01");
  }
  SECTION("a startup packet, then no answer to the SCRAM challenge") {
    RawClient mute{pgdual_process.port()};
    mute.send(full_packet);
    const auto answer = mute.receive_until_closed(kAnswerLimit);
    const auto messages = backend_messages(answer.bytes);
    CHECK(answer.closed);
    REQUIRE(messages.size() == 2);
    CHECK(messages[0].tag == 'R');
    CHECK(messages[1].tag == 'E');
    CHECK(error_field(messages[1], 'S') == "FATAL");
  }
  auto bystander = client_of(pgdual_process, database);
  CHECK(bystander.query_value("SELECT 1") == "1");
}

TEST_CASE_METHOD(IntegrationTest, "A message longer than limits.max_message_bytes is refused with 08P01",
                 "[integration][edge][limits]") {
  const auto database = fresh_database("max_message");
  auto& pgdual_process = start_proxy(trusting({.max_message_bytes = 4096}));
  const auto fits = "SELECT length('" + std::string(3000, 'x') + "')";
  const auto too_long = "SELECT length('" + std::string(8000, 'x') + "')";

  RawClient client{pgdual_process.port()};
  REQUIRE(holds_message(log_in_trusted(client, kAppUser, database, 30s), 'Z'));
  client.send(query_message(fits));
  const auto answer = client.receive_until_message('Z', 30s);
  CHECK(first_error_sqlstate(answer.bytes).empty());
  CHECK(holds_message(answer.bytes, 'D'));
  client.send(query_message(too_long));
  check_closed_with(client, "08P01");

  // The declared length is enough: pgdual does not wait for the body.
  RawClient declared{pgdual_process.port()};
  REQUIRE(holds_message(log_in_trusted(declared, kAppUser, database, 30s), 'Z'));
  declared.send(std::string{'Q'} + int32_bytes(1 << 20));
  check_closed_with(declared, "08P01");

  auto bystander = client_of(pgdual_process, database);
  CHECK(bystander.query_value(fits) == "3000");
}

/// pgdual with a primary that stays silent as `kind` says; the login must fail naming it.
void check_silent_primary_fails_login(IntegrationTest& test, SilentListener::Kind kind) {
  SilentListener silent{kind};
  auto settings = trusting();
  settings.onprem_port = silent.port();
  settings.onprem_lines = settings.cloud_lines = kConnectTimeoutLine;
  test.start_proxy(settings);
  check_login_fails_naming(test, "onprem");
}

TEST_CASE_METHOD(IntegrationTest, "A primary that accepts but never answers fails the login with 08006 in time",
                 "[integration][edge][limits]") {
  check_silent_primary_fails_login(*this, SilentListener::Kind::answers_nothing);
}

TEST_CASE_METHOD(IntegrationTest, "A primary whose backlog is full fails the login with 08006 in time",
                 "[integration][edge][limits]") {
  check_silent_primary_fails_login(*this, SilentListener::Kind::full_backlog);
}

TEST_CASE_METHOD(IntegrationTest, "A mirror that never answers delays the login by the connect timeout at most",
                 "[integration][edge][limits]") {
  const auto database = fresh_database("silent_mirror");
  SilentListener silent{SilentListener::Kind::answers_nothing};
  auto settings = trusting();
  settings.cloud_port = silent.port();
  settings.onprem_lines = settings.cloud_lines = kConnectTimeoutLine;
  start_proxy(settings);

  const auto login = log_in_timed(proxy().port(), database);
  std::cout << "[limits] login with the mirror not answering: ended after " << milliseconds(login.took) << " ms\n"
            << std::flush;
  INFO("answer: " << first_error_sqlstate(login.answer) << " " << first_error_message(login.answer));
  CHECK(holds_message(login.answer, 'Z'));
  CHECK(login.took < kBackendBound);
  CHECK(proxy().log_shows_within("backend \"cloud\"", kAnswerLimit));

  auto client = client_of(proxy(), database);
  CHECK(client.query_value("SELECT 1") == "1");
  client.execute("CREATE TABLE served (n int)");
  CHECK(backends().onprem.run_sql(database, "SELECT to_regclass('served') IS NOT NULL") == "t\n");
}

}  // namespace pgdual::test
