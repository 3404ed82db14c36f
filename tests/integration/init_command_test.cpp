// `pgdual init`: pgdual's own schema, with the idempotency ledger, on both backends.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <thread>
#include <string>
#include <vector>

#include "conflict/wal_names.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

/// `pgdual init` as kAppUser, or as the servers' superuser when `superuser`, with `extra` arguments.
RunResult run_init(const std::string& database, bool superuser = false, const std::vector<std::string>& extra = {}) {
  TempDir dir{"pgdual-init"};
  ProxySettings settings;
  settings.onprem_port = backends().onprem.port();
  settings.cloud_port = backends().cloud.port();
  settings.users = {{kAppUser, kAppPassword}, {PgCluster::kSuperuser, PgCluster::kSuperuserPassword}};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(settings, 6432));
  std::vector<std::string> argv{PGDUAL_BINARY, "init", "--config", config.string(), "--database", database, "--user",
                                superuser ? PgCluster::kSuperuser : kAppUser};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv, {}, 60s);
}

/// pg_class.relreplident of public.`table`: "d" DEFAULT, "f" FULL.
std::string replica_identity(const PgCluster& cluster, const std::string& database, const std::string& table) {
  auto identity =
      cluster.run_sql(database, "SELECT relreplident FROM pg_class WHERE oid = 'public." + table + "'::regclass");
  if (!identity.empty() && identity.back() == '\n') identity.pop_back();
  return identity;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

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
    CHECK(result.out.find("onprem: pgdual schema version 8 ready") != std::string::npos);
    CHECK(result.out.find("cloud: pgdual schema version 8 ready") != std::string::npos);
  }
  for (auto* cluster : {&backends().onprem, &backends().cloud}) {
    CHECK(columns_of(*cluster, database, "ledger") == "idempotency_key uuid, applied_at timestamp with time zone\n");
    CHECK(columns_of(*cluster, database, "applied") ==
          "source text, commit_lsn pg_lsn, xid bigint, unit_key uuid, applied_at timestamp with time zone\n");
    CHECK(cluster->run_sql(database, "SELECT string_agg(version::text, ',' ORDER BY version) "
                                     "FROM pgdual.schema_version") == "1,2,3,4,5,6,7,8\n");
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

TEST_CASE_METHOD(IntegrationTest,
                 "pgdual init gives every table without a primary key, existing or created later, REPLICA IDENTITY "
                 "FULL, so that a publication never makes UPDATE or DELETE fail",
                 "[integration][init]") {
  const auto database = fresh_database("ident");  // init as kAppUser has run: no event trigger
  const std::vector<PgCluster*> clusters{&backends().onprem, &backends().cloud};
  for (auto* cluster : clusters) {
    static_cast<void>(cluster->run_sql(database,
                                       "CREATE TABLE before_init (id int, note text); "
                                       "CREATE TABLE app_owned (id int, note text); ALTER TABLE app_owned OWNER TO app; "
                                       "CREATE TABLE keyed_before (id int PRIMARY KEY, note text)"));
  }

  SECTION("a role that is not a superuser installs the rest and names what it skipped") {
    const auto result = run_init(database);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    for (const std::string name : {"onprem", "cloud"}) {
      CHECK(contains(result.out, name + ": REPLICA IDENTITY FULL on table public.app_owned"));
      CHECK(contains(result.err, name + ": table public.before_init has no primary key and was left without"));
      CHECK(contains(result.err, name + ": event trigger pgdual_replica_identity not installed"));
      CHECK(contains(result.out, name + ": pgdual schema version 8 ready"));
    }
    CHECK(contains(result.err, "\"app\" is not a superuser"));
    for (auto* cluster : clusters) {
      CHECK(replica_identity(*cluster, database, "app_owned") == "f");
      CHECK(replica_identity(*cluster, database, "before_init") == "d");
      CHECK(cluster->run_sql(database, "SELECT count(*) FROM pg_event_trigger") == "0\n");
    }
  }

  SECTION("a superuser also installs the event trigger, and tables created later are covered") {
    for (int attempt = 1; attempt <= 2; ++attempt) {
      const auto result = run_init(database, true);
      INFO("attempt " << attempt << ": " << result.describe());
      REQUIRE(result.exit_code == 0);
      CHECK_FALSE(contains(result.err, "warning"));
      CHECK_FALSE(contains(result.err, "WARNING"));
      for (const std::string name : {"onprem", "cloud"}) {
        CHECK(contains(result.out, name + ": pgdual schema version 8 ready"));
        CHECK(contains(result.out, name + ": REPLICA IDENTITY FULL on table public.before_init") == (attempt == 1));
        CHECK(contains(result.out, name + ": REPLICA IDENTITY FULL on table public.app_owned") == (attempt == 1));
      }
      CHECK_FALSE(contains(result.out, "keyed_before"));
    }
    const std::vector<std::string> tables{"before_init",    "app_owned",   "created_later", "made_as",
                                          "selected_into",  "app_created", "parted",        "parted_low",
                                          "unlogged_later", "keyed",       "parted_keyed",  "parted_keyed_low",
                                          "keyed_after_load"};
    for (auto* cluster : clusters) {
      INFO(cluster->name());
      CHECK(replica_identity(*cluster, database, "keyed_before") == "d");
      // Directly on the server, not through pgdual; none of it may fail.
      REQUIRE_NOTHROW(cluster->run_sql(
          database,
          "CREATE TABLE created_later (id int, note text); "
          "CREATE TABLE keyed (id int PRIMARY KEY, note text); "
          "CREATE TEMP TABLE scratch (id int, note text); "
          "INSERT INTO scratch VALUES (1, 'a'); UPDATE scratch SET note = 'b'; "
          "CREATE TABLE made_as AS SELECT 1 AS id, 'a'::text AS note; "
          "SELECT 1 AS id, 'a'::text AS note INTO selected_into; "
          "CREATE TABLE parted (id int, note text) PARTITION BY RANGE (id); "
          "CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100); "
          "CREATE TABLE parted_keyed (id int PRIMARY KEY, note text) PARTITION BY RANGE (id); "
          "CREATE TABLE parted_keyed_low PARTITION OF parted_keyed FOR VALUES FROM (0) TO (100); "
          "CREATE UNLOGGED TABLE unlogged_later (id int, note text); ALTER TABLE unlogged_later SET LOGGED; "
          // How pgbench -i and pg_restore build a table: its primary key comes after its rows.
          "CREATE TABLE keyed_after_load (id int, note text); "
          "INSERT INTO keyed_after_load VALUES (1, 'a'); "
          "ALTER TABLE keyed_after_load ADD PRIMARY KEY (id); "
          "CREATE TABLE full_on_purpose (id int PRIMARY KEY, note text); "
          "ALTER TABLE full_on_purpose REPLICA IDENTITY FULL; "
          "ALTER TABLE full_on_purpose ADD COLUMN extra int"));
      // The application's own role, not a superuser: the trigger runs with its rights.
      const Endpoint app{"127.0.0.1", cluster->port(), kAppUser, kAppPassword, database};
      const auto created = run_client(
          {pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", "CREATE TABLE app_created (id int, note text)"},
          app, 30s);
      INFO(created.describe());
      REQUIRE(created.exit_code == 0);
      CHECK_FALSE(contains(created.err, "WARNING"));
      for (const std::string table :
           {"created_later", "made_as", "selected_into", "app_created", "parted", "parted_low", "unlogged_later"}) {
        CHECK(replica_identity(*cluster, database, table) == "f");
      }
      for (const std::string table : {"keyed", "parted_keyed", "parted_keyed_low", "keyed_after_load"}) {
        CHECK(replica_identity(*cluster, database, table) == "d");
      }
      // The owner's own choice stays; pgdual only undoes what it did, init's switches included.
      CHECK(replica_identity(*cluster, database, "full_on_purpose") == "f");
      REQUIRE_NOTHROW(cluster->run_sql(database, "ALTER TABLE before_init ADD PRIMARY KEY (id)"));
      CHECK(replica_identity(*cluster, database, "before_init") == "d");
      // A primary key dropped later, from a table and from a partitioned table with its partitions.
      REQUIRE_NOTHROW(cluster->run_sql(database,
                                       "ALTER TABLE keyed DROP CONSTRAINT keyed_pkey; "
                                       "ALTER TABLE parted_keyed DROP CONSTRAINT parted_keyed_pkey"));
      for (const std::string table : {"keyed", "parted_keyed", "parted_keyed_low"}) {
        CHECK(replica_identity(*cluster, database, table) == "f");
      }
    }
    // Published FOR ALL TABLES as the WAL mirror's publication is: UPDATE and DELETE still succeed.
    struct Publication {
      const std::vector<PgCluster*>& clusters;
      const std::string& database;
      ~Publication() {
        for (auto* cluster : clusters) {
          try {
            static_cast<void>(cluster->run_sql(database, "DROP PUBLICATION IF EXISTS pgdual_ident_test"));
          } catch (const std::exception&) {  // the test has failed already; the database is thrown away
          }
        }
      }
    } publication{clusters, database};
    for (auto* cluster : clusters) {
      INFO(cluster->name());
      REQUIRE_NOTHROW(cluster->run_sql(database, "CREATE PUBLICATION pgdual_ident_test FOR ALL TABLES"));
      for (const auto& table : tables) {
        INFO(table);
        CHECK_NOTHROW(cluster->run_sql(database, "INSERT INTO " + table +
                                                     " (id, note) VALUES (7, 'x'); "
                                                     "UPDATE " +
                                                     table +
                                                     " SET note = 'y' WHERE id = 7; "
                                                     "DELETE FROM " +
                                                     table + " WHERE id = 7"));
      }
      CHECK(cluster->run_sql(database,
                             "SELECT count(*) FROM pg_publication_tables "
                             "WHERE pubname = 'pgdual_ident_test' AND tablename = 'created_later'") == "1\n");
    }
  }
}

}  // namespace
TEST_CASE_METHOD(IntegrationTest, "pgdual init --drop removes the WAL mirror's slot and publication, not one in use",
                 "[integration][init]") {
  const auto database = fresh_database("init_drop");
  const auto name = conflict::slot_name_for(database);
  auto& primary = backends().onprem;
  static_cast<void>(primary.run_sql(database, "CREATE PUBLICATION " + name + " FOR ALL TABLES"));
  static_cast<void>(primary.run_sql(database, "SELECT pg_create_logical_replication_slot('" + name + "', 'pgoutput')"));
  const auto slots = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + name + "'";
  const auto publications = "SELECT count(*) FROM pg_publication WHERE pubname = '" + name + "'";

  // A reader on the slot: dropping it would break a running mirror.
  TempDir dir{"pgdual-init-drop"};
  const auto reader_log = dir.path() / "recvlogical.log";
  ProcessOptions as_superuser;
  as_superuser.env = primary.superuser(database).libpq_env();
  {
    Subprocess reader{{pg_program("pg_recvlogical"), "--dbname", database, "--slot", name, "--start", "--file",
                       "/dev/null", "--option", "proto_version=1", "--option", "publication_names=" + name},
                      as_superuser, reader_log, reader_log};
    const auto active = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + name + "' AND active";
    for (int attempt = 0; attempt < 100 && primary.run_sql(database, active) != "1\n"; ++attempt) {
      std::this_thread::sleep_for(100ms);
    }
    const auto refused = run_init(database, true, {"--drop"});
    INFO(refused.describe());
    CHECK(refused.exit_code == 1);
    CHECK(contains(refused.err, "replication slot \"" + name + "\" is in use"));
    CHECK(primary.run_sql(database, slots) == "1\n");
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (primary.run_sql(database, slots + " AND active") == "0\n") break;
    std::this_thread::sleep_for(100ms);
  }

  const auto dropped = run_init(database, true, {"--drop"});
  INFO(dropped.describe());
  CHECK(dropped.exit_code == 0);
  CHECK(contains(dropped.out, "onprem: dropped replication slot \"" + name + "\", dropped publication"));
  CHECK(contains(dropped.out, "cloud: no replication slot"));
  CHECK(primary.run_sql(database, slots) == "0\n");
  CHECK(primary.run_sql(database, publications) == "0\n");
  // Nothing left to drop is no error; pgdual's schema stays.
  const auto again = run_init(database, true, {"--drop"});
  CHECK(again.exit_code == 0);
  CHECK(contains(again.out, "onprem: no replication slot"));
  CHECK(primary.run_sql(database, "SELECT to_regclass('pgdual.applied') IS NOT NULL") == "t\n");
}

}  // namespace pgdual::test
