// Read steering with two real servers made distinguishable: a table created directly on each,
// holding its own name. Which server answered a read is then in the answer.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

ProxySettings steering(const std::string& routing, const std::string& extra = {}) {
  auto settings = IntegrationTest::default_settings();
  settings.routing = routing;
  settings.extra = extra;
  return settings;
}

/// Which server answered: every other read goes as a simple Query, the others through the
/// extended protocol with the unnamed statement, as drivers send them.
std::string where(jobs::PgClient& client, int read) {
  if (read % 2 == 0) return client.query_value(kWhereAmI);
  return client.query("SELECT v FROM whereami WHERE $1::int > 0", {std::to_string(read + 1)}).at(0).at(0).value_or("");
}

int cloud_reads(jobs::PgClient& client, int reads) {
  int on_cloud = 0;
  for (int read = 0; read < reads; ++read) on_cloud += where(client, read) == "cloud" ? 1 : 0;
  return on_cloud;
}

/// Whether `observed` of `trials` is within four standard deviations of `percent`.
bool within_four_sigma(int observed, int trials, double percent) {
  const double p = percent / 100.0;
  const double sigma = std::sqrt(trials * p * (1 - p));
  return std::abs(observed - trials * p) <= 4 * sigma;
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "read_percent steers that share of autocommit reads to the cloud",
                 "[integration][steering]") {
  const auto database = distinguishable_database(*this, "steer_share");
  constexpr int kReads = 4000;
  for (const double percent : {0.0, 10.0, 50.0, 100.0}) {
    auto& proxy = start_proxy(steering("read_percent = " + std::to_string(percent) + "\n"));
    auto client = client_of(proxy, database);
    const int on_cloud = cloud_reads(client, kReads);
    INFO(percent << "%: " << on_cloud << " of " << kReads << " reads on the cloud");
    if (percent == 0.0 || percent == 100.0) {
      CHECK(on_cloud == static_cast<int>(kReads * percent / 100));
    } else {
      CHECK(within_four_sigma(on_cloud, kReads, percent));
    }
    proxy.stop();
  }
}

TEST_CASE_METHOD(IntegrationTest, "Per-session stickiness keeps each session on one server",
                 "[integration][steering]") {
  const auto database = distinguishable_database(*this, "steer_session");
  auto& proxy = start_proxy(steering("read_percent = 50\nread_stickiness = \"session\"\n"));
  constexpr int kSessions = 100;
  int cloud_sessions = 0;
  for (int session = 0; session < kSessions; ++session) {
    auto client = client_of(proxy, database);
    const int on_cloud = cloud_reads(client, 6);
    INFO("session " << session << ": " << on_cloud << " of 6 reads on the cloud");
    CHECK((on_cloud == 0 || on_cloud == 6));
    cloud_sessions += on_cloud == 6 ? 1 : 0;
  }
  INFO(cloud_sessions << " of " << kSessions << " sessions on the cloud");
  CHECK(within_four_sigma(cloud_sessions, kSessions, 50));
}

TEST_CASE_METHOD(IntegrationTest, "A rule steers its sessions by its own percentage", "[integration][steering]") {
  const auto ruled = distinguishable_database(*this, "steer_ruled");
  const auto other = distinguishable_database(*this, "steer_other");
  auto& proxy = start_proxy(steering("read_percent = 0\n",
                                     "\n[[routing.rules]]\nclient_cidr = \"10.0.0.0/8\"\nread_percent = 100\n"
                                     "\n[[routing.rules]]\ndatabase = \"" + ruled + "\"\nread_percent = 100\n"));
  auto ruled_client = client_of(proxy, ruled);
  auto other_client = client_of(proxy, other);
  CHECK(cloud_reads(ruled_client, 20) == 20);
  CHECK(cloud_reads(other_client, 20) == 0);
}

TEST_CASE_METHOD(IntegrationTest, "A session reads its own writes from the cloud, and from the primary after a conflict",
                 "[integration][steering]") {
  const auto database = distinguishable_database(*this, "steer_ryw");
  auto& proxy = start_proxy(steering("read_percent = 100\n"));
  auto client = client_of(proxy, database);
  client.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)");
  for (int note = 1; note <= 50; ++note) {
    client.execute("INSERT INTO notes VALUES (" + std::to_string(note) + ", 'zq-note')");
    const auto seen = client.query("SELECT (SELECT v FROM whereami), count(*) FROM notes");
    INFO("after note " << note);
    REQUIRE(seen.at(0).at(0).value_or("") == "cloud");
    REQUIRE(seen.at(0).at(1).value_or("") == std::to_string(note));
  }
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO notes VALUES (51, 'zq-mirror-only')"));
  client.execute("INSERT INTO notes VALUES (51, 'zq-primary')");
  REQUIRE(wait_for_conflicts(1, 10s).size() == 1);
  CHECK(cloud_reads(client, 20) == 0);
  auto fresh = client_of(proxy, database);
  CHECK(cloud_reads(fresh, 20) == 20);
}

TEST_CASE_METHOD(IntegrationTest, "A read the cloud cannot serve for a broken connection is answered by the primary",
                 "[integration][steering]") {
  const auto database = distinguishable_database(*this, "steer_failover");
  auto& proxy = start_proxy(steering("read_percent = 100\n"));
  auto client = client_of(proxy, database);
  REQUIRE(cloud_reads(client, 4) == 4);
  static_cast<void>(backends().cloud.run_sql(
      database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND usename = 'app'"));
  CHECK(where(client, 0) == "onprem");
  CHECK(proxy.log().find("dropping the mirror connection") != std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "The brake stops steering when the cloud's reads fail, which the primary answers",
                 "[integration][steering]") {
  const auto database = distinguishable_database(*this, "steer_brake");
  static_cast<void>(backends().onprem.run_sql(database, "CREATE TABLE primary_only (x int); "
                                                        "GRANT SELECT ON primary_only TO app"));
  auto& proxy = start_proxy(steering("read_percent = 100\n",
                                     "\n[brake]\nerror_rate_percent = 2\nwindow_seconds = 5\nmin_reads = 5\n"));
  auto client = client_of(proxy, database);
  int failed = 0;
  for (int read = 0; read < 10; ++read) {
    try {
      static_cast<void>(client.query("SELECT * FROM primary_only"));
    } catch (const jobs::PgClientError&) {
      ++failed;
    }
  }
  CHECK(failed == 0);
  INFO(proxy.log());
  CHECK(proxy.log_shows_within("read brake: error rate", 10s));
  CHECK(cloud_reads(client, 20) == 0);
  CHECK_NOTHROW(client.query("SELECT * FROM primary_only"));
}

}  // namespace pgdual::test

namespace pgdual::test {

TEST_CASE_METHOD(IntegrationTest, "When the cloud server stops, reads go on from the primary and the brake trips",
                 "[integration][steering]") {
  const auto database = distinguishable_database(*this, "steer_cloud_down");
  PgCluster cloud{"cloud-stops"};
  cloud.create_role(kAppUser, kAppPassword);
  cloud.create_database(database, kAppUser);
  static_cast<void>(cloud.run_sql(database, "CREATE TABLE whereami (v text); INSERT INTO whereami VALUES ('cloud'); "
                                            "GRANT SELECT ON whereami TO app"));
  auto settings = steering("read_percent = 100\n", "\n[brake]\nwindow_seconds = 5\nmin_reads = 5\n");
  settings.cloud_port = cloud.port();
  auto& proxy = start_proxy(settings);
  auto before = client_of(proxy, database);
  REQUIRE(cloud_reads(before, 4) == 4);

  cloud.shut_down();
  CHECK(cloud_reads(before, 4) == 0);
  auto during = client_of(proxy, database);
  CHECK(cloud_reads(during, 10) == 0);
  INFO(proxy.log());
  CHECK(proxy.log_shows_within("read brake: error rate", 10s));
}

}  // namespace pgdual::test

namespace pgdual::test {

TEST_CASE_METHOD(IntegrationTest, "A BEGIN READ ONLY transaction reads from one server from its start to its end",
                 "[integration][steering]") {
  const auto database = distinguishable_database(*this, "steer_read_only");
  auto& proxy = start_proxy(steering("read_percent = 50\n"));
  auto client = client_of(proxy, database);
  constexpr int kTransactions = 200;
  int on_cloud = 0;
  for (int transaction = 0; transaction < kTransactions; ++transaction) {
    client.execute("BEGIN READ ONLY");
    const int reads = cloud_reads(client, 4);
    client.execute("COMMIT");
    INFO("transaction " << transaction << ": " << reads << " of 4 reads on the cloud");
    REQUIRE((reads == 0 || reads == 4));
    on_cloud += reads == 4 ? 1 : 0;
  }
  INFO(on_cloud << " of " << kTransactions << " transactions on the cloud");
  CHECK(within_four_sigma(on_cloud, kTransactions, 50));

  client.execute("BEGIN");
  CHECK(cloud_reads(client, 10) == 0);
  client.execute("COMMIT");
}

}  // namespace pgdual::test
