// Limits hostile clients cannot use against others (issue 21, item 6): connections still logging
// in have a cap of their own (limits.max_logins_in_progress), apart from the logged-in sessions
// (limits.max_client_connections), so a flood of half-open logins delays no client that logs in.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/raw_client.h"
#include "tests/integration/harness/test_ca.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;
using RawClients = std::vector<std::unique_ptr<RawClient>>;

/// How long pgdual may take to answer where nothing slow is involved: far below the 10 s startup
/// timeout a half-open login holds its connection for.
constexpr auto kAnswerLimit = 5s;
/// How long a connection pgdual keeps open must stay silent to count as kept.
constexpr auto kStillOpenProbe = 200ms;
/// The SSLRequest code: 1234 in the high 16 bits, 5679 in the low.
constexpr std::int32_t kSslRequestCode = 80877103;

/// pgdual with `limits`, its HTTP endpoint on `metrics_port`; clients log in with SCRAM.
ProxySettings with_metrics(const ProxyLimits& limits, std::uint16_t metrics_port) {
  auto settings = IntegrationTest::default_settings();
  settings.limits = limits;
  settings.log_level = "info";  // debug would log a line per connection of the flood, twice
  settings.extra = "\n[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port) + "\n";
  return settings;
}

/// The value of the sample `name` (no labels) on pgdual's /metrics; empty when absent.
std::string metric(std::uint16_t metrics_port, const std::string& name) {
  std::istringstream lines{http_get(metrics_port, "/metrics").out};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(name + " ")) return line.substr(name.size() + 1);
  }
  return {};
}

/// `count` connections that each sent the first half of a startup packet and then nothing more.
RawClients half_open_logins(std::uint16_t port, std::size_t count, const std::string& database) {
  const auto packet = startup_packet({{"user", kAppUser}, {"database", database}});
  RawClients clients;
  for (std::size_t i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<RawClient>(port));
    REQUIRE(clients.back()->send(packet.substr(0, packet.size() / 2)));
  }
  return clients;
}

/// True when pgdual closed `client` without a word: what a client that never finished its startup
/// packet gets when its login is ended.
bool closed_silently(RawClient& client, std::chrono::milliseconds limit) {
  const auto answer = client.receive_until_closed(limit);
  return answer.closed && answer.bytes.empty();
}

/// psql through pgdual over TLS, running `sql`.
RunResult psql_over_tls(IntegrationTest& test, const std::string& database, const std::string& sql) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-d", "dbname=" + database + " sslmode=require", "-c", sql},
                    test.through_proxy(database), 60s);
}

long long milliseconds(Clock::duration elapsed) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "A thousand half-open logins do not count against limits.max_client_connections",
                 "[integration][edge][limits]") {
  constexpr unsigned kSessions = 5;
  constexpr std::size_t kFlood = 1000;
  const auto database = fresh_database("login_flood");
  const auto metrics_port = free_loopback_port();
  auto& pgdual_process = start_proxy(
      with_metrics({.max_client_connections = kSessions, .max_logins_in_progress = 2 * kFlood}, metrics_port));
  auto flood = half_open_logins(pgdual_process.port(), kFlood, database);
  REQUIRE(wait_until([&] { return metric(metrics_port, "pgdual_logins_in_progress") == std::to_string(kFlood); },
                     kAnswerLimit));

  // Far below the startup timeout, after which the flood would have gone by itself.
  const auto started = Clock::now();
  std::vector<jobs::PgClient> sessions;
  sessions.push_back(client_of(pgdual_process, database));
  CHECK(sessions.back().query_value("SELECT 1") == "1");
  const auto took = Clock::now() - started;
  std::cout << "[limits] SCRAM login and a query beside " << kFlood << " half-open logins: " << milliseconds(took)
            << " ms\n" << std::flush;
  CHECK(took < kAnswerLimit);

  // The sessions' own cap holds as before: the one beyond it is refused with 53300.
  while (sessions.size() < kSessions) sessions.push_back(client_of(pgdual_process, database));
  const auto refused = run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, through_proxy(database), 60s);
  INFO(refused.describe());
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Contains("FATAL:  sorry, too many clients already"));
  for (auto& session : sessions) CHECK(session.query_value("SELECT 2") == "2");

  CHECK(metric(metrics_port, "pgdual_logins_evicted_total") == "0");
  CHECK_FALSE(closed_silently(*flood.front(), kStillOpenProbe));
  CHECK_FALSE(closed_silently(*flood.back(), kStillOpenProbe));
  flood.clear();
  CHECK(wait_until([&] { return metric(metrics_port, "pgdual_logins_in_progress") == "0"; }, kAnswerLimit));
  CHECK(pgdual_process.running());
}

TEST_CASE_METHOD(IntegrationTest, "Beyond limits.max_logins_in_progress a new connection ends the oldest login",
                 "[integration][edge][limits]") {
  constexpr std::size_t kLogins = 10;
  constexpr std::size_t kFlood = 50;
  const auto database = fresh_database("login_eviction");
  const auto metrics_port = free_loopback_port();
  auto& pgdual_process = start_proxy(with_metrics({.max_logins_in_progress = kLogins}, metrics_port));

  // Its startup packet complete, the oldest login hears why it ends.
  RawClient mute{pgdual_process.port()};
  mute.send(startup_packet({{"user", kAppUser}, {"database", database}}));
  REQUIRE(holds_message(mute.receive_until_message('R', kAnswerLimit).bytes, 'R'));
  // Alone: the harness's probe of whether pgdual listens has gone.
  REQUIRE(wait_until([&] { return metric(metrics_port, "pgdual_logins_in_progress") == "1"; }, kAnswerLimit));

  auto flood = half_open_logins(pgdual_process.port(), kFlood, database);
  const auto answer = mute.receive_until_closed(kAnswerLimit);
  const auto messages = backend_messages(answer.bytes);
  CHECK(answer.closed);
  REQUIRE(messages.size() == 1);
  CHECK(error_field(messages[0], 'S') == "FATAL");
  CHECK(error_field(messages[0], 'C') == "53300");
  CHECK(error_field(messages[0], 'M') == "too many connections logging in");

  // The mute login and the oldest of the flood made room for the newest kLogins.
  const auto evicted_by_flood = std::to_string(kFlood + 1 - kLogins);
  CHECK(wait_until([&] { return metric(metrics_port, "pgdual_logins_evicted_total") == evicted_by_flood; },
                   kAnswerLimit));
  CHECK(metric(metrics_port, "pgdual_logins_in_progress") == std::to_string(kLogins));
  std::size_t closed = 0;
  for (auto& client : flood) closed += closed_silently(*client, kStillOpenProbe) ? 1 : 0;
  CHECK(closed == kFlood - kLogins);
  CHECK(pgdual_process.log_shows_within("limits.max_logins_in_progress (10) were in progress", kAnswerLimit));

  // Real clients log in at once: the first ends one more login of the flood, and once logged in
  // no longer counts as one, which leaves room for the second.
  const auto started = Clock::now();
  auto first = client_of(pgdual_process, database);
  auto second = client_of(pgdual_process, database);
  CHECK(first.query_value("SELECT 1") == "1");
  CHECK(second.query_value("SELECT 2") == "2");
  CHECK(Clock::now() - started < kAnswerLimit);
  CHECK(metric(metrics_port, "pgdual_logins_evicted_total") == std::to_string(kFlood + 2 - kLogins));
  CHECK(metric(metrics_port, "pgdual_logins_in_progress") == std::to_string(kLogins - 1));
}

TEST_CASE_METHOD(IntegrationTest, "A TLS handshake and a password exchange in progress are logins in progress too",
                 "[integration][edge][limits]") {
  const auto database = fresh_database("login_phases");
  const auto metrics_port = free_loopback_port();
  auto settings = with_metrics({.max_logins_in_progress = 1}, metrics_port);
  settings.extra += "\n[tls]\nmode = \"allow\"\ncert_file = \"" + test_ca().server_cert.string() +
                    "\"\nkey_file = \"" + test_ca().server_key.string() + "\"\n";
  // One worker thread: connections start logging in in the order they came, the harness's probe of
  // whether pgdual listens first, so that the oldest is always the one this test expects.
  settings.extra += "\n[server]\nthreads = 1\n";
  auto& pgdual_process = start_proxy(settings);

  // pgdual said yes to TLS and waits for a ClientHello that never comes.
  RawClient mid_handshake{pgdual_process.port()};
  mid_handshake.send(int32_bytes(8) + int32_bytes(kSslRequestCode));
  REQUIRE(mid_handshake.receive_until_message('S', kAnswerLimit).bytes == "S");
  // The probe may have been ended for it, or have gone by itself.
  const auto evicted_before = std::stoull(metric(metrics_port, "pgdual_logins_evicted_total"));

  // The next login ends it, in silence: it had not sent its startup packet.
  RawClient mute{pgdual_process.port()};
  mute.send(startup_packet({{"user", kAppUser}, {"database", database}}));
  REQUIRE(holds_message(mute.receive_until_message('R', kAnswerLimit).bytes, 'R'));
  CHECK(closed_silently(mid_handshake, kAnswerLimit));

  // A client logging in over TLS with SCRAM ends the one that never answers its SCRAM challenge,
  // which hears why.
  const auto served = psql_over_tls(*this, database, "SELECT 'served'");
  INFO(served.describe());
  CHECK(served.out == "served\n");
  const auto answer = mute.receive_until_closed(kAnswerLimit);
  const auto messages = backend_messages(answer.bytes);
  CHECK(answer.closed);
  REQUIRE(messages.size() == 1);
  CHECK(error_field(messages[0], 'C') == "53300");
  CHECK(metric(metrics_port, "pgdual_logins_evicted_total") == std::to_string(evicted_before + 2));
}

}  // namespace pgdual::test
