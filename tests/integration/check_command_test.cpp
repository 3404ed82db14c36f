// `pgdual check` and the console's SHOW CHECKS against real servers: ready after pgdual init, and
// each missing prerequisite named with its fix.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

struct CheckRun {
  RunResult result;
  std::string config_file;
};

/// `pgdual check` with the configuration `settings` make, for `database`, with `more` options.
CheckRun run_check(const ProxySettings& settings, const std::string& database,
                   const std::vector<std::string>& more = {}) {
  TempDir dir{"pgdual-check"};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(settings, 6432));
  std::vector<std::string> argv{PGDUAL_BINARY, "check", "--config", config.string(), "--database", database};
  argv.insert(argv.end(), more.begin(), more.end());
  return {run(argv, {}, 120s), config.string()};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> lines_starting(const std::string& text, const std::string& start) {
  std::vector<std::string> found;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(start)) found.push_back(line);
  }
  return found;
}

/// The checks that may not be ok on a server ready for pgdual: free disk space, which no SQL reads.
void check_only_disk_warnings(const std::string& report) {
  CHECK(lines_starting(report, "  FAILED").empty());
  for (const auto& line : lines_starting(report, "  WARNING")) {
    INFO(line);
    CHECK(line.starts_with("  WARNING disk: not checked: PostgreSQL offers no SQL function"));
  }
}

ProxySettings wal_settings(const ProxySettings& base) {
  auto settings = base;
  settings.users.push_back({PgCluster::kSuperuser, PgCluster::kSuperuserPassword});
  settings.mirror_lines = "mode = \"wal\"\nreplication_user = \"" + std::string{PgCluster::kSuperuser} + "\"\n";
  return settings;
}

/// A database on both shared servers without pgdual's schema.
std::string database_without_schema(std::string_view label) {
  static int made = 0;
  const auto name = "check_" + std::to_string(++made) + "_" + std::string{label};
  backends().onprem.create_database(name, kAppUser);
  backends().cloud.create_database(name, kAppUser);
  return name;
}

/// psql on the console: unaligned, tuples only, so each row is one line of |-separated columns.
RunResult console(IntegrationTest& test, const std::string& command) {
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command},
                    test.through_proxy("pgdual"), 180s);
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "After pgdual init, pgdual check in statement mode finds everything ready",
                 "[integration][check]") {
  const auto database = fresh_database("check_ready");
  const auto [result, config] = run_check(default_settings(), database);
  INFO(result.describe());
  CHECK(result.exit_code == 0);
  CHECK(result.err.empty());
  CHECK(result.out.starts_with("configuration\n  ok      file: " + config + ": valid; mirror.mode statement"));
  for (const std::string server : {"onprem", "cloud"}) {
    CHECK(contains(result.out, "role \"app\" on " + server + "\n  ok      login: logged in to database \"" +
                                   database + "\"\n  ok      grants: has what pgdual needs"));
    CHECK(contains(result.out, "database \"" + database + "\" on " + server +
                                   "\n  ok      pgdual schema: version 8, the current one\n"));
  }
  check_only_disk_warnings(result.out);
  CHECK(result.out.ends_with("ready, 1 warning\n"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "After pgdual init as a superuser, pgdual check in wal mode finds the WAL mirror's prerequisites met",
                 "[integration][check][wal]") {
  const auto database = fresh_database("check_wal_ready");
  const auto settings = wal_settings(default_settings());
  run_pgdual_init(database, settings, PgCluster::kSuperuser);
  const auto result = run_check(settings, database).result;
  INFO(result.describe());
  CHECK(result.exit_code == 0);
  for (const auto* ok : {"  ok      mirror.mode wal: wal_level logical", "  ok      replica identity: every table",
                         "  ok      event trigger: \"pgdual_replica_identity\" enabled",
                         "  ok      unlogged tables: none",
                         "  ok      replication slots: max_replication_slots is", "  ok      WAL senders: "}) {
    CHECK(contains(result.out, ok));
  }
  check_only_disk_warnings(result.out);
  CHECK(result.out.ends_with("ready, 2 warnings\n"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "A primary without wal_level = logical or slots for each of its databases is not ready for wal "
                 "mode, each named once with its fix",
                 "[integration][check][wal]") {
  const PgCluster small_primary{"check-replica", std::nullopt, "wal_level = replica\nmax_replication_slots = 1\n"};
  small_primary.create_role(kAppUser, kAppPassword);
  auto settings = wal_settings(default_settings());
  settings.onprem_port = small_primary.port();
  std::vector<std::string> databases{database_without_schema("replica_a"), database_without_schema("replica_b")};
  std::ranges::sort(databases);  // as the report lists them
  for (const auto& database : databases) {
    small_primary.create_database(database, kAppUser);
    run_pgdual_init(database, settings, PgCluster::kSuperuser);
  }
  TempDir dir{"pgdual-check"};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(settings, 6432));
  // No --database: every database on the primary but "postgres" and the templates, here these two.
  const auto result = run({PGDUAL_BINARY, "check", "--config", config.string()}, {}, 120s);
  INFO(result.describe());
  CHECK(result.exit_code == 1);
  CHECK(contains(result.out, "server onprem (127.0.0.1:" + std::to_string(small_primary.port()) +
                                 ")\n  ok      databases: checking \"" + databases[0] + "\", \"" + databases[1] +
                                 "\": every one that allows connections, except \"postgres\"\n"));
  const std::string wal_level =
      "  FAILED  mirror.mode wal: wal_level is \"replica\"; the WAL mirror decodes the WAL, which needs "
      "\"logical\"\n"
      "          fix: set wal_level = logical in postgresql.conf and restart the server, or set "
      "mirror.mode = \"statement\"\n";
  CHECK(contains(result.out, wal_level));
  CHECK(result.out.find(wal_level) == result.out.rfind(wal_level));  // a server's setting, not each database's
  CHECK(contains(result.out,
                 "  FAILED  replication slots: max_replication_slots is 1, 0 in use, 2 more needed (one per database "
                 "without its own)\n"
                 "          fix: raise max_replication_slots to 2 or more in postgresql.conf and restart the server, "
                 "or set mirror.mode = \"statement\"\n"));
  CHECK(result.out.ends_with("not ready: 2 problems\n"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "In wal mode a table without a primary key or replica identity fails, an unlogged table and a "
                 "missing event trigger are warnings",
                 "[integration][check][wal]") {
  const auto database = fresh_database("check_tables");  // init as the app: no event trigger
  static_cast<void>(backends().onprem.run_sql(
      database, "CREATE TABLE no_key (id int); CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY); "
                "CREATE TABLE whole_rows (id int); ALTER TABLE whole_rows REPLICA IDENTITY FULL"));
  const auto [result, config] = run_check(wal_settings(default_settings()), database);
  INFO(result.describe());
  CHECK(result.exit_code == 1);
  const auto init_as_superuser = "run pgdual init --config " + config + " --database " + database +
                                 " --user <a superuser>";
  CHECK(contains(result.out, "  FAILED  replica identity: tables without a primary key or replica identity, whose "
                             "UPDATE and DELETE the primary refuses once published: \"public.no_key\"\n"
                             "          fix: give each a primary key, or " + init_as_superuser +
                                 ", which gives them REPLICA IDENTITY FULL\n"));
  CHECK(contains(result.out, "  WARNING primary keys: tables without a primary key, which the mirror matches by all "
                             "their columns, scanning the table for each UPDATE and DELETE: \"public.whole_rows\"\n"));
  CHECK(contains(result.out, "  WARNING event trigger: \"pgdual_replica_identity\" missing: "));
  CHECK(contains(result.out, "          fix: " + init_as_superuser + "\n"));
  CHECK(contains(result.out, "  WARNING unlogged tables: the WAL carries no rows of \"public.scratch\""));
  CHECK(result.out.ends_with("not ready: 1 problem\n"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "In statement mode a role that may not write the mirror's ledger fails, and the GRANT named as the "
                 "fix makes it ready",
                 "[integration][check]") {
  const auto database = database_without_schema("ledger_grants");
  auto settings = default_settings();
  settings.users.push_back({PgCluster::kSuperuser, PgCluster::kSuperuserPassword});
  run_pgdual_init(database, settings, PgCluster::kSuperuser);  // the superuser owns the ledger
  // init granted the ledger to every configured user: as an owner who revoked it has it.
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(server->run_sql(database, "REVOKE ALL ON pgdual.ledger FROM \"app\""));
  }

  const auto before = run_check(settings, database).result;
  INFO(before.describe());
  CHECK(before.exit_code == 1);
  CHECK(contains(before.out, "role \"app\" on cloud\n  ok      login: logged in to database \"" + database +
                                 "\"\n  FAILED  grants: lacks INSERT on pgdual.ledger, SELECT on pgdual.ledger, "
                                 "DELETE on pgdual.ledger in database \"" + database +
                                 "\"\n          fix: run GRANT INSERT, SELECT, DELETE ON pgdual.ledger TO \"app\" in "
                                 "database \"" + database +
                                 "\" as the objects' owner or a superuser\n"));
  CHECK(contains(before.out, "  WARNING grants: lacks DELETE on pgdual.ledger in database \"" + database +
                                 "\": pgdual cannot prune the ledger's old keys here, so it grows\n"));
  CHECK(before.out.ends_with("not ready: 1 problem\n"));

  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(server->run_sql(database, "GRANT INSERT, SELECT, DELETE ON pgdual.ledger TO \"app\""));
  }
  const auto after = run_check(settings, database).result;
  INFO(after.describe());
  CHECK(after.exit_code == 0);
  check_only_disk_warnings(after.out);
}

TEST_CASE_METHOD(IntegrationTest, "A role whose password the servers refuse is a failed login naming role and server",
                 "[integration][check]") {
  const auto database = fresh_database("check_password");
  auto settings = default_settings();
  settings.users.push_back({PgCluster::kSuperuser, "not-the-password"});
  const auto result = run_check(settings, database).result;
  INFO(result.describe());
  CHECK(result.exit_code == 1);
  for (const std::string server : {"onprem", "cloud"}) {
    const auto port = server == "onprem" ? backends().onprem.port() : backends().cloud.port();
    CHECK(contains(result.out, "role \"pgdual_admin\" on " + server +
                                   "\n  FAILED  login: cannot log in to database \"" + database + "\" at 127.0.0.1:" +
                                   std::to_string(port) + ": "));
    CHECK(contains(result.out, "          fix: check that the server runs there ([backends." + server + "])"));
  }
  CHECK(contains(result.out, "password authentication failed for user \"pgdual_admin\""));
  CHECK_FALSE(contains(result.out + result.err, "not-the-password"));
  CHECK(result.out.ends_with("not ready: 2 problems\n"));
}

TEST_CASE_METHOD(IntegrationTest, "A database without pgdual's schema is not ready, and the fix is pgdual init for it",
                 "[integration][check]") {
  const auto database = database_without_schema("no_schema");
  const auto [result, config] = run_check(default_settings(), database);
  INFO(result.describe());
  CHECK(result.exit_code == 1);
  for (const std::string server : {"onprem", "cloud"}) {
    CHECK(contains(result.out, "database \"" + database + "\" on " + server +
                                   "\n  FAILED  pgdual schema: not installed: no \"pgdual.ledger\", "));
  }
  CHECK(contains(result.out, "          fix: run pgdual init --config " + config + " --database " + database + "\n"));
  // Grants on objects that do not exist are not judged: the schema's failure says it all.
  CHECK_FALSE(contains(result.out, "grants:"));
  CHECK(result.out.ends_with("not ready: 2 problems\n"));
}

TEST_CASE_METHOD(IntegrationTest, "An invalid configuration file is a failed check naming the key and its line",
                 "[integration][check]") {
  auto settings = default_settings();
  settings.extra = "\n[brake]\nerror_rate_percent = 500\n";
  TempDir dir{"pgdual-check"};
  const auto config = dir.path() / "pgdual.toml";
  const auto text = proxy_config_text(settings, 6432);
  write_file(config, text);
  const auto line = std::to_string(std::count(text.begin(), text.begin() + text.find("error_rate_percent"), '\n') + 1);

  const auto result = run({PGDUAL_BINARY, "check", "--config", config.string()}, {}, 30s);
  INFO(result.describe());
  CHECK(result.exit_code == 1);
  CHECK(result.out.starts_with("configuration\n  FAILED  file: " + config.string() + ":" + line + ":"));
  CHECK(contains(result.out, "brake.error_rate_percent"));
  CHECK(contains(result.out, "          fix: correct brake.error_rate_percent at line " + line + " of " +
                                 config.string()));
  CHECK(result.out.ends_with("not ready: 1 problem\n"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "SHOW CHECKS in the console returns one row per check, a failed one for a database without "
                 "pgdual's schema",
                 "[integration][check][admin][console]") {
  const auto database = database_without_schema("console");
  auto settings = default_settings();
  settings.extra = "\n[admin]\nusers = [\"app\"]\n";
  start_proxy(settings);

  const auto checks = console(*this, "show checks " + database + ";");
  INFO(checks.describe());
  check_succeeded(checks);
  CHECK(contains(checks.out, "role \"app\" on onprem|login|ok|logged in to database \"" + database + "\"|\n"));
  CHECK(contains(checks.out, "database \"" + database + "\" on cloud|pgdual schema|failed|not installed: no "));
  CHECK(contains(checks.out, "|run pgdual init --config <your pgdual.toml> --database " + database + "\n"));

  CHECK(contains(console(*this, "SHOW HELP").out, "SHOW CHECKS [database]|"));
  const auto wrong = console(*this, "SHOW CHECKS a b");
  CHECK(wrong.exit_code != 0);
  CHECK(contains(wrong.err, "SHOW CHECKS takes one database at most"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "SHOW CHECKS waiting on a frozen server stalls no other console session, and names the server",
                 "[integration][check][admin][console]") {
  const auto database = fresh_database("check_frozen");
  auto settings = default_settings();
  settings.cloud_lines = "connect_timeout_ms = 15000\n";
  settings.extra = "\n[server]\nthreads = 1\n\n[admin]\nusers = [\"app\"]\n";
  auto& proxy = start_proxy(settings);

  TempDir output{"pgdual-check-frozen"};
  ProcessOptions options;
  options.env = through_proxy("pgdual").libpq_env();
  FrozenServer frozen{backends().cloud};
  Subprocess checks{{pg_program("psql"), "-X", "-A", "-t", "-c", "SHOW CHECKS " + database}, options,
                    output.path() / "out", output.path() / "err"};
  REQUIRE(proxy.log_shows_within("ran SHOW CHECKS", 10s));

  // The checks wait up to 15 s for the frozen server; the console's only thread must not.
  const auto started = std::chrono::steady_clock::now();
  const auto version = console(*this, "SHOW VERSION");
  check_succeeded(version);
  CHECK(std::chrono::steady_clock::now() - started < 8s);
  CHECK(checks.running());

  // Frozen until the checks have given up on it: a thaw before would let the login in after all.
  REQUIRE(checks.wait_for(60s) == 0);
  frozen.thaw();
  const auto out = read_file(output.path() / "out");
  INFO(out << read_file(output.path() / "err"));
  CHECK(contains(out, "role \"app\" on cloud|login|failed|cannot log in to database \"" + database +
                          "\" at 127.0.0.1:" + std::to_string(backends().cloud.port()) + ": "));
  CHECK(contains(out, "role \"app\" on onprem|login|ok|"));
}

TEST_CASE_METHOD(IntegrationTest, "pgdual check --swapped checks the cloud as the primary the cutover makes it: a "
                                  "cloud without logical decoding is ready as the mirror, not as the primary",
                 "[integration][check][wal][cutover]") {
  const PgCluster replica_cloud{"check-swap-cloud", std::nullopt, "wal_level = replica\n"};
  replica_cloud.create_role(kAppUser, kAppPassword);
  auto settings = wal_settings(default_settings());
  settings.cloud_port = replica_cloud.port();
  const auto database = database_without_schema("swap");
  replica_cloud.create_database(database, kAppUser);
  run_pgdual_init(database, settings, PgCluster::kSuperuser);

  const auto as_configured = run_check(settings, database).result;
  INFO(as_configured.describe());
  CHECK(as_configured.exit_code == 0);

  const auto [swapped, config] = run_check(settings, database, {"--swapped"});
  INFO(swapped.describe());
  CHECK(swapped.exit_code == 1);
  CHECK(swapped.out.starts_with("configuration\n  ok      file: " + config +
                                ": valid; mirror.mode wal, primary cloud (checked as after SWAP ROLES), "));
  CHECK(contains(swapped.out, "server cloud (127.0.0.1:" + std::to_string(replica_cloud.port()) + ")\n"));
  CHECK(contains(swapped.out, "  FAILED  mirror.mode wal: wal_level is \"replica\"; the WAL mirror decodes the WAL"));
}

}  // namespace pgdual::test
