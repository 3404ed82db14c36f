// Hostile input at the client edge (issue 3, item 6): malformed and truncated packets, random
// bytes, garbage after a login, a client sending one byte a second and one that never reads. Each
// gets an ErrorResponse where PostgreSQL would send one and is closed, while another session
// through the same pgdual keeps working and pgdual stays up.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/raw_client.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// How long pgdual may take to answer and close a connection where nothing slow is involved.
constexpr auto kAnswerLimit = 5s;
constexpr unsigned kStartupTimeoutMs = 2000;
/// A few queries on a healthy session: instant, and well within this on a busy 2-core machine.
constexpr auto kServiceBound = 5s;
constexpr std::int32_t kProtocol3 = 196608;

/// pgdual trusting every loopback client, so that raw clients log in without SCRAM, with a short
/// startup timeout.
ProxySettings hostile_settings() {
  auto settings = IntegrationTest::default_settings();
  settings.limits.startup_timeout_ms = kStartupTimeoutMs;
  settings.extra = kTrustLoopbackClients;
  return settings;
}

/// A session through pgdual that must not notice the hostile ones: each check() runs a few
/// statements on it and on a fresh session, within kServiceBound.
class Bystander {
 public:
  Bystander(IntegrationTest& test, std::string database)
      : test_{test}, database_{std::move(database)}, session_{client_of(test.proxy(), database_)} {
    session_.execute("CREATE TABLE IF NOT EXISTS bystander (n int)");
  }

  void check() {
    const auto started = Clock::now();
    REQUIRE(session_.query_value("SELECT 1 + 1") == "2");
    session_.execute("INSERT INTO bystander VALUES (1)");
    const auto rows = session_.query_value("SELECT count(*) FROM bystander");
    auto fresh = client_of(test_.proxy(), database_);
    CHECK(fresh.query_value("SELECT count(*) FROM bystander") == rows);
    CHECK(Clock::now() - started < kServiceBound);
    CHECK(test_.proxy().running());
  }

 private:
  IntegrationTest& test_;
  std::string database_;
  jobs::PgClient session_;
};

/// Sessions a raw client left on `server`: they must go when the raw client does.
int raw_sessions_on(const PgCluster& server) {
  return std::stoi(server.run_sql("postgres", std::string{"SELECT count(*) FROM pg_stat_activity WHERE "
                                                          "application_name = '"} +
                                                  kRawApplicationName + "'"));
}

void check_raw_sessions_end() {
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    INFO("raw client sessions left on " << server->name());
    CHECK(wait_until([&] { return raw_sessions_on(*server) == 0; }, 10s));
  }
}

/// Reads until pgdual closes `client`; checks it said a FATAL ErrorResponse with `sqlstate` first.
void check_closed_with(RawClient& client, const std::string& sqlstate) {
  const auto answer = client.receive_until_closed(kAnswerLimit);
  const auto messages = backend_messages(answer.bytes);
  INFO("answer: " << first_error_sqlstate(answer.bytes) << " " << first_error_message(answer.bytes));
  CHECK(answer.closed);
  REQUIRE_FALSE(messages.empty());
  CHECK(messages[0].tag == 'E');
  CHECK(error_field(messages[0], 'S') == "FATAL");
  CHECK(error_field(messages[0], 'C') == sqlstate);
}

std::string random_bytes(std::mt19937& generator, std::size_t size) {
  std::uniform_int_distribution<int> byte{0, 255};
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(byte(generator));
  return bytes;
}

/// Messages with well-formed framing and tags a client may send, each with a random body.
std::string random_messages(std::mt19937& generator, int count) {
  static constexpr std::string_view kTags = "QPBEDCSHFdcfpX";
  std::uniform_int_distribution<std::size_t> tag{0, kTags.size() - 1};
  std::uniform_int_distribution<std::size_t> size{0, 64};
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    const char chosen = kTags[tag(generator)];
    bytes += tagged_message(chosen, random_bytes(generator, size(generator)));
  }
  return bytes;
}

struct MalformedStartup {
  const char* what;
  std::string bytes;
  const char* sqlstate;
};

std::vector<MalformedStartup> malformed_startups(const std::string& database) {
  const auto version = int32_bytes(kProtocol3);
  const std::string parameters = std::string{"user\0app\0database\0", 18} + database + '\0';
  return {
      {"length 3, below the length word itself", int32_bytes(3), "08P01"},
      {"length 0", int32_bytes(0), "08P01"},
      {"a negative length", int32_bytes(-1), "08P01"},
      {"length 7, too short for a request code", int32_bytes(7) + "abc", "08P01"},
      {"length 10001, over PostgreSQL's limit", int32_bytes(10'001) + version, "08P01"},
      {"protocol 2.0", int32_bytes(8) + int32_bytes(2 << 16), "0A000"},
      {"an unknown request code", int32_bytes(8) + int32_bytes(1234 << 16 | 9999), "0A000"},
      {"parameters without their terminator", int32_bytes(static_cast<std::int32_t>(8 + parameters.size())) + version +
                                                  parameters,
       "08P01"},
      {"a parameter name without its value", int32_bytes(13) + version + std::string{"user\0", 5}, "08P01"},
      {"an SSLRequest with a body", int32_bytes(12) + int32_bytes(80877103) + int32_bytes(0), "08P01"},
      {"a CancelRequest without its secret", int32_bytes(12) + int32_bytes(80877102) + int32_bytes(1), "08P01"},
      {"no user name", startup_packet({{"database", database}}), "28000"},
  };
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "Malformed startup packets are answered with PostgreSQL's SQLSTATE and closed",
                 "[integration][edge][hostile]") {
  const auto database = fresh_database("hostile_startup");
  start_proxy(hostile_settings());
  Bystander bystander{*this, database};
  for (const auto& malformed : malformed_startups(database)) {
    INFO(malformed.what);
    RawClient client{proxy().port()};
    client.send(malformed.bytes);
    check_closed_with(client, malformed.sqlstate);
    bystander.check();
  }
}

TEST_CASE_METHOD(IntegrationTest, "A message cut short, then a close, ends only that session",
                 "[integration][edge][hostile]") {
  const auto database = fresh_database("hostile_truncated");
  start_proxy(hostile_settings());
  Bystander bystander{*this, database};

  const auto packet = startup_packet({{"user", kAppUser}, {"database", database}});
  for (const auto& cut : {query_message("SELECT 1").substr(0, 7), std::string{'P'} + int32_bytes(200) + "stmt",
                          std::string{"Q\0\0", 3}}) {
    {
      RawClient early{proxy().port()};
      early.send(packet.substr(0, packet.size() / 2));
    }
    RawClient client{proxy().port()};
    REQUIRE(holds_message(log_in_trusted(client, kAppUser, database, 30s), 'Z'));
    client.send(cut);
    client.close();
    bystander.check();
  }
  check_raw_sessions_end();
  bystander.check();
}

TEST_CASE_METHOD(IntegrationTest, "Unknown and malformed messages after a login get 08P01, as from PostgreSQL",
                 "[integration][edge][hostile]") {
  const auto database = fresh_database("hostile_tags");
  start_proxy(hostile_settings());
  Bystander bystander{*this, database};
  const std::vector<std::pair<const char*, std::string>> garbage{
      {"an unknown tag", tagged_message('z', "")},
      {"a NUL tag", tagged_message('\0', "abc")},
      {"a PasswordMessage after the login", tagged_message('p', std::string{"secret\0", 7})},
      {"a Flush with a body", tagged_message('H', "x") + query_message("SELECT 1")},
      {"a length below 4", std::string{'Q'} + int32_bytes(2)},
      {"a negative length", std::string{'Q'} + int32_bytes(-5)},
  };
  for (const auto& [what, bytes] : garbage) {
    INFO(what);
    RawClient client{proxy().port()};
    REQUIRE(holds_message(log_in_trusted(client, kAppUser, database, 30s), 'Z'));
    client.send(bytes);
    check_closed_with(client, "08P01");
    bystander.check();
  }

  // A Query without its terminating NUL: PostgreSQL answers ERROR, not FATAL, and goes on.
  RawClient client{proxy().port()};
  REQUIRE(holds_message(log_in_trusted(client, kAppUser, database, 30s), 'Z'));
  client.send(tagged_message('Q', "SELECT 1"));
  const auto messages = backend_messages(client.receive_until_message('Z', kAnswerLimit).bytes);
  REQUIRE(messages.size() == 2);
  CHECK(error_field(messages[0], 'S') == "ERROR");
  CHECK(error_field(messages[0], 'C') == "08P01");
  client.send(query_message("SELECT 1"));
  CHECK(holds_message(client.receive_until_message('Z', kAnswerLimit).bytes, 'D'));
  client.close();
  check_raw_sessions_end();
}

TEST_CASE_METHOD(IntegrationTest, "A Query the server skips after an extended-protocol error stalls nothing",
                 "[integration][edge][hostile]") {
  const auto database = fresh_database("hostile_skipped_query");
  start_proxy(hostile_settings());
  RawClient client{proxy().port()};
  REQUIRE(holds_message(log_in_trusted(client, kAppUser, database, 30s), 'Z'));
  // A read (the primary alone) and a write (the mirror too, in a transaction of its own).
  for (const std::string statement : {"SELECT * FROM no_such_table", "INSERT INTO no_such_table VALUES (1)"}) {
    INFO(statement);
    // Parse fails, and the server skips everything up to the next Sync: the Query too, unanswered.
    const auto parse = tagged_message('P', std::string{"\0", 1} + statement + std::string{"\0\0\0", 3});
    client.send(parse + query_message("SELECT 1"));
    CHECK(first_error_sqlstate(client.receive_until_message('E', kAnswerLimit).bytes) == "42P01");
    client.send(tagged_message('S', ""));
    CHECK(holds_message(client.receive_until_message('Z', kAnswerLimit).bytes, 'Z'));
    client.send(query_message("SELECT 2"));
    const auto answer = client.receive_until_message('Z', kAnswerLimit);
    CHECK(holds_message(answer.bytes, 'D'));
    CHECK(first_error_sqlstate(answer.bytes).empty());
  }
}

TEST_CASE_METHOD(IntegrationTest, "Random bytes, before or after a login, end only their own session",
                 "[integration][edge][hostile]") {
  const auto database = fresh_database("hostile_random");
  start_proxy(hostile_settings());
  Bystander bystander{*this, database};
  for (unsigned seed = 1; seed <= 8; ++seed) {
    INFO("seed " << seed);
    std::mt19937 generator{seed};
    const auto body = random_bytes(generator, 200);
    const auto parameters = random_bytes(generator, 100) + '\0';
    for (const auto& before_login :
         {random_bytes(generator, 512), int32_bytes(static_cast<std::int32_t>(4 + body.size())) + body,
          int32_bytes(static_cast<std::int32_t>(8 + parameters.size())) + int32_bytes(kProtocol3) + parameters}) {
      RawClient client{proxy().port()};
      client.send(before_login);
      client.finish_sending();
      CHECK(client.receive_until_closed(kAnswerLimit).closed);
    }
    for (const auto& after_login : {random_bytes(generator, 4096), random_messages(generator, 40)}) {
      RawClient client{proxy().port()};
      REQUIRE(holds_message(log_in_trusted(client, kAppUser, database, 30s), 'Z'));
      client.send(after_login);
      client.finish_sending();
      CHECK(client.receive_until_closed(kAnswerLimit).closed);
    }
    bystander.check();
  }
  check_raw_sessions_end();
}

TEST_CASE_METHOD(IntegrationTest, "A client sending its startup packet a byte a second is closed at startup_timeout",
                 "[integration][edge][hostile]") {
  const auto database = fresh_database("hostile_slowloris");
  start_proxy(hostile_settings());
  Bystander bystander{*this, database};
  const auto packet = startup_packet({{"user", kAppUser}, {"database", database}});

  RawClient slow{proxy().port()};
  const auto started = Clock::now();
  RawClient::Reception answer;
  for (std::size_t sent = 0; sent < packet.size() && !answer.closed; ++sent) {
    slow.send(packet.substr(sent, 1));
    bystander.check();
    answer = slow.receive_until_closed(1s);
  }
  const auto took = Clock::now() - started;
  std::cout << "[hostile] one byte a second: closed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n"
            << std::flush;
  INFO("answer: " << first_error_sqlstate(answer.bytes) << " " << first_error_message(answer.bytes));
  CHECK(answer.closed);
  CHECK(first_error_sqlstate(answer.bytes) == "08P01");
  CHECK(took < std::chrono::milliseconds{kStartupTimeoutMs} + kAnswerLimit);
  bystander.check();
}

TEST_CASE_METHOD(IntegrationTest, "A client that never reads its results holds up only its own session",
                 "[integration][edge][hostile]") {
  const auto database = fresh_database("hostile_never_reads");
  start_proxy(hostile_settings());
  Bystander bystander{*this, database};

  RawClient hoarder{proxy().port()};
  REQUIRE(holds_message(log_in_trusted(hoarder, kAppUser, database, 30s), 'Z'));
  hoarder.send(query_message("SELECT repeat('x', 1000000) FROM generate_series(1, 200)"));
  REQUIRE(wait_until([] { return raw_sessions_on(backends().onprem) == 1; }, 10s));
  for (int round = 0; round < 5; ++round) {
    bystander.check();
    std::this_thread::sleep_for(200ms);
  }
  // pgdual relays what the client takes and no more: it holds nothing like the 200 MB result.
  std::ifstream status{"/proc/" + std::to_string(proxy().pid()) + "/status"};
  std::string line;
  long peak_kib = 0;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) peak_kib = std::stol(line.substr(6));
  }
  std::cout << "[hostile] a client that never reads: pgdual's peak resident memory " << peak_kib << " KiB\n"
            << std::flush;
  CHECK(peak_kib < 64 * 1024);

  hoarder.close();
  check_raw_sessions_end();
  bystander.check();
}

}  // namespace pgdual::test
