// pgdual as a process: how it treats clients it cannot serve, and how it shuts down.
#include <catch2/catch.hpp>

#include <thread>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kPsqlTimeout = 30s;

RunResult select_through(const Endpoint& endpoint, const std::string& sql) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-c", sql}, endpoint, kPsqlTimeout);
}

bool reports_server_error(const RunResult& result) {
  return result.err.find("FATAL:") != std::string::npos || result.err.find("ERROR:") != std::string::npos;
}

TEST_CASE_METHOD(IntegrationTest, "pgdual refuses a user missing from its config and keeps serving the others",
                 "[integration][pgdual]") {
  const auto database = fresh_database("unknown_user");
  start_proxy();
  auto stranger = through_proxy(database);
  stranger.user = "stranger";

  const auto refused = select_through(stranger, "SELECT 1");
  INFO("stranger's psql: " << refused.describe());
  CHECK_FALSE(refused.timed_out);
  CHECK(refused.exit_code == 2);  // psql: the connection failed
  CHECK(reports_server_error(refused));
  CHECK(proxy().running());

  const auto served = select_through(through_proxy(database), "SELECT 40 + 2");
  INFO("app's psql: " << served.describe());
  CHECK(served.exit_code == 0);
  CHECK(served.out == "42\n");
}

TEST_CASE_METHOD(IntegrationTest, "pgdual refuses replication connections but not replication=false",
                 "[integration][pgdual]") {
  const auto database = fresh_database("replication");
  start_proxy();
  const auto endpoint = through_proxy(database);
  const auto with_replication = [&](const std::string& value) {
    return run_client({pg_program("psql"), "-X", "-A", "-t", "-d", "replication=" + value, "-c", "SELECT 'plain'"},
                      endpoint, kPsqlTimeout);
  };

  const auto refused = with_replication("database");
  INFO("replication=database: " << refused.describe());
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("pgdual does not proxy replication connections") != std::string::npos);

  const auto served = with_replication("false");
  INFO("replication=false: " << served.describe());
  CHECK(served.exit_code == 0);
  CHECK(served.out == "plain\n");
}

TEST_CASE_METHOD(IntegrationTest, "pgdual refuses clients beyond max_client_connections until one leaves",
                 "[integration][pgdual]") {
  const auto database = fresh_database("capacity");
  start_proxy(ProxyLimits{.max_client_connections = 2});
  TempDir output{"pgdual-capacity"};
  ProcessOptions options;
  options.env = through_proxy(database).libpq_env();
  const std::vector<std::string> sleeper{pg_program("psql"), "-X", "-c", "SELECT pg_sleep(2)"};
  Subprocess first{sleeper, options, output.path() / "first", output.path() / "first"};
  Subprocess second{sleeper, options, output.path() / "second", output.path() / "second"};
  const auto both_sleeping = [&] {
    return primary().run_sql(database, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(2)' "
                                       "AND state = 'active'") == "2\n";
  };
  for (int attempt = 0; attempt < 100 && !both_sleeping(); ++attempt) std::this_thread::sleep_for(50ms);
  REQUIRE(both_sleeping());

  const auto refused = select_through(through_proxy(database), "SELECT 'third'");
  INFO("third client: " << refused.describe());
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("sorry, too many clients already") != std::string::npos);

  CHECK(first.wait_for(10s) == 0);
  CHECK(second.wait_for(10s) == 0);
  const auto served = select_through(through_proxy(database), "SELECT 'room again'");
  INFO("after the others left: " << served.describe());
  CHECK(served.out == "room again\n");
}

TEST_CASE_METHOD(IntegrationTest, "pgdual exits promptly with code 0 on SIGTERM after serving a client",
                 "[integration][pgdual]") {
  const auto database = fresh_database("sigterm");
  start_proxy();
  const auto served = select_through(through_proxy(database), "SELECT 'served'");
  INFO("psql: " << served.describe());
  CHECK(served.out == "served\n");

  const auto signalled = std::chrono::steady_clock::now();
  CHECK(proxy().stop() == 0);
  // No statement was running, so the shutdown grace period has nothing to wait for.
  const double seconds_to_exit = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  CHECK(seconds_to_exit < 5.0);
}

}  // namespace
}  // namespace pgdual::test
