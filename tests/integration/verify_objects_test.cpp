// `pgdual verify` and `pgdual reconcile` on what is not a table or a sequence: large objects,
// materialized views, and the relations verify cannot compare (unlogged and foreign tables). The
// commands run as the pgdual binary; the large objects are checked on both servers directly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

/// The same tables and views on both backends, owned by the app user. The documents point at large
/// objects by OID, as an EHR's scanned documents do. Contents hold "secret-", which no output may show.
constexpr const char* kSeed = R"sql(
SET ROLE app;
CREATE TABLE documents (id integer PRIMARY KEY, body oid);
INSERT INTO documents SELECT g, 70000 + g FROM generate_series(1, 5) g;
CREATE TABLE visits (id integer PRIMARY KEY, clinic integer);
INSERT INTO visits SELECT g, g % 3 FROM generate_series(1, 30) g;
CREATE MATERIALIZED VIEW clinics AS SELECT DISTINCT clinic FROM visits;
CREATE MATERIALIZED VIEW visit_counts AS SELECT clinic, count(*) AS visits FROM visits GROUP BY clinic;
CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);
INSERT INTO visits SELECT g, 1 FROM generate_series(31, 40) g;
SELECT lo_from_bytea(70003, 'secret-same'::bytea);
)sql";

/// A foreign table needs postgres_fdw, which only a superuser may install.
constexpr const char* kForeignTable = R"sql(
CREATE EXTENSION postgres_fdw;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'nowhere');
CREATE FOREIGN TABLE remote_visits (id integer) SERVER elsewhere;
)sql";

/// The primary's large objects, one of them over the 1 MB slice, and its view refreshed after the
/// last visits came in.
constexpr const char* kPrimaryOnly = R"sql(
SET ROLE app;
SELECT lo_from_bytea(70001, 'secret-doc-1'::bytea);
SELECT lo_from_bytea(70002, ''::bytea);
SELECT lo_from_bytea(70004, 'secret-new'::bytea);
SELECT lo_from_bytea(70005, decode(repeat('0123456789abcdef', 200000), 'hex'));
REFRESH MATERIALIZED VIEW visit_counts;
)sql";

/// The mirror's: one object with other contents, one the primary does not have.
constexpr const char* kMirrorOnly = R"sql(
SET ROLE app;
SELECT lo_from_bytea(70004, 'secret-old'::bytea);
SELECT lo_from_bytea(70009, 'secret-stray'::bytea);
)sql";

std::string seeded_database(IntegrationTest& test) {
  auto database = test.fresh_database("verify_objects");
  for (const auto* cluster : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(cluster->run_sql(database, kSeed));
    static_cast<void>(cluster->run_sql(database, kForeignTable));
  }
  static_cast<void>(backends().onprem.run_sql(database, kPrimaryOnly));
  static_cast<void>(backends().cloud.run_sql(database, kMirrorOnly));
  return database;
}

RunResult pgdual(const std::string& command, const std::string& database, std::vector<std::string> options = {}) {
  TempDir dir{"pgdual-verify-objects"};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(IntegrationTest::default_settings(), 6432));
  std::vector<std::string> argv{PGDUAL_BINARY, command, "--config", config.string(), "--database", database};
  argv.insert(argv.end(), options.begin(), options.end());
  return run(argv, {}, 120s);
}

bool says(const RunResult& run, const std::string& text) { return run.out.find(text) != std::string::npos; }

/// Each large object's OID, owner and md5, as the superuser reads them on `cluster`.
std::string large_objects_on(const PgCluster& cluster, const std::string& database) {
  return cluster.run_sql(database, "SELECT string_agg(oid || ' ' || lomowner::regrole || ' ' || md5(lo_get(oid)), "
                                   "', ' ORDER BY oid) FROM pg_largeobject_metadata");
}

TEST_CASE_METHOD(IntegrationTest, "verify compares large objects and materialized views and names what it cannot "
                                  "compare; reconcile copies the objects with their OIDs",
                 "[integration][verify_objects][reconcile]") {
  const auto database = seeded_database(*this);
  const auto found = pgdual("verify", database);
  INFO(found.describe());
  CHECK(found.exit_code == 1);
  CHECK(says(found, "public.documents: identical, 5 rows, compared by key (id)\n"
                    "public.visits: identical, 40 rows, compared by key (id)\n"
                    "materialized view public.clinics: identical, 3 rows, compared by a full hash\n"
                    "materialized view public.visit_counts: differs, 3 rows, compared by a full hash\n"
                    "  contents differ\n"
                    "large objects: differs, 5 on primary, 3 on mirror, compared by OID and content digest\n"
                    "  missing on mirror: 3 large objects\n    70001\n    70002\n    70005\n"
                    "  extra on mirror: 1 large object\n    70009\n"
                    "  differing contents: 1 large object\n    70004\n"
                    "public.cache: not compared (unlogged table)\n"
                    "public.remote_visits: not compared (foreign table)\n"
                    "2 tables: 2 identical, 0 differ; 0 sequences: 0 identical, 0 differ; "
                    "2 materialized views: 1 identical, 1 differs; 6 large objects: 1 identical, 5 differ; "
                    "2 objects not compared\n"
                    "verify: differences found\n"));
  CHECK_FALSE(says(found, "public.cache: identical"));
  CHECK_FALSE(says(found, "secret-"));

  const auto plan = pgdual("reconcile", database, {"--dry-run"});
  INFO(plan.describe());
  CHECK(plan.exit_code == 1);
  CHECK(says(plan, "materialized view public.visit_counts: run REFRESH MATERIALIZED VIEW \"public\".\"visit_counts\"\n"
                   "large objects: copy 3, overwrite 1, delete 1\n"));
  CHECK(large_objects_on(backends().cloud, database).find("70001") == std::string::npos);

  const auto applied = pgdual("reconcile", database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 0);
  CHECK(says(applied, "public.cache: not compared (unlogged table)\n"
                      "public.remote_visits: not compared (foreign table)\n"
                      "materialized view public.visit_counts: ran REFRESH MATERIALIZED VIEW "
                      "\"public\".\"visit_counts\"\n"
                      "large objects: copied 3, overwrote 1, deleted 1\n"
                      "  copied (were missing on mirror): 3 large objects\n    70001\n    70002\n    70005\n"
                      "  overwritten (differed): 1 large object\n    70004\n"
                      "  deleted (were extra on mirror): 1 large object\n    70009\n"));
  CHECK(says(applied, "reconcile: done; verified identical\n"));
  CHECK_FALSE(says(applied, "secret-"));
  CHECK(differing_sequences_and_large_objects(database, backends().onprem, backends().cloud).empty());
  CHECK(large_objects_on(backends().cloud, database) == large_objects_on(backends().onprem, database));

  const auto again = pgdual("verify", database);
  INFO(again.describe());
  CHECK(again.exit_code == 3);
  CHECK(says(again, "materialized view public.visit_counts: identical, 3 rows, compared by a full hash\n"
                    "large objects: identical, 5 objects, compared by OID and content digest\n"
                    "public.cache: not compared (unlogged table)\n"));
  CHECK(says(again, "2 materialized views: 2 identical, 0 differ; 5 large objects: 5 identical, 0 differ; "
                    "2 objects not compared\nverify: identical except 2 objects not compared\n"));
  CHECK_FALSE(says(again, "verify: identical\n"));
}

TEST_CASE_METHOD(IntegrationTest, "verify --table compares no large objects and names a named unlogged table",
                 "[integration][verify_objects]") {
  const auto database = seeded_database(*this);
  const auto run = pgdual("verify", database, {"--table", "documents", "cache"});
  INFO(run.describe());
  CHECK(run.exit_code == 3);
  CHECK(run.out.ends_with("public.documents: identical, 5 rows, compared by key (id)\n"
                          "public.cache: not compared (unlogged table)\n"
                          "1 table: 1 identical, 0 differ; 0 sequences: 0 identical, 0 differ; 1 object not compared\n"
                          "verify: identical except 1 object not compared\n"));
}

TEST_CASE_METHOD(IntegrationTest, "reconcile leaves a view whose definition differs to the operator",
                 "[integration][verify_objects][reconcile]") {
  auto database = fresh_database("verify_views");
  for (const auto* cluster : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(cluster->run_sql(database, "SET ROLE app; CREATE TABLE t (id integer PRIMARY KEY)"));
  }
  static_cast<void>(
      backends().onprem.run_sql(database, "SET ROLE app; CREATE MATERIALIZED VIEW v AS SELECT id FROM t"));
  static_cast<void>(backends().cloud.run_sql(
      database, "SET ROLE app; CREATE MATERIALIZED VIEW v AS SELECT id + 1 AS id FROM t WITH NO DATA"));
  const auto found = pgdual("verify", database);
  INFO(found.describe());
  CHECK(found.exit_code == 1);
  CHECK(says(found, "materialized view public.v: differs\n  definition differs\n"));
  const auto applied = pgdual("reconcile", database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 1);
  CHECK(says(applied, "materialized view public.v: nothing pgdual can change\n"
                      "  by hand: definition differs (pgdual does not create, drop or redefine materialized views)\n"));
  CHECK(says(applied, "still differs: materialized view public.v: differs\n  definition differs\n"));
}

TEST_CASE_METHOD(IntegrationTest, "verify names the large objects its user may not read and reconcile leaves them",
                 "[integration][verify_objects][reconcile]") {
  const auto database = fresh_database("verify_objects_denied");
  for (const auto* cluster : {&backends().onprem, &backends().cloud}) {
    // Owned by the superuser, without a grant: the app user may not read it.
    static_cast<void>(cluster->run_sql(database, "SELECT lo_from_bytea(70100, 'secret-locked'::bytea)"));
  }
  const auto found = pgdual("verify", database);
  INFO(found.describe());
  CHECK(found.exit_code == 1);
  CHECK(says(found, "large objects: differs, 1 object, compared by OID and content digest\n"
                    "  not readable: 1 large object (no SELECT on it on one side or both)\n    70100\n"));
  const auto applied = pgdual("reconcile", database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 1);
  CHECK(says(applied, "large objects: nothing pgdual can change\n  by hand: 1 large object"));
  for (const auto* cluster : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(cluster->run_sql(database, "GRANT SELECT ON LARGE OBJECT 70100 TO app"));
  }
  CHECK(pgdual("verify", database).exit_code == 0);
}

/// The latest resolution of the conflict that names `table`; std::nullopt when there is none.
std::optional<conflict::Resolution> resolution_of(const std::vector<conflict::ConflictRecord>& records,
                                                  const std::string& table) {
  std::optional<conflict::Resolution> latest;
  for (const auto& record : records) {
    if (std::ranges::find(record.tables, table) != record.tables.end()) latest = record.resolution;
  }
  return latest;
}

TEST_CASE_METHOD(IntegrationTest, "reconcile resolves no conflict of a table holding OIDs until the large objects "
                                  "are identical",
                 "[integration][verify_objects][reconcile]") {
  const auto database = fresh_database("verify_objects_resolution");
  auto& proxy = start_proxy();
  check_succeeded(run_client({pg_program("psql"), "-X", "-c", "CREATE TABLE documents (id int PRIMARY KEY, body oid)"},
                             through_proxy(database), 60s));
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO documents VALUES (7, 70001)"));
  static_cast<void>(backends().onprem.run_sql(
      database, "SET ROLE app; SELECT lo_from_bytea(70001, 'secret-scan'::bytea)"));
  static_cast<void>(run_client({pg_program("psql"), "-X", "-c", "INSERT INTO documents VALUES (7, 70001)"},
                               through_proxy(database), 60s));
  REQUIRE(resolution_of(wait_for_conflicts(1, 10s), "documents") == conflict::Resolution::open);
  REQUIRE(proxy.stop() == 0);
  const auto by_table = [&](std::vector<std::string> options) {
    std::vector<std::string> argv{PGDUAL_BINARY, "reconcile", "--config", proxy.config_file().string(),
                                  "--database", database, "--apply"};
    argv.insert(argv.end(), options.begin(), options.end());
    return run(argv, {}, 120s);
  };

  const auto table_only = by_table({"--table", "documents"});
  INFO(table_only.describe());
  CHECK(table_only.exit_code == 0);  // the table is identical: it was so already
  CHECK(resolution_of(conflicts(), "documents") == conflict::Resolution::open);

  const auto whole = by_table({});
  INFO(whole.describe());
  CHECK(whole.exit_code == 0);
  CHECK(whole.out.find("large objects: copied 1\n") != std::string::npos);
  CHECK(resolution_of(conflicts(), "documents") == conflict::Resolution::resolved);
  CHECK(differing_sequences_and_large_objects(database, backends().onprem, backends().cloud).empty());
}

}  // namespace
}  // namespace pgdual::test
