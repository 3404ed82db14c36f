// What `pgdual reconcile --apply` must never do to the mirror: fire its triggers or rules, fail
// on values moved between rows of a table with another unique key, or undo a write that clients
// made while it ran. The two servers are compared directly, never through pgdual.
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_load.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 300s;

RunResult pgdual_command(const std::vector<std::string>& words) {
  std::vector<std::string> argv{PGDUAL_BINARY};
  argv.insert(argv.end(), words.begin(), words.end());
  return run(argv, {}, kCommandTimeout);
}

/// `pgdual <command>` on `database` with the shared servers' configuration.
RunResult run_job(const std::string& command, const std::string& database, std::vector<std::string> options = {}) {
  TempDir dir{"pgdual-reconcile"};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(IntegrationTest::default_settings(), 6432));
  std::vector<std::string> words{command, "--config", config.string(), "--database", database};
  words.insert(words.end(), options.begin(), options.end());
  return pgdual_command(words);
}

bool says(const RunResult& result, const std::string& text) { return result.out.find(text) != std::string::npos; }

/// The same rows on both servers, then the triggers and the rule, which would stamp, audit and log
/// whatever a repair did. The audit trigger names its table without a schema, as applications do.
constexpr const char* kTriggeredSchema = R"sql(
SET ROLE app;
CREATE TABLE audit (at timestamptz, what text);
CREATE TABLE charts_log (id integer, note text);
CREATE TABLE charts (id integer PRIMARY KEY, note text, updated_at timestamptz NOT NULL);
INSERT INTO charts SELECT g, 'secret-chart-' || g, timestamptz '2024-01-01 00:00:00+00' FROM generate_series(1, 200) g;
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN INSERT INTO audit VALUES (now(), TG_OP); RETURN NULL; END $$;
CREATE TRIGGER charts_stamp BEFORE INSERT OR UPDATE ON charts FOR EACH ROW EXECUTE FUNCTION stamp();
CREATE TRIGGER charts_audit AFTER INSERT OR UPDATE OR DELETE ON charts FOR EACH ROW EXECUTE FUNCTION audit_change();
CREATE RULE charts_logged AS ON DELETE TO charts DO ALSO INSERT INTO charts_log VALUES (OLD.id, OLD.note);
)sql";

TEST_CASE_METHOD(IntegrationTest, "reconcile --apply fires no trigger or rule of the mirror's",
                 "[integration][reconcile][reconcile_safety]") {
  const auto database = fresh_database("reconcile_triggers");
  static_cast<void>(backends().onprem.run_sql(database, kTriggeredSchema));
  static_cast<void>(backends().cloud.run_sql(database, kTriggeredSchema));
  static_cast<void>(backends().cloud.run_sql(
      database, "SET session_replication_role = replica; DELETE FROM charts WHERE id = 3; "
                "UPDATE charts SET note = 'secret-changed' WHERE id = 5; "
                "INSERT INTO charts VALUES (999, 'secret-extra', now())"));

  const auto applied = run_job("reconcile", database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 0);
  CHECK(says(applied, "public.charts: inserted 1 row, updated 1 row, deleted 1 row\n"));
  CHECK(says(applied, "reconcile: done; verified identical\n"));
  // A trigger would have stamped the rows with the repair's time, audited it, logged the delete.
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM charts WHERE updated_at <> '2024-01-01 00:00:00+00'") ==
        "0\n");
  CHECK(backends().cloud.run_sql(database, "SELECT (SELECT count(*) FROM audit) + (SELECT count(*) FROM charts_log)") ==
        "0\n");
  CHECK(differing_tables(database, backends().onprem, backends().cloud).empty());
}

/// Patients with serial ids and a unique MRN, and their encounters. On the mirror the ids went to
/// other patients (1200 reversed), so every encounter there points at the wrong patient.
constexpr const char* kPatientsSchema = R"sql(
SET ROLE app;
CREATE TABLE patients (id serial PRIMARY KEY, mrn text NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE encounters (id serial PRIMARY KEY, patient_id integer NOT NULL REFERENCES patients, ward text);
INSERT INTO patients (mrn, name) SELECT 'MRN' || lpad(g::text, 6, '0'), 'secret-name-' || g FROM generate_series(1, 1200) g;
INSERT INTO encounters (patient_id, ward) SELECT 1 + g % 1200, 'ward ' || g % 9 FROM generate_series(1, 3000) g;
)sql";

constexpr const char* kPatientsPermuted = R"sql(
SET session_replication_role = replica;
DELETE FROM patients;
INSERT INTO patients (id, mrn, name)
  SELECT 1201 - g, 'MRN' || lpad(g::text, 6, '0'), 'secret-name-' || g FROM generate_series(1, 1200) g;
)sql";

/// Each encounter's patient, by MRN, on one server.
std::set<std::string> encounter_links(const PgCluster& server, const std::string& database) {
  std::istringstream rows{server.run_sql(database, "SELECT e.id || '>' || p.mrn FROM encounters e JOIN patients p "
                                                   "ON p.id = e.patient_id")};
  std::set<std::string> links;
  for (std::string row; std::getline(rows, row);) links.insert(row);
  return links;
}

std::size_t wrong_links(const std::string& database) {
  const auto primary = encounter_links(backends().onprem, database);
  std::size_t wrong = 0;
  for (const auto& link : encounter_links(backends().cloud, database)) wrong += primary.contains(link) ? 0 : 1;
  return wrong;
}

TEST_CASE_METHOD(IntegrationTest, "reconcile --apply moves MRNs back between patients across batches",
                 "[integration][reconcile][reconcile_safety]") {
  const auto database = fresh_database("reconcile_unique");
  static_cast<void>(backends().onprem.run_sql(database, kPatientsSchema));
  static_cast<void>(backends().cloud.run_sql(database, kPatientsSchema));
  static_cast<void>(backends().cloud.run_sql(database, kPatientsPermuted));
  REQUIRE(wrong_links(database) == 3000);

  const auto applied = run_job("reconcile", database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 0);
  CHECK(says(applied, "public.patients: updated 1200 rows\n"));
  CHECK(says(applied, "reconcile: done; verified identical\n"));
  CHECK_FALSE(says(applied, "secret-"));
  CHECK(wrong_links(database) == 0);
  CHECK(differing_tables(database, backends().onprem, backends().cloud).empty());
}

/// A table other tables inherit from: its rows and theirs are each the table's own.
constexpr const char* kInheritedSchema = R"sql(
SET ROLE app;
CREATE TABLE notes (id integer PRIMARY KEY, body text);
CREATE TABLE urgent_notes (PRIMARY KEY (id)) INHERITS (notes);
INSERT INTO notes SELECT g, 'secret-note-' || g FROM generate_series(1, 100) g;
INSERT INTO urgent_notes SELECT g, 'secret-urgent-' || g FROM generate_series(101, 150) g;
)sql";

TEST_CASE_METHOD(IntegrationTest, "verify and reconcile take an inherited table's rows as its own, not its parent's",
                 "[integration][reconcile][reconcile_safety]") {
  const auto database = fresh_database("reconcile_inherited");
  static_cast<void>(backends().onprem.run_sql(database, kInheritedSchema));
  static_cast<void>(backends().cloud.run_sql(database, kInheritedSchema));
  static_cast<void>(backends().cloud.run_sql(
      database, "SET ROLE app; UPDATE urgent_notes SET body = 'secret-changed' WHERE id = 120; "
                "DELETE FROM urgent_notes WHERE id = 130"));

  const auto found = run_job("verify", database);
  INFO(found.describe());
  CHECK(says(found, "public.notes: identical, 100 rows, compared by key (id)\n"));
  CHECK(says(found, "public.urgent_notes: differs, 50 rows on primary, 49 on mirror, compared by key (id)\n"));
  const auto applied = run_job("reconcile", database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 0);
  CHECK(says(applied, "public.urgent_notes: inserted 1 row, updated 1 row\n"));
  CHECK_FALSE(says(applied, "public.notes:"));
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM ONLY notes") == "100\n");
  CHECK(differing_tables(database, backends().onprem, backends().cloud).empty());
}

/// The write load's tables (tests/integration/data/wal_write_load.py), and a table that differs
/// on the mirror while clients write the others.
constexpr const char* kLiveSchema = R"sql(
CREATE TABLE writes (client int, seq int, at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (client, seq));
CREATE TABLE journal (client int NOT NULL, seq int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE tallies (client int PRIMARY KEY, transactions int NOT NULL);
INSERT INTO tallies SELECT client, 0 FROM generate_series(0, 99) client;
CREATE TABLE charts (id integer PRIMARY KEY, note text);
INSERT INTO charts SELECT g, 'secret-chart-' || g FROM generate_series(1, 2000) g;
GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
)sql";

class ReconcileLiveTest : public WalModeTest {
 protected:
  [[nodiscard]] RunResult reconcile() {
    return pgdual_command({"reconcile", "--config", proxy().config_file().string(), "--database", database(),
                           "--apply"});
  }

  /// How many of the load's acknowledged writes `server` lacks.
  [[nodiscard]] std::size_t missing_on(const PgCluster& server, const LoadReport& load) const {
    return load.missing_from(server.run_sql(database(), "SELECT client, seq FROM writes"));
  }

  [[nodiscard]] Subprocess start_pgbench(const TempDir& dir, std::chrono::seconds duration) const {
    ProcessOptions options;
    options.env = endpoint().libpq_env();
    return Subprocess{{pg_program("pgbench"), "--no-vacuum", "--client=2", "--time=" + std::to_string(duration.count())},
                      options, dir.path() / "pgbench.out", dir.path() / "pgbench.out"};
  }
};

TEST_CASE_METHOD(ReconcileLiveTest, "reconcile --apply under pgbench and a key-writing load undoes no acknowledged write",
                 "[integration][reconcile][reconcile_safety][wal_mode]") {
  start("reconcile_live", kLiveSchema);
  for (const auto* server : {&backends().onprem, &backends().cloud}) {
    check_succeeded(run_client({pg_program("pgbench"), "--initialize", "--init-steps=dtp", "--scale=1"},
                               server->superuser(database()), kCommandTimeout));
  }
  on_both("GRANT ALL ON ALL TABLES IN SCHEMA public TO app");
  static_cast<void>(on_mirror("SET session_replication_role = replica; DELETE FROM charts WHERE id % 97 = 0; "
                              "UPDATE charts SET note = 'secret-changed' WHERE id % 89 = 0"));
  REQUIRE(wait_until([&] { return run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, endpoint(), 30s).exit_code == 0; },
                     30s));
  check_succeeded(
      run_client({pg_program("pgbench"), "--initialize", "--init-steps=g", "--scale=1"}, endpoint(), kCommandTimeout));

  TempDir dir{"pgdual-reconcile-live"};
  WriteLoad load{endpoint(), 25s, 5000ms};
  auto pgbench = start_pgbench(dir, 25s);
  std::vector<RunResult> runs;
  while (std::chrono::steady_clock::now() < load.started() + 20s) runs.push_back(reconcile());
  const auto report = load.finish();
  const auto pgbench_exit = pgbench.wait_for(60s);
  keep_for_failure_report("pgbench", read_file(dir.path() / "pgbench.out"));
  std::string outputs;
  for (const auto& run : runs) outputs += run.describe();
  keep_for_failure_report("reconcile runs during the load", outputs);

  INFO(report.output);
  REQUIRE(report.succeeded());
  CHECK(pgbench_exit == 0);
  REQUIRE_FALSE(runs.empty());
  for (const auto& run : runs) CHECK(run.exit_code <= 1);
  CHECK(says(runs.front(), "public.charts: inserted 20 rows, updated 22 rows\n"));
  CHECK(missing_on(backends().onprem, report) == 0);
  CHECK(missing_on(mirror(), report) == 0);
  // Once the writes are applied, nothing differs: no repair made the mirror lose or change one.
  const auto identical_after = wait_until_identical(60s);
  INFO("differing tables:\n" << lines(differing()));
  CHECK(identical_after.has_value());
}

TEST_CASE_METHOD(IntegrationTest, "reconcile --apply in statement mode deletes no row a client just wrote through pgdual",
                 "[integration][reconcile][reconcile_safety]") {
  const auto database = fresh_database("reconcile_live_statement");
  static_cast<void>(backends().onprem.run_sql(database, kLiveSchema));
  static_cast<void>(backends().cloud.run_sql(database, kLiveSchema));
  auto& proxy = start_proxy();
  const auto endpoint = through_proxy(database);
  const auto reconcile = [&] {
    return pgdual_command({"reconcile", "--config", proxy.config_file().string(), "--database", database, "--table",
                           "writes", "--apply"});
  };

  WriteLoad load{endpoint, 15s, 5000ms};
  std::vector<RunResult> runs;
  while (std::chrono::steady_clock::now() < load.started() + 12s) runs.push_back(reconcile());
  const auto report = load.finish();
  std::string outputs;
  for (const auto& run : runs) outputs += run.describe();
  keep_for_failure_report("reconcile runs during the load", outputs);

  INFO(report.output);
  REQUIRE(report.succeeded());
  REQUIRE_FALSE(runs.empty());
  // Each write's `at` is the server's own clock: in statement mode the two differ, and reconcile
  // copies the primary's. No acknowledged write may be missing from either server.
  const auto rows = [&](const PgCluster& server) { return server.run_sql(database, "SELECT client, seq FROM writes"); };
  CHECK(report.missing_from(rows(backends().onprem)) == 0);
  CHECK(report.missing_from(rows(backends().cloud)) == 0);
}

}  // namespace
}  // namespace pgdual::test
