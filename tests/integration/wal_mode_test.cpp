// mirror.mode = "wal" through pgdual, with two real servers: the mirror receives what the primary
// committed, from its WAL, and each client's write is answered once the mirror has it.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 180s;

RunResult psql(const Endpoint& endpoint, const std::string& script) {
  return run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", script}, endpoint, kClientTimeout);
}

/// Triggers, defaults, sequences and a rule: what the primary makes of a statement, not the
/// statement, is what the mirror must get.
constexpr std::string_view kClinicSchema = R"sql(
CREATE TABLE patients (id serial PRIMARY KEY, name text NOT NULL, admitted timestamptz DEFAULT now(),
                       updated_at timestamptz, token uuid DEFAULT gen_random_uuid());
CREATE TABLE audit (id bigserial PRIMARY KEY, patient int, at timestamptz, xid bigint);
CREATE FUNCTION audit_patient() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit (patient, at, xid) VALUES (NEW.id, clock_timestamp(), txid_current()); RETURN NEW; END $$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER audit_after AFTER INSERT ON patients FOR EACH ROW EXECUTE FUNCTION audit_patient();
CREATE TRIGGER touch_before BEFORE INSERT OR UPDATE ON patients FOR EACH ROW EXECUTE FUNCTION touch();
GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;
)sql";

TEST_CASE_METHOD(WalModeTest, "wal mode: autocommit writes and transactions are on the mirror when the client's "
                              "answer comes, as the primary made them",
                 "[integration][wal_mode]") {
  start("wal_simple", std::string{kClinicSchema});
  check_succeeded(psql(endpoint(), "INSERT INTO patients (name) VALUES ('a'), ('b')"));
  CHECK(on_mirror("SELECT count(*) FROM audit") == "2\n");
  check_succeeded(run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", "BEGIN", "-c",
                              "UPDATE patients SET name = name || '!'", "-c",
                              "INSERT INTO patients (name) VALUES ('c') RETURNING id", "-c", "COMMIT"},
                             endpoint(), kClientTimeout));
  CHECK(on_mirror("SELECT string_agg(name, ',' ORDER BY id) FROM patients") == "a!,b!,c\n");
  check_succeeded(psql(endpoint(), "BEGIN; DELETE FROM patients WHERE name = 'c'; COMMIT"));
  check_identical();
  CHECK(on_mirror("SELECT count(*) FROM pgdual.applied WHERE unit_key IS NOT NULL") != "0\n");
  // Sequences are not in the WAL stream: copied every mirror.sequence_sync_ms (1 s by default).
  const std::string sequences = "SELECT string_agg(last_value || ' ' || is_called, ',') FROM "
                                "(SELECT * FROM patients_id_seq UNION ALL SELECT * FROM audit_id_seq) AS s";
  const bool copied = wait_until([&] { return on_mirror(sequences) == on_primary(sequences); }, 10s);
  INFO("primary " << on_primary(sequences) << " mirror " << on_mirror(sequences));
  CHECK(copied);
}

TEST_CASE_METHOD(WalModeTest, "wal mode: the client sees the primary's answers byte for byte, error positions "
                              "included",
                 "[integration][wal_mode]") {
  start("wal_answers", std::string{kClinicSchema});
  const std::string script =
      "INSERT INTO patients (name) VALUES ('x') RETURNING name;\n"
      "INSERT INTO patients (id, name) VALUES ('not a number', 'y');\n"
      "UPDATE patients SET name = 'z' WHERE id = 1 RETURNING name, updated_at IS NOT NULL;\n"
      "BEGIN;\nINSERT INTO patients (name) VALUES ('w');\nCOMMIT;\n"
      "SELECT name FROM patients ORDER BY id;\n"
      // DDL, which pgdual marks: a notice raised as the Query is parsed (the name is truncated),
      // and a function body's compile error, placed in the client's statement.
      "DROP TABLE IF EXISTS a_table_name_much_longer_than_the_sixty_three_bytes_postgresql_keeps;\n"
      "CREATE FUNCTION broken() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1 +;\nEND $$;\n";
  TempDir dir{"pgdual-wal-script"};
  const auto file = dir.path() / "script.sql";
  write_file(file, script);
  const std::vector<std::string> argv = {pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=0", "-f", file.string()};
  const auto proxied = run_client(argv, endpoint(), kClientTimeout);
  // The same statements again, straight to the primary, from the same ids.
  static_cast<void>(on_primary("TRUNCATE patients, audit RESTART IDENTITY"));
  const auto straight = run_client(argv, direct(database()), kClientTimeout);
  check_same_output(straight, proxied);
  CHECK(proxied.err.find("LINE 1: INSERT INTO patients (id, name) VALUES ('not a number'") != std::string::npos);
}

TEST_CASE_METHOD(WalModeTest, "wal mode: psycopg's extended protocol, autocommit and in transactions, is "
                              "acknowledged once the mirror has it",
                 "[integration][wal_mode]") {
  start("wal_psycopg", std::string{kClinicSchema});
  const std::string script = R"py(
import sys, psycopg
mirror = dict(host=sys.argv[1], port=sys.argv[2], user=sys.argv[3], password=sys.argv[4])
with psycopg.connect(autocommit=True) as conn, psycopg.connect(dbname=conn.info.dbname, autocommit=True, **mirror) as cloud:
    def on_mirror():
        return cloud.execute("SELECT count(*) FROM patients").fetchone()[0]
    for i in range(20):
        conn.execute("INSERT INTO patients (name) VALUES (%s)", (f"p{i}",))
        assert on_mirror() == i + 1, ("autocommit", i, on_mirror())
    with conn.transaction():
        conn.execute("INSERT INTO patients (name) VALUES (%s)", ("t1",))
        conn.execute("UPDATE patients SET name = name || %s WHERE name = %s", ("!", "t1"))
    assert on_mirror() == 21, ("transaction", on_mirror())
    with conn.pipeline():
        for i in range(10):
            conn.execute("INSERT INTO patients (name) VALUES (%s)", (f"q{i}",))
    assert on_mirror() == 31, ("pipeline", on_mirror())
print("ok")
)py";
  TempDir dir{"pgdual-wal-psycopg"};
  const auto file = dir.path() / "script.py";
  write_file(file, script);
  const auto cloud = backends().cloud.superuser(database());
  const auto result = run_client({"/usr/bin/python3", file.string(), cloud.host, std::to_string(cloud.port),
                                  cloud.user, cloud.password},
                                 endpoint(), kClientTimeout);
  check_succeeded(result);
  check_identical();
}

TEST_CASE_METHOD(WalModeTest, "wal mode: pgbench -N from 8 clients leaves identical tables, with no wait after it",
                 "[integration][wal_mode][pgbench]") {
  start("wal_pgbench", "SELECT 1");
  make_pgbench_tables();
  for (const std::string mode : {"simple", "extended", "prepared"}) {
    INFO(mode);
    check_succeeded(run_client({pg_program("pgbench"), "--no-vacuum", "-N", "--protocol=" + mode, "--client=8",
                                "--jobs=2", "--transactions=50"},
                               endpoint(), kClientTimeout));
    check_identical();
  }
  CHECK(on_mirror("SELECT count(*) FROM pgbench_history") == "1200\n");
}

/// Each table's columns, as both servers should agree on them.
constexpr std::string_view kColumns =
    "SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable, ',' "
    "ORDER BY table_name, ordinal_position) FROM information_schema.columns WHERE table_schema = 'public'";

TEST_CASE_METHOD(WalModeTest, "wal mode: DDL through pgdual reaches the mirror at its point of the stream, in and "
                              "out of transactions",
                 "[integration][wal_mode][ddl]") {
  start("wal_ddl", "SELECT 1");
  const std::string script = R"sql(
CREATE TABLE wards (id serial PRIMARY KEY, name text NOT NULL, opened timestamptz DEFAULT now());
INSERT INTO wards (name) VALUES ('north'), ('south');
BEGIN;
ALTER TABLE wards ADD COLUMN beds int;
UPDATE wards SET beds = id * 10;
CREATE TABLE beds AS SELECT w.id AS ward, g AS bed FROM wards w, generate_series(1, 3) g;
COMMIT;
CREATE INDEX beds_ward ON beds (ward);
ALTER TABLE wards RENAME COLUMN name TO label;
INSERT INTO wards (label, beds) VALUES ('east', 5);
)sql";
  TempDir dir{"pgdual-wal-ddl"};
  const auto file = dir.path() / "script.sql";
  write_file(file, script);
  check_succeeded(run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-f", file.string()}, endpoint(),
                             kClientTimeout));
  CHECK(on_mirror(std::string{kColumns}) == on_primary(std::string{kColumns}));
  CHECK(on_mirror("SELECT count(*) FROM beds") == "6\n");
  CHECK(on_mirror("SELECT indexname FROM pg_indexes WHERE tablename = 'beds'") == "beds_ward\n");
  CHECK(on_mirror("SELECT tableowner FROM pg_tables WHERE tablename = 'wards'") == "app\n");
  check_identical();
  CHECK(conflicts().empty());
  // pgdual init ran as the application's role here, which may not make the event trigger.
  CHECK(proxy().log_shows_within("the primary has no event trigger pgdual_replica_identity", 5s));
}

TEST_CASE_METHOD(WalModeTest, "wal mode: DDL after other statements of one Query is recorded, not lost in silence",
                 "[integration][wal_mode][ddl]") {
  start("wal_ddl_late", "CREATE TABLE notes (id int PRIMARY KEY); GRANT ALL ON notes TO app;");
  check_succeeded(psql(endpoint(), "INSERT INTO notes VALUES (1); CREATE TABLE later (a int)"));
  const auto records = wait_for_conflicts(1, 10s);
  REQUIRE(records.size() == 1);
  CHECK(records.front().kind == conflict::ConflictKind::unclassified);
  CHECK(on_mirror("SELECT count(*) FROM notes") == "1\n");
}

TEST_CASE_METHOD(WalModeTest, "wal mode: a column added with a default computed as it runs is carried and recorded, "
                              "for the mirror fills the rows already there with values of its own",
                 "[integration][wal_mode][ddl]") {
  start("wal_ddl_filled", "SELECT 1");
  check_succeeded(psql(endpoint(), "CREATE TABLE notes (id int PRIMARY KEY)"));
  check_succeeded(psql(endpoint(), "INSERT INTO notes SELECT generate_series(1, 3)"));
  check_succeeded(psql(endpoint(), "ALTER TABLE notes ADD COLUMN kept text DEFAULT 'none'"));
  CHECK(wait_for_conflicts(1, 2s).empty());  // a constant: both servers fill alike
  check_succeeded(psql(endpoint(), "ALTER TABLE notes ADD COLUMN seen timestamptz DEFAULT clock_timestamp()"));
  const auto records = wait_for_conflicts(1, 10s);
  REQUIRE(records.size() == 1);
  CHECK(records.front().kind == conflict::ConflictKind::unclassified);
  CHECK(records.front().tables == std::vector<std::string>{"notes"});
  CHECK(on_mirror("SELECT count(seen) FROM notes") == "3\n");
  const auto differ = differing();  // clock_timestamp() on each server: notes, and only notes, differs
  REQUIRE(differ.size() == 1);
  CHECK(differ.front().starts_with("notes:"));
}

TEST_CASE_METHOD(WalModeTest, "wal mode: a session's reads stay on the primary while its write is not applied on "
                              "the mirror",
                 "[integration][wal_mode]") {
  auto settings = wal_settings();
  settings.mirror_timeout_ms = 300;
  settings.routing = "read_percent = 100\n";
  start("wal_read_your_writes", "CREATE TABLE visits (id int PRIMARY KEY); GRANT ALL ON visits TO app;", settings);
  // SHARE mode lets the mirror's reads through and holds its apply: the INSERT is answered after
  // mirror.timeout_ms, not yet applied there.
  TempDir dir{"pgdual-wal-ryw"};
  ProcessOptions as_superuser;
  as_superuser.env = backends().cloud.superuser(database()).libpq_env();
  Subprocess locker{{pg_program("psql"), "-X", "-q", "-c",
                     "BEGIN; LOCK TABLE visits IN SHARE MODE; SELECT pg_sleep(4); COMMIT;"},
                    as_superuser, dir.path() / "lock.log", dir.path() / "lock.log"};
  std::this_thread::sleep_for(500ms);
  std::vector<std::string> argv{pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
  // Reads first, so that the session's mirror connection is up and serving them.
  for (int i = 0; i < 5; ++i) {
    for (const char* part : {"-c", "SELECT count(*) FROM visits"}) argv.emplace_back(part);
  }
  for (const char* part : {"-c", "INSERT INTO visits VALUES (1)", "-c", "SELECT count(*) FROM visits"}) {
    argv.emplace_back(part);
  }
  const auto result = run_client(argv, endpoint(), kClientTimeout);
  check_succeeded(result);
  CHECK(result.out == "0\n0\n0\n0\n0\nINSERT 0 1\n1\n");
  static_cast<void>(locker.wait_for(10s));
}

/// Writes then reads its write at once, 2,000 times, autocommit and in transactions. Exits 1 at the
/// first read that missed its write.
constexpr std::string_view kWriteThenRead = R"py(
import sys
import psycopg

with psycopg.connect("", autocommit=True) as conn:
    for i in range(2000):
        if i % 4 == 0:
            with conn.transaction():
                conn.execute("INSERT INTO visits VALUES (%s)", (i,))
        else:
            conn.execute("INSERT INTO visits VALUES (%s)", (i,))
        if conn.execute("SELECT count(*) FROM visits WHERE id = %s", (i,)).fetchone()[0] != 1:
            print(f"write {i} not seen by the read that followed it", file=sys.stderr)
            sys.exit(1)
)py";

TEST_CASE_METHOD(WalModeTest, "wal mode: at read_percent 100 a client that writes then reads at once sees its write, "
                              "2,000 times out of 2,000, and the mirror serves the reads",
                 "[integration][wal_mode]") {
  auto settings = wal_settings();
  settings.routing = "read_percent = 100\n";
  start("wal_write_read", "CREATE TABLE visits (id int PRIMARY KEY); GRANT ALL ON visits TO app;", settings);
  // Debian's interpreter: python3-psycopg is installed for it only.
  const auto result = run_client({"/usr/bin/python3", "-c", std::string{kWriteThenRead}}, endpoint(), 300s);
  check_succeeded(result);
  // Nothing but the reads scans visits on the mirror: the apply only inserts.
  const auto mirror_reads = wait_for_mirror_scans("visits", 1800, 15s);
  INFO(mirror_reads << " of 2000 reads answered by the mirror");
  CHECK(mirror_reads >= 1800);  // each COMMIT waited for the apply: its session may read there at once
  check_identical();
}

TEST_CASE_METHOD(WalModeTest, "wal mode: a session is refused with 57P03 naming what the servers lack while its "
                              "database's slot cannot be made",
                 "[integration][wal_mode]") {
  auto settings = default_settings();  // the app login only: no REPLICATION, no superuser
  settings.mirror_lines = "mode = \"wal\"\n";
  settings.mirror_timeout_ms = 1000;
  start("wal_refused", "SELECT 1", settings);
  const auto result = psql(endpoint(), "SELECT 1");
  CHECK(result.exit_code != 0);
  INFO(result.describe());
  CHECK(result.err.find("has no replication slot yet") != std::string::npos);
  CHECK(result.err.find("ALTER ROLE \"app\" REPLICATION") != std::string::npos);
  CHECK(on_primary("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" +
                   conflict::slot_name_for(database()) + "'") == "0\n");
}

TEST_CASE_METHOD(WalModeTest, "wal mode: a change to an inheritance parent's row leaves its children's rows alone "
                              "on the mirror, where a child row may sit at the same ctid",
                 "[integration][wal_mode][apply]") {
  start("wal_inheritance",
        "CREATE TABLE cities (name text, population int); ALTER TABLE cities REPLICA IDENTITY FULL; "
        "CREATE TABLE capitals (state text) INHERITS (cities); ALTER TABLE capitals REPLICA IDENTITY FULL; "
        "GRANT ALL ON cities, capitals TO app;");
  check_succeeded(psql(endpoint(), "INSERT INTO cities VALUES ('Madison', 1); "
                                   "INSERT INTO capitals VALUES ('Madison', 1, 'WI')"));
  check_succeeded(psql(endpoint(), "UPDATE ONLY cities SET population = 2"));
  check_succeeded(psql(endpoint(), "DELETE FROM ONLY cities"));
  CHECK(on_mirror("SELECT name, population, state FROM capitals") == "Madison|1|WI\n");
  check_identical();
}

}  // namespace
}  // namespace pgdual::test
