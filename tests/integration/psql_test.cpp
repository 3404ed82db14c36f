// psql through pgdual must print exactly what it prints when connected directly: results,
// notices, errors with their LINE/caret context, COPY in both directions, \gset variables.
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/integration/harness/fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kPsqlTimeout = 60s;

const std::filesystem::path kSessionScript =
    std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests/integration/data/psql_session.sql";

/// psql without ~/.psqlrc, continuing after errors, with the default error verbosity.
std::vector<std::string> psql_with(const std::vector<std::string>& arguments) {
  std::vector<std::string> argv{pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=default"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  return argv;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_CASE_METHOD(IntegrationTest, "a psql script session prints the same through pgdual as directly",
                 "[integration][psql]") {
  start_proxy();
  const auto argv = psql_with({"--echo-all", "-f", kSessionScript.string()});
  const auto direct_run = run_client(argv, direct(fresh_database("psql_direct")), kPsqlTimeout);
  const auto proxied_run = run_client(argv, through_proxy(fresh_database("psql_proxied")), kPsqlTimeout);

  {
    INFO("direct run: " << direct_run.describe());
    REQUIRE(direct_run.exit_code == 0);
    REQUIRE(contains(direct_run.out, "after_failed_copy"));  // the script ran to its end
    REQUIRE(contains(direct_run.err, "division by zero"));
    REQUIRE(contains(direct_run.err, "NOTICE:  patients: 3"));
  }
  check_same_output(direct_run, proxied_run);
}

TEST_CASE_METHOD(IntegrationTest, "multi-statement -c strings print the same through pgdual as directly",
                 "[integration][psql]") {
  start_proxy();
  const auto argv = psql_with({
      "-c", "SELECT 1 AS one; SELECT 'two' AS two; CREATE TEMP TABLE t AS SELECT 3 AS three; SELECT * FROM t",
      "-c", "SELECT 1 AS before_error; SELECT 1 / 0; SELECT 'never reached'",
      "-c", ";",
      "-c", "BEGIN; CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2); COMMIT; SELECT sum(x) FROM kept",
  });
  const auto direct_run = run_client(argv, direct(fresh_database("psql_c_direct")), kPsqlTimeout);
  const auto proxied_run = run_client(argv, through_proxy(fresh_database("psql_c_proxied")), kPsqlTimeout);

  {
    INFO("direct run: " << direct_run.describe());
    REQUIRE(contains(direct_run.out, "three"));
    REQUIRE(contains(direct_run.err, "division by zero"));
    REQUIRE_FALSE(contains(direct_run.out, "never reached"));
  }
  check_same_output(direct_run, proxied_run);
}

}  // namespace
}  // namespace pgdual::test
