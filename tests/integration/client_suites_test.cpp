// The client-library suites in tests/clients (psycopg, JDBC, node pg) print deterministic
// transcripts. Run through pgdual, each must print exactly what it prints against PostgreSQL.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/transcript.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 300s;  // the JDBC suite compiles itself first
constexpr auto kConflictLogWait = 10s;

const std::filesystem::path kRunClient = std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests/clients/run_client.sh";

RunResult run_suite(const std::string& client, const Endpoint& endpoint) {
  return run_client({"bash", kRunClient.string(), client}, endpoint, kClientTimeout);
}

// differing_tables() describes a table as "name: onprem ..., cloud ...".
std::string table_named_in(const std::string& difference) { return difference.substr(0, difference.find(':')); }

bool records_table(const conflict::ConflictRecord& record, const std::string& table) {
  return std::ranges::any_of(record.tables, [&](const std::string& written) {
    return written == table || written == "public." + table;
  });
}

// The differing tables that no conflict record names, each with both summaries.
std::vector<std::string> unexplained(const std::vector<std::string>& differing,
                                     const std::vector<conflict::ConflictRecord>& records) {
  std::vector<std::string> left;
  for (const auto& difference : differing) {
    const auto table = table_named_in(difference);
    const bool explained =
        std::ranges::any_of(records, [&](const auto& record) { return records_table(record, table); });
    if (!explained) left.push_back(difference);
  }
  return left;
}

// pgdual may append a conflict record a moment after the client has its answer, so this waits for
// the records that would explain the differences, up to kConflictLogWait.
std::vector<conflict::ConflictRecord> conflicts_explaining(IntegrationTest& test,
                                                           const std::vector<std::string>& differing) {
  const auto deadline = std::chrono::steady_clock::now() + kConflictLogWait;
  for (;;) {
    auto records = test.conflicts();
    if (unexplained(differing, records).empty() || std::chrono::steady_clock::now() > deadline) return records;
    std::this_thread::sleep_for(50ms);
  }
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
  // Every write went to both backends, and they agreed about each, except where pgdual said they
  // might not: inserts drawing a serial key are flagged nondeterministic, and when concurrent
  // sessions draw from one sequence the two backends hand out the keys in different orders.
  const auto differing = differing_tables(database);
  const auto records = conflicts_explaining(test, differing);
  for (const auto& table : unexplained(differing, records)) {
    FAIL_CHECK("differs between the backends, and no conflict record names it: " << table);
  }
  for (const auto& record : records) CHECK(conflict::to_string(record.kind) == "nondeterministic");
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
