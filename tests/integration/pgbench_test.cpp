// pgbench through pgdual: initialization (COPY, DDL, VACUUM), then the select-only and
// simple-update scripts in every query mode (simple, extended, prepared). With a fixed seed
// and a fixed number of transactions per client, the balances pgbench leaves are
// deterministic, so the proxied database must end up exactly like the direct one.
#include <catch2/catch.hpp>

#include <chrono>

#include "tests/integration/harness/fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kPgbenchTimeout = 180s;
constexpr int kClients = 4;
constexpr int kTransactionsPerClient = 50;

struct PgbenchSummary {
  int processed = -1;
  int failed = -1;
};

/// The number after `label` in pgbench's summary, or -1 when the line is missing.
int number_after(const std::string& output, const std::string& label) {
  const auto at = output.find(label);
  if (at == std::string::npos) return -1;
  return std::stoi(output.substr(at + label.size()));
}

PgbenchSummary summary_of(const RunResult& result) {
  return {.processed = number_after(result.out, "number of transactions actually processed: "),
          .failed = number_after(result.out, "number of failed transactions: ")};
}

RunResult initialize(const Endpoint& endpoint) {
  return run_client({pg_program("pgbench"), "--initialize", "--scale=1"}, endpoint, kPgbenchTimeout);
}

RunResult bench(const Endpoint& endpoint, const std::string& script, const std::string& mode) {
  return run_client({pg_program("pgbench"), "--no-vacuum", script, "--protocol=" + mode,
                     "--client=" + std::to_string(kClients), "--jobs=1",
                     "--transactions=" + std::to_string(kTransactionsPerClient), "--random-seed=20240601"},
                    endpoint, kPgbenchTimeout);
}

void check_all_transactions_succeeded_by(const RunResult& result, int transactions) {
  check_succeeded(result);
  INFO(result.out);
  const auto summary = summary_of(result);
  CHECK(summary.processed == transactions);
  CHECK(summary.failed == 0);
}

void check_all_transactions_succeeded(const RunResult& result) {
  check_all_transactions_succeeded_by(result, kClients * kTransactionsPerClient);
}

/// What pgbench's writes leave behind, as one comparable line.
std::string state_of(PgCluster& cluster, const std::string& database) {
  return cluster.run_sql(database,
                         "SELECT (SELECT count(*) FROM pgbench_accounts),"
                         " (SELECT md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid))"
                         "    FROM pgbench_accounts WHERE abalance <> 0),"
                         " (SELECT count(*) || ':' || coalesce(sum(delta), 0) FROM pgbench_history)");
}

TEST_CASE_METHOD(IntegrationTest, "pgbench runs every query mode through pgdual and leaves the same data as directly",
                 "[integration][pgbench]") {
  start_proxy();
  const auto direct_endpoint = direct(fresh_database("pgbench_direct"));
  const auto proxied_endpoint = through_proxy(fresh_database("pgbench_proxied"));
  check_succeeded(initialize(direct_endpoint));
  check_succeeded(initialize(proxied_endpoint));

  for (const std::string mode : {"simple", "extended", "prepared"}) {
    for (const std::string script : {"--select-only", "--skip-some-updates"}) {
      INFO("pgbench " << script << " --protocol=" << mode);
      check_all_transactions_succeeded(bench(direct_endpoint, script, mode));
      check_all_transactions_succeeded(bench(proxied_endpoint, script, mode));
    }
  }

  const auto proxied_state = state_of(primary(), proxied_endpoint.database);
  CHECK(proxied_state.starts_with("100000|"));
  CHECK(proxied_state == state_of(primary(), direct_endpoint.database));
}

// At scale 1 every TPC-B-like transaction updates the one pgbench_branches row, and a few
// tellers: the sessions queue for the same row locks. Sent to both servers at once, two sessions'
// updates could take those locks in opposite orders on the two servers, each waiting on the other
// across servers, which neither server can see; only the mirror timeout ended it, with a conflict.
TEST_CASE_METHOD(IntegrationTest, "Sessions queueing for the same rows in transactions neither stall nor conflict",
                 "[integration][pgbench][dual_write]") {
  start_proxy();
  const auto endpoint = through_proxy(fresh_database("pgbench_contention"));
  check_succeeded(initialize(endpoint));
  const auto started = std::chrono::steady_clock::now();
  const auto run = run_client({pg_program("pgbench"), "--no-vacuum", "--protocol=prepared", "--client=8", "--jobs=2",
                               "--transactions=40", "--random-seed=20261122"},
                              endpoint, kPgbenchTimeout);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  INFO("8 clients x 40 TPC-B-like transactions took " << took.count() << " ms");
  check_all_transactions_succeeded_by(run, 8 * 40);
  CHECK(conflicts().empty());
  CHECK(differing_tables(endpoint.database).empty());
}

}  // namespace
}  // namespace pgdual::test
