// `pgdual init`: pgdual's own schema, with the idempotency ledger, on both backends.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

RunResult run_init(const std::string& database) {
  TempDir dir{"pgdual-init"};
  ProxySettings settings;
  settings.onprem_port = backends().onprem.port();
  settings.cloud_port = backends().cloud.port();
  settings.users = {{kAppUser, kAppPassword}};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(settings, 6432));
  return run({PGDUAL_BINARY, "init", "--config", config.string(), "--database", database}, {}, 60s);
}

std::string columns_of(PgCluster& cluster, const std::string& database, const std::string& table) {
  return cluster.run_sql(database,
                         "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
                         "FROM information_schema.columns WHERE table_schema = 'pgdual' AND table_name = '" +
                             table + "'");
}

TEST_CASE_METHOD(IntegrationTest,
                 "pgdual init creates the ledger and the WAL apply's record on both backends and can be repeated",
                 "[integration][init]") {
  const auto database = fresh_database("init");
  for (int attempt = 1; attempt <= 2; ++attempt) {
    const auto result = run_init(database);
    INFO("attempt " << attempt << ": " << result.describe());
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("onprem: pgdual schema version 2 ready") != std::string::npos);
    CHECK(result.out.find("cloud: pgdual schema version 2 ready") != std::string::npos);
  }
  for (auto* cluster : {&backends().onprem, &backends().cloud}) {
    CHECK(columns_of(*cluster, database, "ledger") == "idempotency_key uuid, applied_at timestamp with time zone\n");
    CHECK(columns_of(*cluster, database, "applied") ==
          "source text, commit_lsn pg_lsn, xid bigint, unit_key uuid, applied_at timestamp with time zone\n");
    CHECK(cluster->run_sql(database, "SELECT string_agg(version::text, ',' ORDER BY version) "
                                     "FROM pgdual.schema_version") == "1,2\n");
    // At most once: a write unit whose key is already recorded cannot record it again.
    const std::string record = "INSERT INTO pgdual.ledger (idempotency_key) "
                               "VALUES ('01890a5d-ac96-774b-bcce-b302099a8057')";
    CHECK_NOTHROW(cluster->run_sql(database, record));
    CHECK_THROWS_AS(cluster->run_sql(database, record), std::runtime_error);
  }
}

TEST_CASE_METHOD(IntegrationTest, "pgdual init names the backend that refused it and exits 1",
                 "[integration][init]") {
  const auto result = run_init("no_such_database");
  INFO(result.describe());
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("backend \"onprem\"") != std::string::npos);
  CHECK(result.err.find("backend \"cloud\"") != std::string::npos);
  CHECK(result.err.find("no_such_database") != std::string::npos);
}

}  // namespace
}  // namespace pgdual::test
