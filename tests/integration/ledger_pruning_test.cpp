// The ledger is pruned by age on both backends of every database a client has used.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/harness/fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kPruneLimit = 10s;

const std::string kOldKeys = "'01890a5d-ac96-774b-bcce-b302099a0001', '01890a5d-ac96-774b-bcce-b302099a0002'";
const std::string kFreshKeys = "'01890a5d-ac96-774b-bcce-b302099a0003', '01890a5d-ac96-774b-bcce-b302099a0004'";

void record_keys(const PgCluster& backend, const std::string& database) {
  static_cast<void>(backend.run_sql(
      database, "INSERT INTO pgdual.ledger (idempotency_key, applied_at) "
                "SELECT key::uuid, now() - interval '10 days' FROM unnest(ARRAY[" + kOldKeys + "]) AS key; "
                "INSERT INTO pgdual.ledger (idempotency_key) "
                "SELECT key::uuid FROM unnest(ARRAY[" + kFreshKeys + "]) AS key"));
}

std::string keys_left(const PgCluster& backend, const std::string& database, const std::string& keys) {
  return backend.run_sql(database, "SELECT count(*) FROM pgdual.ledger WHERE idempotency_key IN (" + keys + ")");
}

bool old_keys_gone(const std::string& database) {
  return keys_left(backends().onprem, database, kOldKeys) == "0\n" &&
         keys_left(backends().cloud, database, kOldKeys) == "0\n";
}

TEST_CASE_METHOD(IntegrationTest, "ledger entries past retention are pruned on both backends, fresh ones stay",
                 "[integration][ledger]") {
  const auto database = fresh_database("ledger_pruning");
  record_keys(backends().onprem, database);
  record_keys(backends().cloud, database);
  auto settings = default_settings();
  settings.ledger_prune_interval_ms = 1000;
  settings.ledger_retention_hours = 168;
  start_proxy(settings);

  const auto login = run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, through_proxy(database), 60s);
  INFO(login.describe());
  REQUIRE(login.exit_code == 0);

  const auto deadline = std::chrono::steady_clock::now() + kPruneLimit;
  while (!old_keys_gone(database) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
  CHECK(old_keys_gone(database));
  CHECK(keys_left(backends().onprem, database, kFreshKeys) == "2\n");
  CHECK(keys_left(backends().cloud, database, kFreshKeys) == "2\n");
  CHECK(proxy().log().find("b302099a000") == std::string::npos);
}

}  // namespace
}  // namespace pgdual::test
