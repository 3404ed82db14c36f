// No forgotten setup (issue 21, item 4): the first session in a database nobody ran `pgdual init`
// for sets up pgdual's schema and rights there; where pgdual's logins may not, every write of the
// database's sessions is refused before the primary runs it (55000, naming the command to run),
// reads go on, and a session after `pgdual init` writes again without a restart.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 60s;
constexpr const char* kClerk = "setup_clerk";
constexpr const char* kClerkPassword = "clerk-secret";
/// DatabaseSetup's kRetryAfter, and a margin.
constexpr auto kRetryAfter = 6s;

RunResult psql(const Endpoint& endpoint, const std::string& sql) {
  return run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", "\\set VERBOSITY verbose", "-c", sql},
                    endpoint, kClientTimeout);
}

/// An INSERT in the extended protocol (psycopg binds its parameters server-side): prints the
/// SQLSTATE it failed with, or "inserted".
RunResult insert_extended(const Endpoint& endpoint, int id) {
  const std::string script = R"PY(
import sys, psycopg
with psycopg.connect("") as conn:
    try:
        conn.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (int(sys.argv[1]), "extended"))
        conn.commit()
        print("inserted")
    except psycopg.Error as error:
        print(error.sqlstate)
)PY";
  // Debian's interpreter: python3-psycopg is installed for it only.
  return run_client({"/usr/bin/python3", "-c", script, std::to_string(id)}, endpoint, kClientTimeout);
}

std::string on_server(const PgCluster& server, const std::string& database, const std::string& sql) {
  auto value = server.run_sql(database, sql);
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

void create_role_on_both(const char* role, const char* password) {
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(server->run_sql(
        "postgres", std::string{"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"} + role +
                        "') THEN CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'; END IF; END$$"));
  }
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_CASE_METHOD(IntegrationTest,
                 "the first session sets up a database nobody ran pgdual init for, with the ledger's rights for "
                 "every configured login, and its writes reach the mirror",
                 "[integration][setup]") {
  create_role_on_both(kClerk, kClerkPassword);
  const auto database = database_without_init("setup");
  auto settings = default_settings();
  settings.users.push_back({kClerk, kClerkPassword});
  start_proxy(settings);

  check_succeeded(psql(through_proxy(database),
                       "CREATE TABLE notes (id int PRIMARY KEY, body text); GRANT SELECT, INSERT ON notes TO " +
                           std::string{kClerk} + "; INSERT INTO notes VALUES (1, 'app')"));
  auto clerk = through_proxy(database);
  clerk.user = kClerk;
  clerk.password = kClerkPassword;
  check_succeeded(psql(clerk, "INSERT INTO notes VALUES (2, 'clerk')"));
  const auto extended = insert_extended(clerk, 3);
  INFO(extended.describe());
  CHECK(extended.out == "inserted\n");

  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    CHECK(on_server(*server, database, "SELECT max(version) FROM pgdual.schema_version") == "8");
    CHECK(on_server(*server, database,
                    "SELECT has_table_privilege('" + std::string{kClerk} + "', 'pgdual.ledger', 'INSERT')") == "t");
  }
  CHECK(on_server(backends().cloud, database, "SELECT string_agg(id::text, ',' ORDER BY id) FROM notes") == "1,2,3");
  CHECK(differing_tables(database).empty());
  CHECK(conflicts().empty());
  CHECK(contains(proxy().log(), "pgdual schema version 8 installed on cloud"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "where pgdual may not set a database up, its writes are refused naming pgdual init, its reads go "
                 "on, and after pgdual init a new session writes",
                 "[integration][setup]") {
  // Owned by the superuser: kAppUser may not create pgdual's schema in it.
  const auto database = database_without_init("refused", PgCluster::kSuperuser);
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(server->run_sql(database, "CREATE TABLE notes (id int PRIMARY KEY, body text); "
                                                "GRANT ALL ON notes TO " + std::string{kAppUser}));
  }
  auto settings = default_settings();
  settings.users.push_back({PgCluster::kSuperuser, PgCluster::kSuperuserPassword});
  start_proxy(settings);
  const auto endpoint = through_proxy(database);

  const auto read = psql(endpoint, "SELECT count(*) FROM notes");
  INFO(read.describe());
  CHECK(read.exit_code == 0);
  const auto simple = psql(endpoint, "INSERT INTO notes VALUES (1, 'simple')");
  INFO(simple.describe());
  CHECK(simple.exit_code != 0);
  CHECK(contains(simple.err, "55000"));
  CHECK(contains(simple.err, "pgdual init --config"));
  CHECK(contains(simple.err, "--database " + database));
  const auto ddl = psql(endpoint, "CREATE TABLE later (id int)");
  CHECK(contains(ddl.err, "55000"));
  const auto extended = insert_extended(endpoint, 2);
  INFO(extended.describe());
  CHECK(extended.out == "55000\n");
  CHECK(on_server(backends().onprem, database, "SELECT count(*) FROM notes") == "0");
  CHECK(on_server(backends().onprem, database, "SELECT to_regclass('public.later') IS NULL") == "t");

  run_pgdual_init(database, settings, PgCluster::kSuperuser);
  std::this_thread::sleep_for(kRetryAfter);
  check_succeeded(psql(endpoint, "INSERT INTO notes VALUES (3, 'after init')"));
  CHECK(insert_extended(endpoint, 4).out == "inserted\n");
  CHECK(on_server(backends().cloud, database, "SELECT string_agg(id::text, ',' ORDER BY id) FROM notes") == "3,4");
  CHECK(differing_tables(database).empty());
}

TEST_CASE_METHOD(IntegrationTest,
                 "a login added by a reload gets the ledger's rights from its first session, and its writes reach "
                 "the mirror",
                 "[integration][setup]") {
  constexpr const char* kLate = "setup_late";
  constexpr const char* kLatePassword = "late-secret";
  create_role_on_both(kLate, kLatePassword);
  const auto database = database_without_init("setup_reload");
  auto settings = default_settings();
  settings.extra = "\n[admin]\nusers = [\"" + std::string{kAppUser} + "\"]\n";
  start_proxy(settings);
  check_succeeded(psql(through_proxy(database), "CREATE TABLE notes (id int PRIMARY KEY, body text); GRANT SELECT, "
                                                "INSERT ON notes TO " + std::string{kLate}));

  settings.users.push_back({kLate, kLatePassword});
  settings.conflict_log = proxy().conflict_log().string();  // as pgdual started with it
  write_file(proxy().config_file(), proxy_config_text(settings, proxy().port()));
  check_succeeded(psql(through_proxy("pgdual"), "RELOAD"));
  auto late = through_proxy(database);
  late.user = kLate;
  late.password = kLatePassword;
  check_succeeded(psql(late, "INSERT INTO notes VALUES (1, 'late')"));

  CHECK(on_server(backends().cloud, database,
                  "SELECT has_table_privilege('" + std::string{kLate} + "', 'pgdual.ledger', 'INSERT')") == "t");
  CHECK(on_server(backends().cloud, database, "SELECT count(*) FROM notes") == "1");
  CHECK(differing_tables(database).empty());
  CHECK(conflicts().empty());
}

TEST_CASE_METHOD(IntegrationTest,
                 "a login the mirror's ledger is closed to has its writes refused naming the GRANT, and writes once "
                 "it is granted",
                 "[integration][setup]") {
  create_role_on_both(kClerk, kClerkPassword);
  // Owned by the superuser, and so is pgdual's schema: kAppUser, the set-up's login, may grant nothing.
  const auto database = database_without_init("setup_closed", PgCluster::kSuperuser);
  auto settings = default_settings();
  settings.users.push_back({kClerk, kClerkPassword});
  settings.users.push_back({PgCluster::kSuperuser, PgCluster::kSuperuserPassword});
  run_pgdual_init(database, settings, PgCluster::kSuperuser);
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(server->run_sql(database, "CREATE TABLE notes (id int PRIMARY KEY, body text); GRANT ALL ON "
                                                "notes TO " + std::string{kAppUser} + ", " + kClerk));
  }
  const std::string revoke = "REVOKE ALL ON pgdual.ledger FROM " + std::string{kClerk};
  static_cast<void>(backends().cloud.run_sql(database, revoke));
  start_proxy(settings);
  auto clerk = through_proxy(database);
  clerk.user = kClerk;
  clerk.password = kClerkPassword;

  const auto refused = psql(clerk, "INSERT INTO notes VALUES (1, 'clerk')");
  INFO(refused.describe());
  CHECK(contains(refused.err, "55000"));
  CHECK(contains(refused.err, "GRANT SELECT, INSERT, DELETE ON pgdual.ledger TO " + std::string{kClerk}));
  check_succeeded(psql(through_proxy(database), "INSERT INTO notes VALUES (2, 'app')"));
  CHECK(on_server(backends().onprem, database, "SELECT string_agg(id::text, ',') FROM notes") == "2");

  static_cast<void>(
      backends().cloud.run_sql(database, "GRANT SELECT, INSERT, DELETE ON pgdual.ledger TO " + std::string{kClerk}));
  std::this_thread::sleep_for(kRetryAfter);
  check_succeeded(psql(clerk, "INSERT INTO notes VALUES (3, 'clerk')"));
  CHECK(on_server(backends().cloud, database, "SELECT string_agg(id::text, ',' ORDER BY id) FROM notes") == "2,3");
  CHECK(differing_tables(database).empty());
  CHECK(conflicts().empty());
}

TEST_CASE_METHOD(WalModeTest,
                 "in wal mode the first session sets up a database nobody ran pgdual init for, and the mirror "
                 "gets its schema changes and rows",
                 "[integration][setup][wal_mode]") {
  start_without_init("wal_setup", "CREATE TABLE notes (id int PRIMARY KEY, body text); ALTER TABLE notes OWNER TO " +
                                       std::string{kAppUser});
  check_succeeded(psql(endpoint(), "CREATE TABLE visits (id serial PRIMARY KEY, at timestamptz DEFAULT now()); "
                                   "INSERT INTO visits DEFAULT VALUES; INSERT INTO notes VALUES (1, 'wal')"));
  check_identical();
  std::vector<std::string> sequences;
  for (int attempt = 0; attempt < 30; ++attempt) {  // the sequences follow within mirror.sequence_sync_ms
    sequences = differing_sequences_and_large_objects(database(), backends().onprem, mirror());
    if (sequences.empty()) break;
    std::this_thread::sleep_for(200ms);
  }
  INFO("differing sequences:\n" << lines(sequences));
  CHECK(sequences.empty());
  CHECK(on_mirror("SELECT max(version) FROM pgdual.schema_version") == "8\n");
}

}  // namespace
}  // namespace pgdual::test
