// What the WAL does not carry, through pgdual in mirror.mode = "wal" with two real servers: large
// objects and unlogged tables are refused before the primary runs anything (mirror.large_objects
// and mirror.unlogged_tables = "refuse", the default), or run on the primary and recorded
// ("record"); never skipped in silence. Each test ends with both servers' tables and large objects
// compared directly.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 180s;

constexpr std::string_view kVisits = "CREATE TABLE visits (id int PRIMARY KEY); GRANT ALL ON visits TO app;";

constexpr std::string_view kLargeObjectsRefused =
    "pgdual: large objects are not carried by the WAL mirror; the write was not run. Set "
    "mirror.large_objects = \"record\" to run it on the primary only and record it for repair, or "
    "mirror.mode = \"statement\"";
constexpr std::string_view kUnloggedTablesRefused =
    "0A000: pgdual: unlogged tables are not carried by the WAL mirror; the statement was not run. Set "
    "mirror.unlogged_tables = \"record\"";

constexpr std::string_view kLargeObjectOids =
    "SELECT coalesce(string_agg(oid::text, ',' ORDER BY oid), 'none') FROM pg_largeobject_metadata";

/// psql in one session, each of `commands` a -c of its own; errors shown with their SQLSTATE, and
/// the commands after an error run all the same.
RunResult psql_session(const Endpoint& endpoint, std::initializer_list<std::string_view> commands) {
  std::vector<std::string> argv{pg_program("psql"), "-X", "-A", "-t", "-v", "VERBOSITY=verbose"};
  for (const auto command : commands) {
    argv.emplace_back("-c");
    argv.emplace_back(command);
  }
  return run_client(argv, endpoint, kClientTimeout);
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

class UncarriedTest : public WalModeTest {
 protected:
  /// Requires that neither server holds a large object: none was written.
  void check_no_large_objects() const {
    CHECK(on_primary(std::string{kLargeObjectOids}) == "none\n");
    CHECK(on_mirror(std::string{kLargeObjectOids}) == "none\n");
  }
};

TEST_CASE_METHOD(UncarriedTest, "wal mode: a large object written in SQL is refused with 0A000 naming the setting, "
                                "before the primary runs it, and the session goes on",
                 "[integration][wal_mode]") {
  start("wal_lo_refused", std::string{kVisits});
  const auto result = psql_session(endpoint(), {"SELECT lo_from_bytea(0, 'scan')", "INSERT INTO visits VALUES (1)",
                                                "BEGIN", "INSERT INTO visits VALUES (2)", "SELECT lo_creat(-1)",
                                                "SELECT 1", "ROLLBACK", "SELECT count(*) FROM visits"});
  INFO(result.describe());
  CHECK(result.out == "INSERT 0 1\nBEGIN\nINSERT 0 1\nROLLBACK\n1\n");
  CHECK(contains(result.err, "ERROR:  0A000: " + std::string{kLargeObjectsRefused}));
  // Inside the transaction block the refusal failed the transaction, as the server's own error would.
  CHECK(contains(result.err, "ERROR:  25P02: current transaction is aborted"));
  CHECK(on_mirror("SELECT string_agg(id::text, ',') FROM visits") == "1\n");
  check_no_large_objects();
  check_identical();
  CHECK(conflicts().empty());
}

TEST_CASE_METHOD(UncarriedTest, "wal mode: psql's \\lo_import, by the fast-path interface, is refused",
                 "[integration][wal_mode]") {
  start("wal_lo_import", std::string{kVisits});
  TempDir dir{"pgdual-wal-lo-import"};
  const auto scan = dir.path() / "scan.bin";
  write_file(scan, "not a real scan");
  const auto result = psql_session(endpoint(), {"\\lo_import " + scan.string(), "INSERT INTO visits VALUES (1)"});
  INFO(result.describe());
  CHECK(contains(result.err, "pgdual: large objects are not carried by the WAL mirror"));
  CHECK(contains(result.out, "INSERT 0 1"));
  CHECK(on_mirror("SELECT count(*) FROM visits") == "1\n");
  check_no_large_objects();
  check_identical();
}

/// psycopg 3 sends statements with parameters by the extended protocol: Parse, Bind, Describe,
/// Execute, Sync; with prepare=True under a name of its own, bound again by later executions.
constexpr std::string_view kPsycopgLargeObjects = R"py(
import psycopg
from psycopg import errors

def attempt(label, cur, sql, params, **options):
    try:
        cur.execute(sql, params, **options)
        print(label, "ran")
    except errors.FeatureNotSupported as error:
        print(label, error.sqlstate, error.diag.message_primary)

conn = psycopg.connect("sslmode=disable", autocommit=True)
with conn.cursor() as cur:
    attempt("autocommit", cur, "SELECT lo_from_bytea(0, %s)", (b"scan",))
    attempt("prepared", cur, "SELECT lo_from_bytea(0, %s)", (b"scan",), prepare=True)
    attempt("prepared_again", cur, "SELECT lo_from_bytea(0, %s)", (b"scan",), prepare=True)
    cur.execute("INSERT INTO visits VALUES (%s)", (1,))
conn.autocommit = False
with conn.cursor() as cur:
    cur.execute("INSERT INTO visits VALUES (%s)", (2,))
    attempt("transaction", cur, "SELECT lo_unlink(%s)", (16384,))
    print("status", conn.info.transaction_status.name)
    conn.rollback()
    cur.execute("INSERT INTO visits VALUES (%s)", (3,))
    conn.commit()
print("done")
)py";

TEST_CASE_METHOD(UncarriedTest, "wal mode: psycopg's extended-protocol large-object writes are refused at their "
                                "Execute, prepared or not, and the session goes on",
                 "[integration][wal_mode]") {
  start("wal_lo_psycopg", std::string{kVisits});
  TempDir dir{"pgdual-wal-lo-psycopg"};
  const auto script = dir.path() / "large_objects.py";
  write_file(script, kPsycopgLargeObjects);
  // Debian's interpreter: python3-psycopg is installed for it only.
  const auto result = run_client({"/usr/bin/python3", script.string()}, endpoint(), kClientTimeout);
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);
  const std::string refused = " 0A000 " + std::string{kLargeObjectsRefused} + "\n";
  CHECK(result.out == "autocommit" + refused + "prepared" + refused + "prepared_again" + refused + "transaction" +
                          refused + "status INERROR\ndone\n");
  CHECK(on_mirror("SELECT string_agg(id::text, ',' ORDER BY id) FROM visits") == "1,3\n");
  check_no_large_objects();
  check_identical();
}

TEST_CASE_METHOD(UncarriedTest, "wal mode: CREATE UNLOGGED TABLE and ALTER TABLE SET UNLOGGED are refused with "
                                "0A000 naming mirror.unlogged_tables",
                 "[integration][wal_mode]") {
  start("wal_unlogged_refused", std::string{kVisits});
  const auto result =
      psql_session(endpoint(), {"CREATE UNLOGGED TABLE cache (k int)", "ALTER TABLE visits SET UNLOGGED",
                                "SELECT 1 AS k INTO UNLOGGED cache", "INSERT INTO visits VALUES (1)"});
  INFO(result.describe());
  CHECK(contains(result.err, kUnloggedTablesRefused));
  CHECK(contains(result.out, "INSERT 0 1"));
  // pgdual.instances is unlogged on purpose: never in the WAL stream (docs/deployment.md).
  const std::string unlogged = "SELECT count(*) FROM pg_class WHERE relname = 'cache' OR (relpersistence = 'u' AND "
                               "relkind IN ('r', 'p') AND relnamespace <> 'pgdual'::regnamespace)";
  CHECK(on_primary(unlogged) == "0\n");
  CHECK(on_mirror(unlogged) == "0\n");
  CHECK(on_mirror("SELECT count(*) FROM visits") == "1\n");
  check_no_large_objects();
  check_identical();
}

TEST_CASE_METHOD(UncarriedTest, "wal mode: with \"record\", a large object and an unlogged table run on the "
                                "primary and are each recorded as a conflict naming the setting",
                 "[integration][wal_mode]") {
  auto settings = wal_settings();
  settings.mirror_lines += "large_objects = \"record\"\nunlogged_tables = \"record\"\n";
  start("wal_uncarried_recorded", std::string{kVisits}, settings);
  check_succeeded(psql_session(endpoint(), {"SELECT lo_from_bytea(0, 'scan') IS NOT NULL"}));
  check_succeeded(psql_session(endpoint(), {"CREATE UNLOGGED TABLE cache (k int)", "INSERT INTO cache VALUES (1)"}));
  const auto records = wait_for_conflicts(2, 10s);
  REQUIRE(records.size() == 2);
  CHECK(records.at(0).kind == conflict::ConflictKind::unclassified);
  CHECK(records.at(1).kind == conflict::ConflictKind::unclassified);
  CHECK(proxy().log_shows_within("large objects, which the WAL stream does not carry; copy them to the mirror "
                                 "(mirror.large_objects = \"record\")",
                                 5s));
  CHECK(proxy().log_shows_within("(mirror.unlogged_tables = \"record\")", 5s));
  // The large object is on the primary alone; the table is on both (its DDL travels), its row not.
  CHECK(on_primary("SELECT count(*) FROM pg_largeobject_metadata") == "1\n");
  CHECK(on_mirror(std::string{kLargeObjectOids}) == "none\n");
  CHECK(on_primary("SELECT count(*) FROM cache") == "1\n");
  CHECK(on_mirror("SELECT relpersistence FROM pg_class WHERE relname = 'cache'") == "u\n");
  CHECK(on_mirror("SELECT count(*) FROM cache") == "0\n");
}

TEST_CASE_METHOD(UncarriedTest, "wal mode: unlogged tables that exist are named in a warning when the database's "
                                "mirror starts, and writes into them are not refused",
                 "[integration][wal_mode]") {
  start("wal_unlogged_existing",
        "CREATE UNLOGGED TABLE scratch (k int); CREATE UNLOGGED TABLE \"Odd Name\" (k int); " + std::string{kVisits} +
            " GRANT ALL ON scratch TO app;");
  check_succeeded(psql_session(endpoint(), {"INSERT INTO scratch VALUES (1)", "INSERT INTO visits VALUES (1)"}));
  CHECK(proxy().log_shows_within("the rows of unlogged tables are not in the WAL, so they are not mirrored: "
                                 "public.\"Odd Name\", public.scratch",
                                 10s));
  CHECK(on_mirror("SELECT count(*) FROM visits") == "1\n");
  CHECK(on_mirror("SELECT count(*) FROM scratch") == "0\n");
  check_no_large_objects();
}

}  // namespace
}  // namespace pgdual::test
