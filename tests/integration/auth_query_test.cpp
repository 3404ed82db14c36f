// Logins without a password list ([auth], docs/auth-lookup.md): roles only the servers know log in
// through pgdual with their own password, SCRAM end to end, and pgdual logs in to both backends
// with the ClientKey their proof revealed. Each test makes roles of its own: roles outlive databases.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/harness/test_ca.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

constexpr auto kClientTimeout = 60s;
constexpr const char* kLookupUser = "aq_lookup";
constexpr const char* kLookupPassword = "lookup-secret";

std::string trimmed(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

/// The role's verifier as the server stores it.
std::string verifier_on(const PgCluster& server, const std::string& role) {
  return trimmed(server.run_sql("postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'"));
}

/// A login role on onprem, copied to the cloud with its verifier as pg_dumpall --roles-only copies
/// it, and granted what kAppUser may do.
void create_copied_role(const std::string& role, const std::string& password) {
  auto& servers = backends();
  servers.onprem.create_role(role, password);
  const auto verifier = verifier_on(servers.onprem, role);
  static_cast<void>(servers.cloud.run_sql("postgres", "CREATE ROLE " + role + " LOGIN PASSWORD '" + verifier + "'"));
  for (const auto* server : {&servers.onprem, &servers.cloud}) {
    static_cast<void>(server->run_sql("postgres", "GRANT " + std::string{kAppUser} + " TO " + role));
  }
}

/// The lookup role on the primary, with the SECURITY DEFINER function docs/auth-lookup.md shows
/// in place of a superuser: it may read one verifier at a time, of non-superusers only.
void create_lookup_function() {
  static bool created = false;
  if (created) return;
  static_cast<void>(backends().onprem.run_sql("postgres", std::string{"CREATE ROLE "} + kLookupUser +
                                                              " LOGIN PASSWORD '" + kLookupPassword + "'"));
  static_cast<void>(backends().onprem.run_sql("postgres", R"sql(
CREATE SCHEMA pgdual_auth;
CREATE FUNCTION pgdual_auth.lookup(role_name text) RETURNS TABLE (rolname name, rolpassword text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.rolname, a.rolpassword FROM pg_catalog.pg_authid a
  WHERE a.rolname = role_name AND a.rolcanlogin AND NOT a.rolsuper
    AND (a.rolvaliduntil IS NULL OR a.rolvaliduntil > now())
$$;
REVOKE ALL ON FUNCTION pgdual_auth.lookup(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA pgdual_auth TO aq_lookup;
GRANT EXECUTE ON FUNCTION pgdual_auth.lookup(text) TO aq_lookup;
)sql"));
  created = true;
}

/// pgdual with lookups by `query` as kLookupUser, who is in the file with kAppUser.
ProxySettings with_lookup(const std::string& query = "SELECT rolname, rolpassword FROM pgdual_auth.lookup($1)",
                          const std::string& more = "") {
  create_lookup_function();
  auto settings = IntegrationTest::default_settings();
  settings.users.push_back({kLookupUser, kLookupPassword});
  settings.extra = "\n[auth]\nlookup_user = \"" + std::string{kLookupUser} + "\"\nquery = \"" + query + "\"\n" + more;
  return settings;
}

RunResult psql_as(IntegrationTest& test, const std::string& database, const std::string& user,
                  const std::string& password, const std::string& command, const std::string& options = {}) {
  auto endpoint = test.proxy().endpoint(user, password, database);
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                     "dbname=" + database + " " + options, "-c", command},
                    endpoint, kClientTimeout);
}

/// `table` on both servers, owned by kAppUser, whose rights the copied roles hold.
void create_table_of_app(const std::string& database, const std::string& table) {
  const auto name = table.substr(0, table.find(' '));
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(server->run_sql(database, "CREATE TABLE " + table + "; ALTER TABLE " + name + " OWNER TO " +
                                                    std::string{kAppUser}));
  }
}

std::string password_failed(const std::string& user) {
  return "FATAL:  password authentication failed for user \"" + user + "\"";
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "A role only the servers know logs in with its own password and writes to both",
                 "[integration][auth_query]") {
  const auto database = fresh_database("aq_write");
  create_copied_role("aq_nurse", "nurse-secret");
  create_table_of_app(database, "notes (id int PRIMARY KEY, body text)");
  start_proxy(with_lookup());

  const auto written = psql_as(*this, database, "aq_nurse", "nurse-secret",
                               "INSERT INTO notes VALUES (1, 'seen'); SELECT current_user");
  INFO(written.describe());
  REQUIRE(written.exit_code == 0);
  CHECK(written.out == "INSERT 0 1\naq_nurse\n");
  CHECK(backends().onprem.run_sql(database, "SELECT count(*) FROM notes") == "1\n");
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM notes") == "1\n");
  CHECK(differing_tables(database).empty());
  // The secret crosses pgdual's log in no form.
  const auto verifier = verifier_on(backends().onprem, "aq_nurse");
  CHECK(proxy().log().find(verifier.substr(verifier.rfind('$') + 1)) == std::string::npos);
  CHECK_THAT(proxy().log(), !Contains("SCRAM-SHA-256$"));
}

TEST_CASE_METHOD(IntegrationTest, "A wrong password, an unknown role and an md5-only role get one and the same answer",
                 "[integration][auth_query]") {
  const auto database = fresh_database("aq_refused");
  create_copied_role("aq_clerk", "clerk-secret");
  static_cast<void>(backends().onprem.run_sql(
      "postgres", "SET password_encryption = 'md5'; CREATE ROLE aq_legacy LOGIN PASSWORD 'legacy-secret'"));
  start_proxy(with_lookup());

  const auto wrong = psql_as(*this, database, "aq_clerk", "not-the-password", "SELECT 1");
  CHECK(wrong.exit_code == 2);
  CHECK_THAT(wrong.err, Contains(password_failed("aq_clerk")));
  const auto unknown = psql_as(*this, database, "aq_nobody", "not-the-password", "SELECT 1");
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Contains(password_failed("aq_nobody")));
  const auto legacy = psql_as(*this, database, "aq_legacy", "legacy-secret", "SELECT 1");
  CHECK(legacy.exit_code == 2);
  CHECK_THAT(legacy.err, Contains(password_failed("aq_legacy")));
  // The reasons are the operator's, in the log only.
  CHECK_THAT(proxy().log(), Contains("role \"aq_nobody\" gets no SCRAM login by auth.query: auth.query returned no row"));
  CHECK_THAT(proxy().log(), Contains("role \"aq_legacy\" gets no SCRAM login by auth.query: the role has an md5 password"));
  CHECK_THAT(proxy().log(), !Contains("connecting user=aq_"));

  const auto right = psql_as(*this, database, "aq_clerk", "clerk-secret", "SELECT current_user");
  INFO(right.describe());
  CHECK(right.out == "aq_clerk\n");
}

/// A role copied to the cloud whose password was then set again there: same password, new salt,
/// so another verifier.
void create_role_with_other_cloud_verifier(const std::string& role, const std::string& password) {
  create_copied_role(role, password);
  static_cast<void>(backends().cloud.run_sql("postgres", "ALTER ROLE " + role + " PASSWORD '" + password + "'"));
  REQUIRE(verifier_on(backends().cloud, role) != verifier_on(backends().onprem, role));
}

TEST_CASE_METHOD(IntegrationTest,
                 "A mirror with another verifier for the role is named with what to do, and the session goes on "
                 "without it, as when the mirror is down",
                 "[integration][auth_query]") {
  const auto database = fresh_database("aq_differs");
  create_role_with_other_cloud_verifier("aq_porter", "porter-secret");
  start_proxy(with_lookup());

  const auto served = psql_as(*this, database, "aq_porter", "porter-secret", "SELECT current_user");
  INFO(served.describe());
  CHECK(served.out == "aq_porter\n");
  CHECK_THAT(proxy().log(), Contains("the mirror is unavailable: pgdual cannot log in to backend \"cloud\""));
  CHECK_THAT(proxy().log(), Contains("as role \"aq_porter\": its SCRAM salt or iteration count differ from the "
                                     "primary's; give the role there the verifier it has on the primary"));
}

TEST_CASE_METHOD(IntegrationTest,
                 "A primary with another verifier than auth.query returned refuses the client, naming the backend",
                 "[integration][auth_query]") {
  const auto database = fresh_database("aq_stale");
  create_role_with_other_cloud_verifier("aq_runner", "runner-secret");
  // A verifier list kept apart from pg_authid that has gone stale: it holds the cloud's verifier.
  static_cast<void>(backends().onprem.run_sql(
      "postgres", "CREATE TABLE pgdual_auth.stale (rolname name, rolpassword text); "
                  "GRANT USAGE ON SCHEMA pgdual_auth TO aq_lookup; GRANT SELECT ON pgdual_auth.stale TO aq_lookup; "
                  "INSERT INTO pgdual_auth.stale VALUES ('aq_runner', '" + verifier_on(backends().cloud, "aq_runner") +
                  "')"));
  start_proxy(with_lookup("SELECT rolname, rolpassword FROM pgdual_auth.stale WHERE rolname = $1"));

  const auto refused = psql_as(*this, database, "aq_runner", "runner-secret", "SELECT 1");
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Contains("FATAL:  pgdual cannot log in to backend \"onprem\" at 127.0.0.1:"));
  CHECK_THAT(refused.err, Contains("as role \"aq_runner\": its SCRAM salt or iteration count differ"));
}

TEST_CASE_METHOD(IntegrationTest, "A looked-up role logs in with channel binding over TLS", "[integration][auth_query]") {
  const auto database = fresh_database("aq_tls");
  create_copied_role("aq_medic", "medic-secret");
  TempDir dir{"pgdual-aq-tls"};
  const auto cert = dir.path() / "server.crt";
  const auto key = dir.path() / "server.key";
  std::filesystem::copy_file(test_ca().server_cert, cert);
  std::filesystem::copy_file(test_ca().server_key, key);
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  start_proxy(with_lookup("SELECT rolname, rolpassword FROM pgdual_auth.lookup($1)",
                          "\n[tls]\nmode = \"allow\"\ncert_file = \"" + cert.string() + "\"\nkey_file = \"" +
                              key.string() + "\"\n"));

  const auto bound = psql_as(*this, database, "aq_medic", "medic-secret", "SELECT current_user",
                             "sslmode=require channel_binding=require");
  INFO(bound.describe());
  CHECK(bound.out == "aq_medic\n");
  const auto wrong = psql_as(*this, database, "aq_medic", "not-the-password", "SELECT 1",
                             "sslmode=require channel_binding=require");
  CHECK_THAT(wrong.err, Contains(password_failed("aq_medic")));
}

TEST_CASE_METHOD(IntegrationTest, "A user added to the file logs in after RELOAD, without a restart",
                 "[integration][auth_query]") {
  const auto database = fresh_database("aq_reload");
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    server->create_role("aq_added", "added-secret");
    static_cast<void>(server->run_sql("postgres", "GRANT " + std::string{kAppUser} + " TO aq_added"));
  }
  create_table_of_app(database, "visits (id int PRIMARY KEY)");
  auto settings = default_settings();
  settings.extra = "\n[admin]\nusers = [\"" + std::string{kAppUser} + "\"]\n";
  start_proxy(settings);
  CHECK_THAT(psql_as(*this, database, "aq_added", "added-secret", "SELECT 1").err,
             Contains(password_failed("aq_added")));

  settings.users.push_back({"aq_added", "added-secret"});
  settings.conflict_log = proxy().conflict_log().string();  // as pgdual started with it
  write_file(proxy().config_file(), proxy_config_text(settings, proxy().port()));
  const auto reloaded = psql_as(*this, "pgdual", kAppUser, kAppPassword, "RELOAD");
  INFO(reloaded.describe());
  CHECK_THAT(reloaded.err, Contains("users changed for new logins"));
  CHECK_THAT(reloaded.err, !Contains("take effect at the next start"));

  const auto added = psql_as(*this, database, "aq_added", "added-secret",
                             "INSERT INTO visits VALUES (1); SELECT current_user");
  INFO(added.describe());
  CHECK(added.out == "INSERT 0 1\naq_added\n");
  CHECK(differing_tables(database).empty());
}

TEST_CASE_METHOD(WalModeTest, "In wal mode a looked-up role's writes reach the mirror through the WAL",
                 "[integration][auth_query]") {
  create_copied_role("aq_scribe", "scribe-secret");
  const auto wal = wal_settings();  // kAppUser, then the superuser the WAL mirror logs in as
  auto settings = with_lookup();
  settings.users.push_back(wal.users.back());
  settings.mirror_lines = wal.mirror_lines;
  start("aq_wal", "CREATE TABLE charts (id int PRIMARY KEY, note text); ALTER TABLE charts OWNER TO " +
                      std::string{kAppUser},
        settings);

  const auto written = psql_as(*this, database(), "aq_scribe", "scribe-secret",
                               "INSERT INTO charts VALUES (1, 'x'), (2, 'y'); SELECT current_user");
  INFO(written.describe());
  CHECK(written.out == "INSERT 0 2\naq_scribe\n");
  // Answered once the mirror applied it.
  check_identical();
  CHECK(on_mirror("SELECT count(*) FROM charts") == "2\n");
}

}  // namespace pgdual::test
