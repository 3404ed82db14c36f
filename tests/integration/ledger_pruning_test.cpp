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
// TEMPORARY (prune): direct pruner check until session.cpp calls note_database.
#include <spdlog/sinks/stdout_color_sinks.h>
#include "config/proxy_config.h"
#include "proxy/ledger_pruner.h"
namespace pgdual::test {
TEST_CASE_METHOD(IntegrationTest, "TEMP pruner direct", "[tempprune]") {
  const auto database = fresh_database("ledger_direct");
  record_keys(backends().onprem, database);
  record_keys(backends().cloud, database);
  const std::string bare = "bare_no_schema";
  backends().onprem.create_database(bare, kAppUser);
  backends().cloud.create_database(bare, kAppUser);
  auto settings = default_settings();
  settings.ledger_prune_interval_ms = 1000;
  auto parsed = config::parse_config(proxy_config_text(settings, 6432), "t");
  REQUIRE(parsed);
  auto config = std::make_shared<const config::ProxyConfig>(*parsed);
  auto logger = spdlog::stderr_color_mt("prune");
  logger->set_level(spdlog::level::debug);
  auto started = std::chrono::steady_clock::now();
  {
    proxy::LedgerPruner pruner{config, logger};
    pruner.note_database(database, kAppUser);
    pruner.note_database(bare, kAppUser);
    pruner.note_database("no_such_db", kAppUser);
    const auto deadline = std::chrono::steady_clock::now() + kPruneLimit;
    while (!old_keys_gone(database) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
    CHECK(old_keys_gone(database));
    CHECK(pruner.pruned() == 4);
    CHECK(keys_left(backends().onprem, database, kFreshKeys) == "2\n");
    std::this_thread::sleep_for(300ms);
    started = std::chrono::steady_clock::now();
  }
  const auto stop_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  WARN("stop took ms " << stop_ms);
  CHECK(stop_ms < 200);
  // a big backlog: 25000 old rows
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO pgdual.ledger SELECT gen_random_uuid(), now() - interval '9 days' FROM generate_series(1, 25000)"));
  {
    proxy::LedgerPruner pruner{config, logger};
    pruner.note_database(database, kAppUser);
    const auto deadline = std::chrono::steady_clock::now() + kPruneLimit;
    while (pruner.pruned() < 25000 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
    CHECK(pruner.pruned() == 25000);
  }
}
}  // namespace pgdual::test
