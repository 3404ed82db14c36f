// The client-library suites in tests/clients (psycopg, JDBC, node pg) print deterministic
// transcripts. Run through pgdual, each must print exactly what it prints against PostgreSQL.
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/transcript.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 300s;  // the JDBC suite compiles itself first

const std::filesystem::path kRunClient = std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests/clients/run_client.sh";

RunResult run_suite(const std::string& client, const Endpoint& endpoint) {
  return run_client({"bash", kRunClient.string(), client}, endpoint, kClientTimeout);
}

void check_suite_prints_the_same_through_pgdual(IntegrationTest& test, const std::string& client) {
  REQUIRE(std::filesystem::exists(kRunClient));
  test.start_proxy();
  const auto direct_run = run_suite(client, test.direct(test.fresh_database(client + "_direct")));
  {
    INFO("direct run: " << direct_run.describe());
    REQUIRE_FALSE(direct_run.timed_out);
    REQUIRE(direct_run.exit_code == 0);
    REQUIRE_FALSE(direct_run.out.empty());
  }
  const auto database = test.fresh_database(client + "_proxied");
  const auto proxied_run = run_suite(client, test.through_proxy(database));
  INFO("proxied run: " << proxied_run.describe());
  CHECK_FALSE(proxied_run.timed_out);
  CHECK(proxied_run.exit_code == 0);
  const auto difference = first_difference(direct_run.out, proxied_run.out);
  CHECK(difference == "");
  // Every write went to both backends, and they agreed about each. Inserts drawing a serial key
  // are flagged nondeterministic: one session draws the same keys on both, as the tables show.
  CHECK(differing_tables(database).empty());
  for (const auto& record : test.conflicts()) CHECK(conflict::to_string(record.kind) == "nondeterministic");
}

TEST_CASE_METHOD(IntegrationTest, "the psycopg suite prints the same transcript through pgdual as directly",
                 "[integration][clients]") {
  check_suite_prints_the_same_through_pgdual(*this, "psycopg");
}

TEST_CASE_METHOD(IntegrationTest, "the JDBC suite prints the same transcript through pgdual as directly",
                 "[integration][clients]") {
  check_suite_prints_the_same_through_pgdual(*this, "jdbc");
}

TEST_CASE_METHOD(IntegrationTest, "the node pg suite prints the same transcript through pgdual as directly",
                 "[integration][clients]") {
  check_suite_prints_the_same_through_pgdual(*this, "node");
}

}  // namespace
}  // namespace pgdual::test
