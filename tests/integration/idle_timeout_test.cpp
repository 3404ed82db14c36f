// [limits] idle timeouts: a silent client is told why and closed, and its transaction rolls
// back on both servers.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE_METHOD(IntegrationTest, "Idle sessions are closed after the configured timeouts", "[integration][limits]") {
  const auto database = fresh_database("idle");
  auto& proxy = start_proxy(ProxyLimits{.idle_session_timeout_ms = 400, .idle_in_transaction_timeout_ms = 400});
  auto idle = client_of(proxy, database);
  auto in_transaction = client_of(proxy, database);
  auto busy = client_of(proxy, database);
  in_transaction.execute("BEGIN");
  in_transaction.execute("CREATE TABLE abandoned (x int)");
  for (int tick = 0; tick < 12; ++tick) {
    REQUIRE(busy.query_value("SELECT 1") == "1");
    std::this_thread::sleep_for(100ms);
  }
  CHECK_THROWS_WITH(idle.query_value("SELECT 1"), Contains("terminating connection due to idle-session timeout"));
  CHECK_THROWS_WITH(in_transaction.query_value("SELECT 1"),
                    Contains("terminating connection due to idle-in-transaction timeout"));
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    CHECK(server->run_sql(database, "SELECT to_regclass('abandoned') IS NULL") == "t\n");
  }
}

}  // namespace pgdual::test
