#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/sql/classifier.h"
#include "tests/unit/sql/printers.h"

using namespace pgdual::sql;

namespace {

using K = StatementKind;
using T = TransactionControl;
using Names = std::vector<std::string>;

struct Row {
  std::string_view sql;
  StatementKind kind;
  bool primary_only;
  TransactionControl transaction;
  Names tables;
  Names nondeterministic;
};

// One row per statement: what the routing rules (DESIGN.md) say about it.
// The classifier under test trusts two extra functions, as configured.
const std::vector<Row> kRows = {
    // Reads: only built-in read-only functions and operators.
    {"SELECT 1", K::read, false, T::none, {}, {}},
    {"SELECT * FROM patients WHERE id = $1", K::read, false, T::none, {"patients"}, {}},
    {"select p.name, v.ward from public.patients p join visits v on v.patient_id = p.id "
     "where p.id = 42",
     K::read, false, T::none, {"public.patients", "visits"}, {}},
    {"SELECT * FROM ehr.clinical.notes", K::read, false, T::none, {"ehr.clinical.notes"}, {}},
    {R"(SELECT * FROM "Patients")", K::read, false, T::none, {"Patients"}, {}},
    {"VALUES (1, 'a'), (2, 'b')", K::read, false, T::none, {}, {}},
    {"TABLE patients", K::read, false, T::none, {"patients"}, {}},
    {"SELECT count(*), max(admitted_at), lower(name) FROM visits GROUP BY lower(name) "
     "HAVING count(*) > 1",
     K::read, false, T::none, {"visits"}, {}},
    {"SELECT coalesce(a, b), nullif(c, 0), greatest(x, y), "
     "CASE WHEN a > 0 THEN 'p' ELSE 'n' END FROM t",
     K::read, false, T::none, {"t"}, {}},
    {"SELECT now(), current_date, current_timestamp, random(), gen_random_uuid()", K::read, false,
     T::none, {}, {}},
    {"SELECT to_char(admitted_at, 'YYYY-MM'), date_trunc('month', admitted_at) FROM visits",
     K::read, false, T::none, {"visits"}, {}},
    {R"(SELECT data->>'name', data @> '{"a": 1}', jsonb_build_object('k', 1) FROM docs)", K::read,
     false, T::none, {"docs"}, {}},
    {"SELECT * FROM t WHERE name ILIKE 'a%' AND code SIMILAR TO '[0-9]+' AND id IN (1, 2) "
     "AND x BETWEEN 1 AND 5 AND y IS DISTINCT FROM z AND w <> ALL (ARRAY[1, 2])",
     K::read, false, T::none, {"t"}, {}},
    {"SELECT string_agg(name, ', ' ORDER BY name), array_agg(id) FILTER (WHERE id > 0) FROM t",
     K::read, false, T::none, {"t"}, {}},
    {"SELECT row_number() OVER (PARTITION BY ward ORDER BY admitted_at) FROM visits", K::read,
     false, T::none, {"visits"}, {}},
    {"SELECT extract(year FROM dob), substring(name FROM 1 FOR 3), position('a' IN name), "
     "trim(both ' ' FROM name), dob AT TIME ZONE 'UTC' FROM patients",
     K::read, false, T::none, {"patients"}, {}},
    {"WITH recent AS (SELECT * FROM visits WHERE admitted_at > now() - interval '1 day') "
     "SELECT * FROM recent",
     K::read, false, T::none, {"visits"}, {}},
    {"WITH visits AS (SELECT * FROM visits WHERE ward = 'A') SELECT * FROM visits", K::read, false,
     T::none, {"visits"}, {}},
    {"WITH RECURSIVE tree AS (SELECT id FROM nodes WHERE parent IS NULL UNION ALL "
     "SELECT n.id FROM nodes n JOIN tree ON n.parent = tree.id) SELECT * FROM tree",
     K::read, false, T::none, {"nodes"}, {}},
    {"SELECT * FROM generate_series(1, 10) g", K::read, false, T::none, {}, {}},
    {"SELECT EXISTS (SELECT 1 FROM t WHERE a = 1)", K::read, false, T::none, {"t"}, {}},
    {"SELECT a FROM t1 UNION SELECT b FROM t2 ORDER BY 1 LIMIT 5", K::read, false, T::none,
     {"t1", "t2"}, {}},
    {"SELECT * FROM t ORDER BY random() LIMIT 1", K::read, false, T::none, {"t"}, {}},
    {"SELECT pg_catalog.lower('A'), 2 OPERATOR(pg_catalog.+) 3", K::read, false, T::none, {}, {}},
    {"SELECT report_total(7)", K::read, false, T::none, {}, {}},      // configured
    {"SELECT billing.summary()", K::read, false, T::none, {}, {}},  // configured, qualified
    {"SHOW search_path", K::read, true, T::none, {}, {}},
    {"SHOW server_version", K::read, true, T::none, {}, {}},
    {"EXPLAIN SELECT * FROM patients", K::read, true, T::none, {"patients"}, {}},
    {"EXPLAIN ANALYZE SELECT * FROM patients", K::read, true, T::none, {"patients"}, {}},
    {"", K::read, false, T::none, {}, {}},
    {"-- only a comment", K::read, false, T::none, {}, {}},

    // Writes hidden in reads: functions not known read-only, locks, SELECT INTO.
    {"SELECT nextval('patients_id_seq')", K::write, false, T::none, {}, {"nextval"}},
    {"SELECT * FROM t WHERE id IN (SELECT nextval('s'))", K::write, false, T::none, {"t"},
     {"nextval"}},
    {"SELECT setval('s', 1)", K::write, false, T::none, {}, {}},
    {"SELECT my_func()", K::write, false, T::none, {}, {}},
    {"SELECT report_total(1) FROM t WHERE unknown_check(a)", K::write, false, T::none, {"t"}, {}},
    {"SELECT other.summary()", K::write, false, T::none, {}, {}},  // only billing.summary is trusted
    {"SELECT pg_advisory_lock(1)", K::write, false, T::none, {}, {}},
    {"SELECT pg_try_advisory_lock(1)", K::write, true, T::none, {}, {"pg_try_advisory_lock"}},
    {"SELECT pg_notify('ch', 'x')", K::write, false, T::none, {}, {}},
    {"SELECT set_config('search_path', 'x', false)", K::write, false, T::none, {}, {}},
    {"SELECT lo_import('/etc/hosts')", K::write, false, T::none, {}, {}},
    {"SELECT a === b FROM t", K::write, false, T::none, {"t"}, {}},  // a user operator
    {"SELECT 1 OPERATOR(app.+) 2", K::write, false, T::none, {}, {}},
    {"SELECT * FROM t WHERE id = 1 FOR UPDATE", K::write, false, T::none, {"t"}, {}},
    {"SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", K::write, false, T::none, {"t"}, {}},
    {"SELECT * FROM t FOR SHARE", K::write, false, T::none, {"t"}, {}},
    {"SELECT * FROM t FOR KEY SHARE NOWAIT", K::write, false, T::none, {"t"}, {}},
    {"SELECT * FROM (SELECT * FROM t FOR UPDATE) s", K::write, false, T::none, {"t"}, {}},
    {"SELECT * INTO archive FROM visits", K::write, false, T::none, {"archive", "visits"}, {}},
    {"SELECT * INTO TEMP scratch FROM visits", K::session_state, false, T::none,
     {"scratch", "visits"}, {}},

    // Data-modifying CTEs.
    {"WITH moved AS (DELETE FROM queue WHERE id = 1 RETURNING *) SELECT * FROM moved", K::write,
     false, T::none, {"queue"}, {}},
    {"WITH x AS (UPDATE t SET a = 1 RETURNING *) INSERT INTO log SELECT now(), * FROM x", K::write,
     false, T::none, {"log", "t"}, {"now"}},

    // DML. An INSERT that leaves a serial, identity or DEFAULT now() column to
    // its default gets a value that differs between the backends, but nothing
    // in the text shows it: nondeterministic stays empty (a documented limit).
    {"INSERT INTO patients (name) VALUES ('x')", K::write, false, T::none, {"patients"}, {}},
    {"INSERT INTO patients (id, name) VALUES (DEFAULT, 'x')", K::write, false, T::none,
     {"patients"}, {}},
    {"INSERT INTO audit (at, who) VALUES (now(), current_user)", K::write, false, T::none,
     {"audit"}, {"now"}},
    {"INSERT INTO t VALUES (clock_timestamp(), random(), gen_random_uuid(), CURRENT_TIMESTAMP, "
     "LOCALTIME, 'now'::timestamptz, DATE 'today', 'now'::text)",
     K::write, false, T::none, {"t"},
     {"'now'", "'today'", "clock_timestamp", "current_timestamp", "gen_random_uuid", "localtime",
      "random"}},
    {"UPDATE visits SET discharged_at = now() WHERE id = $1", K::write, false, T::none, {"visits"},
     {"now"}},
    {"UPDATE t SET a = 1 WHERE ctid = '(0,1)'", K::write, true, T::none, {"t"}, {}},
    {"DELETE FROM t WHERE id = 1 RETURNING *", K::write, false, T::none, {"t"}, {}},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v "
     "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)",
     K::write, false, T::none, {"s", "t"}, {}},
    {"INSERT INTO child (parent_id) VALUES (currval('parent_id_seq'))", K::write, true, T::none,
     {"child"}, {"currval"}},
    {"INSERT INTO log (pid) VALUES (pg_backend_pid())", K::write, true, T::none, {"log"},
     {"pg_backend_pid"}},
    {"INSERT INTO t SELECT * FROM u TABLESAMPLE BERNOULLI (10)", K::write, false, T::none,
     {"t", "u"}, {"tablesample"}},
    {"INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET n = t.n + 1", K::write, false,
     T::none, {"t"}, {}},
    {"TRUNCATE t1, t2", K::write, false, T::none, {"t1", "t2"}, {}},

    // DDL: definitions are stored, not run, so their functions are no values yet.
    {"CREATE TABLE s.t (id serial PRIMARY KEY, at timestamptz DEFAULT now())", K::write, false,
     T::none, {"s.t"}, {}},
    {"ALTER TABLE t ADD COLUMN c int", K::write, false, T::none, {"t"}, {}},
    {"DROP TABLE a.b, c", K::write, false, T::none, {"a.b", "c"}, {}},
    {"CREATE INDEX ON t (lower(name))", K::write, false, T::none, {"t"}, {}},
    {"CREATE VIEW v AS SELECT now(), * FROM t", K::write, false, T::none, {"t", "v"}, {}},
    {"CREATE TEMP VIEW v AS SELECT * FROM t", K::session_state, false, T::none, {"t", "v"}, {}},
    {"CREATE TEMP TABLE scratch (id int)", K::session_state, false, T::none, {"scratch"}, {}},
    {"CREATE TEMPORARY SEQUENCE s", K::session_state, false, T::none, {"s"}, {}},
    {"CREATE TABLE copy AS SELECT * FROM t", K::write, false, T::none, {"copy", "t"}, {}},
    {"CREATE TEMP TABLE copy AS SELECT * FROM t", K::session_state, false, T::none, {"copy", "t"},
     {}},
    {"CREATE TEMP TABLE ids AS SELECT nextval('s')", K::write, false, T::none, {"ids"},
     {"nextval"}},
    {"CREATE MATERIALIZED VIEW mv AS SELECT * FROM t", K::write, false, T::none, {"mv", "t"}, {}},
    {"REFRESH MATERIALIZED VIEW mv", K::write, false, T::none, {"mv"}, {}},
    {"COMMENT ON TABLE t IS 'x'", K::write, false, T::none, {}, {}},
    {"GRANT SELECT ON t TO bob", K::write, false, T::none, {"t"}, {}},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", K::write, false, T::none, {},
     {}},

    // Other writes.
    {"CALL archive_visits(30)", K::write, false, T::none, {}, {}},
    {"DO $$BEGIN PERFORM 1; END$$", K::write, false, T::none, {}, {}},
    {"VACUUM ANALYZE t", K::write, false, T::none, {"t"}, {}},
    {"ANALYZE t", K::write, false, T::none, {"t"}, {}},
    {"REINDEX TABLE t", K::write, false, T::none, {"t"}, {}},
    {"CLUSTER t USING t_pkey", K::write, false, T::none, {"t"}, {}},
    {"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", K::write, false, T::none, {"t"}, {}},
    {"NOTIFY ch, 'payload'", K::write, false, T::none, {}, {}},
    {"EXECUTE fetch_patient(1)", K::write, false, T::none, {}, {}},  // its statement is not in the text
    {"CHECKPOINT", K::write, false, T::none, {}, {}},
    {"EXPLAIN UPDATE t SET a = 1", K::read, true, T::none, {"t"}, {}},
    {"EXPLAIN ANALYZE UPDATE t SET a = 1", K::write, true, T::none, {"t"}, {}},
    {"EXPLAIN (ANALYZE false) DELETE FROM t", K::read, true, T::none, {"t"}, {}},
    {"EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t", K::write, true, T::none, {"t"}, {}},
    {"EXPLAIN (ANALYZE on, ANALYZE off) DELETE FROM t", K::read, true, T::none, {"t"}, {}},
    {"EXPLAIN ANALYZE SELECT nextval('s')", K::write, true, T::none, {}, {"nextval"}},
    {"EXPLAIN SELECT nextval('s')", K::read, true, T::none, {}, {}},

    // Transaction control.
    {"BEGIN", K::transaction_control, false, T::begin, {}, {}},
    {"BEGIN READ ONLY", K::transaction_control, false, T::begin_read_only, {}, {}},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", K::transaction_control, false,
     T::begin_read_only, {}, {}},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", K::transaction_control, false, T::begin, {},
     {}},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE", K::transaction_control, false, T::begin,
     {}, {}},
    {"COMMIT", K::transaction_control, false, T::commit, {}, {}},
    {"END", K::transaction_control, false, T::commit, {}, {}},
    {"COMMIT AND CHAIN", K::transaction_control, false, T::commit, {}, {}},
    {"ROLLBACK", K::transaction_control, false, T::rollback, {}, {}},
    {"ABORT", K::transaction_control, false, T::rollback, {}, {}},
    {"SAVEPOINT s1", K::transaction_control, false, T::savepoint, {}, {}},
    {"RELEASE SAVEPOINT s1", K::transaction_control, false, T::release_savepoint, {}, {}},
    {"ROLLBACK TO SAVEPOINT s1", K::transaction_control, false, T::rollback_to_savepoint, {}, {}},
    {"PREPARE TRANSACTION 'tx1'", K::transaction_control, false, T::prepare_transaction, {}, {}},
    {"COMMIT PREPARED 'tx1'", K::transaction_control, false, T::commit_prepared, {}, {}},
    {"ROLLBACK PREPARED 'tx1'", K::transaction_control, false, T::rollback_prepared, {}, {}},

    // Session state, which both backends must hold.
    {"SET search_path TO app, public", K::session_state, false, T::none, {}, {}},
    {"SET LOCAL statement_timeout = '5s'", K::session_state, false, T::none, {}, {}},
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", K::session_state, false, T::none, {}, {}},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", K::session_state, false, T::none, {},
     {}},
    {"RESET ALL", K::session_state, false, T::none, {}, {}},
    {"SET CONSTRAINTS ALL DEFERRED", K::session_state, false, T::none, {}, {}},
    {"PREPARE q (int) AS SELECT * FROM t WHERE id = $1", K::session_state, false, T::none, {"t"},
     {}},
    {"PREPARE q AS INSERT INTO t VALUES (now())", K::session_state, false, T::none, {"t"}, {}},
    {"DEALLOCATE q", K::session_state, false, T::none, {}, {}},
    {"DEALLOCATE ALL", K::session_state, false, T::none, {}, {}},
    {"DISCARD ALL", K::session_state, false, T::none, {}, {}},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t", K::session_state, false, T::none, {"t"},
     {}},
    {"FETCH 10 FROM c", K::session_state, false, T::none, {}, {}},
    {"MOVE NEXT IN c", K::session_state, false, T::none, {}, {}},
    {"CLOSE c", K::session_state, false, T::none, {}, {}},
    {"LOAD 'auto_explain'", K::session_state, false, T::none, {}, {}},

    // LISTEN / UNLISTEN.
    {"LISTEN ch", K::listen, false, T::none, {}, {}},
    {"UNLISTEN *", K::listen, false, T::none, {}, {}},

    // COPY.
    {"COPY t FROM STDIN", K::copy_in, false, T::none, {"t"}, {}},
    {"COPY t (a, b) FROM STDIN WITH (FORMAT csv)", K::copy_in, false, T::none, {"t"}, {}},
    {"COPY t TO STDOUT", K::copy_out, false, T::none, {"t"}, {}},
    {"COPY (SELECT * FROM t WHERE a > 1) TO STDOUT WITH CSV HEADER", K::copy_out, false, T::none,
     {"t"}, {}},
    {"COPY (SELECT nextval('s')) TO STDOUT", K::write, false, T::none, {}, {"nextval"}},
    {"COPY (DELETE FROM t RETURNING *) TO STDOUT", K::write, false, T::none, {"t"}, {}},
    {"COPY t TO '/tmp/t.csv'", K::write, false, T::none, {"t"}, {}},
    {"COPY t FROM '/tmp/t.csv'", K::write, false, T::none, {"t"}, {}},
    {"COPY t TO PROGRAM 'gzip > /tmp/t.gz'", K::write, false, T::none, {"t"}, {}},
    {"COPY pg_class TO STDOUT", K::copy_out, true, T::none, {"pg_class"}, {}},

    // Answers specific to one server.
    {"SELECT relname FROM pg_class WHERE oid = 'patients'::regclass", K::read, true, T::none,
     {"pg_class"}, {}},
    {"SELECT * FROM pg_catalog.pg_stat_activity", K::read, true, T::none,
     {"pg_catalog.pg_stat_activity"}, {}},
    {"SELECT table_name FROM information_schema.tables", K::read, true, T::none,
     {"information_schema.tables"}, {}},
    {"SELECT * FROM pg_locks", K::read, true, T::none, {"pg_locks"}, {}},
    {"SELECT name FROM pg_prepared_statements", K::read, true, T::none, {"pg_prepared_statements"},
     {}},
    {"SELECT 'patients'::regclass::oid", K::read, true, T::none, {}, {}},
    {"SELECT CAST(typ AS pg_catalog.regtype) FROM t", K::read, true, T::none, {"t"}, {}},
    {"SELECT ctid, xmin, * FROM t", K::read, true, T::none, {"t"}, {}},
    {"SELECT t.tableoid FROM t", K::read, true, T::none, {"t"}, {}},
    {"SELECT currval('patients_id_seq')", K::read, true, T::none, {}, {}},
    {"SELECT lastval()", K::read, true, T::none, {}, {}},
    {"SELECT pg_backend_pid()", K::read, true, T::none, {}, {}},
    {"SELECT inet_server_addr(), pg_is_in_recovery()", K::read, true, T::none, {}, {}},
    {"SELECT txid_current(), pg_current_xact_id()", K::read, true, T::none, {}, {}},
    {"SELECT current_setting('work_mem'), version()", K::read, true, T::none, {}, {}},
    {"SELECT pg_stat_get_numscans(16385)", K::read, true, T::none, {}, {}},
    {"WITH pg_class AS (SELECT 1 AS oid) SELECT * FROM pg_class", K::read, false, T::none, {}, {}},

    // Several statements in one Query: the strongest kind wins.
    {"SELECT * FROM t; UPDATE t SET a = 1", K::write, false, T::none, {"t"}, {}},
    {"BEGIN; INSERT INTO t VALUES (now()); COMMIT", K::write, false, T::begin, {"t"}, {"now"}},
    {"SET x = 1; SELECT * FROM t", K::session_state, false, T::none, {"t"}, {}},
    {"SELECT 1; SELECT ctid FROM t", K::read, true, T::none, {"t"}, {}},
    {"SELECT now(); INSERT INTO t VALUES (1)", K::write, false, T::none, {"t"}, {}},
};

}  // namespace

TEST_CASE("statements are classified as the routing rules say", "[unit][sql]") {
  REQUIRE(kRows.size() >= 80);
  Classifier classifier{ClassifierOptions{.read_only_functions = {"report_total", "billing.summary"}}};
  for (const Row& row : kRows) {
    INFO("sql: " << row.sql);
    const Classification& verdict = classifier.classify(row.sql);
    CHECK(verdict.parsed);
    CHECK(verdict.kind == row.kind);
    CHECK(verdict.primary_only == row.primary_only);
    CHECK(verdict.transaction == row.transaction);
    CHECK(verdict.tables == row.tables);
    CHECK(verdict.nondeterministic == row.nondeterministic);
  }
}

TEST_CASE("a text of several statements lists each statement's kind", "[unit][sql]") {
  Classifier classifier;
  const Classification& verdict =
      classifier.classify("BEGIN; SELECT * FROM t; SET LOCAL x = 1; LISTEN ch; UPDATE t SET a = 1; COMMIT");
  CHECK(verdict.statements == std::vector<StatementKind>{K::transaction_control, K::read,
                                                         K::session_state, K::listen, K::write,
                                                         K::transaction_control});
  CHECK(verdict.kind == K::write);
  CHECK(verdict.transaction == T::begin);
}

TEST_CASE("a text without statements is an empty read", "[unit][sql]") {
  Classifier classifier;
  for (const std::string_view sql : {"", " ;; ", "/* nothing */"}) {
    INFO("sql: " << sql);
    const Classification& verdict = classifier.classify(sql);
    CHECK(verdict.parsed);
    CHECK(verdict.kind == K::read);
    CHECK(verdict.statements.empty());
  }
}

TEST_CASE("text libpg_query cannot parse is an unparsed write", "[unit][sql]") {
  Classifier classifier;
  using namespace std::string_view_literals;
  for (const std::string_view sql :
       {"SELEC * FRM patients"sv, "garbage (("sv, "SELECT 'unterminated"sv,
        // After a NUL, libpg_query would see only "SELECT 1".
        "SELECT 1\0; DROP TABLE patients"sv}) {
    INFO("sql: " << sql);
    const Classification& verdict = classifier.classify(sql);
    CHECK_FALSE(verdict.parsed);
    CHECK_FALSE(verdict.too_deep);
    CHECK(verdict.kind == K::write);
    CHECK(verdict.statements.empty());
    CHECK(verdict.fingerprint.empty());
    CHECK(verdict.normalized.empty());
  }
}
