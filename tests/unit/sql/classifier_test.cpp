#include "protocol/sql/classifier.h"

#include <string>

#include <catch2/catch.hpp>

#include "protocol/sql/lru_cache.h"
#include "tests/unit/sql/printers.h"

using namespace pgdual::sql;

TEST_CASE("the cache returns the same verdict and parses a text once", "[unit][sql]") {
  Classifier classifier;
  const std::string sql = "UPDATE visits SET discharged_at = now() WHERE id = $1";

  const Classification& first = classifier.classify(sql);
  const Classification copy = first;
  const Classification& second = classifier.classify(sql);

  CHECK(&first == &second);
  CHECK(second.kind == copy.kind);
  CHECK(second.tables == copy.tables);
  CHECK(second.nondeterministic == copy.nondeterministic);
  CHECK(second.fingerprint == copy.fingerprint);
  const CacheStats stats = classifier.cache_stats();
  CHECK(stats.misses == 1);
  CHECK(stats.hits == 1);
  CHECK(stats.entries == 1);
}

TEST_CASE("the cache is keyed by the exact text", "[unit][sql]") {
  Classifier classifier;
  CHECK(classifier.classify("SELECT 1").kind == StatementKind::read);
  CHECK(classifier.classify("SELECT  1").kind == StatementKind::read);
  CHECK(classifier.classify("select 1").kind == StatementKind::read);
  CHECK(classifier.cache_stats().misses == 3);
}

TEST_CASE("the cache evicts the least recently used text when full", "[unit][sql]") {
  Classifier classifier{ClassifierOptions{.cache_capacity = 2}};
  (void)classifier.classify("SELECT a");
  (void)classifier.classify("SELECT b");
  (void)classifier.classify("SELECT a");  // now SELECT b is the least recently used
  (void)classifier.classify("SELECT c");  // evicts SELECT b
  (void)classifier.classify("SELECT a");
  (void)classifier.classify("SELECT b");  // parsed again

  const CacheStats stats = classifier.cache_stats();
  CHECK(stats.hits == 2);
  CHECK(stats.misses == 4);
  CHECK(stats.evictions == 2);
  CHECK(stats.entries == 2);
}

TEST_CASE("texts longer than the cache's limit are classified but not kept", "[unit][sql]") {
  Classifier classifier{ClassifierOptions{.max_cached_text_bytes = 16}};
  const std::string sql = "INSERT INTO t VALUES (1, 2, 3, 4, 5, 6, 7, 8, 9)";
  CHECK(classifier.classify(sql).kind == StatementKind::write);
  CHECK(classifier.classify(sql).tables == std::vector<std::string>{"t"});
  const CacheStats stats = classifier.cache_stats();
  CHECK(stats.misses == 2);
  CHECK(stats.entries == 0);
}

TEST_CASE("a zero cache capacity still keeps one verdict", "[unit][sql]") {
  Classifier classifier{ClassifierOptions{.cache_capacity = 0}};
  (void)classifier.classify("SELECT 1");
  (void)classifier.classify("SELECT 1");
  CHECK(classifier.cache_stats().hits == 1);
}

TEST_CASE("LruCache finds what it holds and drops the least recently used", "[unit][sql]") {
  LruCache<int> cache{2};
  cache.insert("a", 1);
  cache.insert("b", 2);
  REQUIRE(cache.find("a") != nullptr);
  CHECK(*cache.find("a") == 1);
  cache.insert("c", 3);
  CHECK(cache.find("b") == nullptr);
  CHECK(*cache.find("a") == 1);
  CHECK(*cache.find("c") == 3);
  CHECK(cache.size() == 2);
  CHECK(cache.evictions() == 1);
}

TEST_CASE("statements that must have their transaction to themselves are told apart", "[unit][sql]") {
  Classifier classifier;
  for (const char* alone :
       {"VACUUM t", "VACUUM", "CREATE DATABASE d", "DROP DATABASE d", "CREATE TABLESPACE s LOCATION '/x'",
        "DROP TABLESPACE s", "ALTER SYSTEM SET work_mem = '1MB'", "CREATE INDEX CONCURRENTLY i ON t (a)",
        "DROP INDEX CONCURRENTLY i", "REINDEX TABLE CONCURRENTLY t", "CLUSTER", "CALL archive_visits()",
        "DO $$BEGIN COMMIT; END$$", "INSERT INTO t VALUES (1); VACUUM t",
        "ALTER TABLE parted DETACH PARTITION part_1 CONCURRENTLY"}) {
    INFO(alone);
    CHECK(classifier.classify(alone).alone_in_transaction);
  }
  for (const char* shared : {"INSERT INTO t VALUES (1)", "CREATE INDEX i ON t (a)", "DROP INDEX i",
                             "CREATE TABLE t (a int)", "BEGIN; UPDATE t SET a = 1; COMMIT", "SELECT 1",
                             "ALTER TABLE parted DETACH PARTITION part_1",
                             "ALTER TABLE parted DETACH PARTITION part_1 FINALIZE"}) {
    INFO(shared);
    CHECK_FALSE(classifier.classify(shared).alone_in_transaction);
  }
}

TEST_CASE("the statements that open and set up a transaction at the start of a text are counted, and where the "
          "next one starts is told",
          "[unit][sql]") {
  Classifier classifier;
  const std::string setup = "START TRANSACTION ISOLATION LEVEL SERIALIZABLE; SET LOCAL work_mem = '8MB';";
  const auto& opened = classifier.classify(setup + " INSERT INTO t VALUES (1); COMMIT");
  CHECK(opened.transaction_setup_statements == 2);
  CHECK(opened.transaction_setup_end == setup.size());
  const auto& snapshot = classifier.classify("BEGIN; SET TRANSACTION SNAPSHOT '00000003-0000001B-1'; SELECT 1");
  CHECK(snapshot.transaction_setup_statements == 2);
  const auto& first = classifier.classify("INSERT INTO t VALUES (1); SET search_path = x");
  CHECK(first.transaction_setup_statements == 0);
  CHECK(first.transaction_setup_end == 0);
  const auto& alone = classifier.classify("BEGIN READ ONLY");
  CHECK(alone.transaction_setup_statements == 1);
  CHECK(alone.transaction_setup_end == 0);
  CHECK(classifier.classify("SAVEPOINT s; SET a = 1; SELECT 1").transaction_setup_statements == 0);
}

TEST_CASE("the statements that change the schema at the start of a text are told, as written", "[unit][sql]") {
  Classifier classifier;
  struct Case {
    const char* sql;
    const char* schema_change;
    bool late;
  };
  for (const auto& [sql, schema_change, late] : std::initializer_list<Case>{
           {"CREATE TABLE t (a int)", "CREATE TABLE t (a int)", false},
           {"ALTER TABLE t ADD b text; CREATE INDEX i ON t (b);  INSERT INTO t VALUES (1)",
            "ALTER TABLE t ADD b text; CREATE INDEX i ON t (b)", false},
           {"INSERT INTO t VALUES (1); DROP TABLE t", "", true},
           {"CREATE TABLE u AS SELECT 1 AS a", "CREATE TABLE u AS SELECT 1 AS a", false},
           {"SELECT 1 AS a INTO u", "SELECT 1 AS a INTO u", false},
           {"GRANT SELECT ON t TO app; COMMENT ON TABLE t IS 'x'",
            "GRANT SELECT ON t TO app; COMMENT ON TABLE t IS 'x'", false},
           {"REFRESH MATERIALIZED VIEW v", "REFRESH MATERIALIZED VIEW v", false},
           {"INSERT INTO t VALUES (1)", "", false},
           {"TRUNCATE t", "", false},
           {"CREATE TEMP TABLE scratch (a int)", "", false},
           {"VACUUM t", "", false},
           {"SET search_path = x; CREATE TABLE t (a int)", " CREATE TABLE t (a int)", false},
           {"BEGIN; CREATE TABLE t (a int); INSERT INTO t VALUES (1); COMMIT", " CREATE TABLE t (a int)", false},
           {"BEGIN; INSERT INTO t VALUES (1); CREATE TABLE u (a int)", "", true},
       }) {
    INFO(sql);
    const auto& verdict = classifier.classify(sql);
    CHECK(verdict.schema_change_text == schema_change);
    CHECK(verdict.schema_change_late == late);
  }
}

TEST_CASE("statements that write large objects are told, reading ones are not", "[unit][sql]") {
  Classifier classifier;
  for (const char* writes : {"SELECT lo_from_bytea(0, 'x')", "SELECT lo_unlink(16384)",
                             "SELECT pg_catalog.lo_put(16384, 0, 'y')", "SELECT lowrite(0, 'z')",
                             "INSERT INTO docs (blob) VALUES (lo_create(0))"}) {
    INFO(writes);
    CHECK(classifier.classify(writes).writes_large_objects);
  }
  for (const char* reads : {"SELECT lo_get(16384)", "SELECT loread(0, 10)", "INSERT INTO docs VALUES (1)"}) {
    INFO(reads);
    CHECK_FALSE(classifier.classify(reads).writes_large_objects);
  }
}

TEST_CASE("lo_open in SQL writes no large object, whatever its mode: the lowrite after it does", "[unit][sql]") {
  Classifier classifier;
  CHECK_FALSE(classifier.classify("SELECT lo_open(16384, 131072)").writes_large_objects);
  CHECK_FALSE(classifier.classify("SELECT lo_open(16384, 262144)").writes_large_objects);
}

TEST_CASE("large object functions a statement only stores or plans do not write large objects", "[unit][sql]") {
  Classifier classifier;
  for (const char* stores : {"CREATE VIEW v AS SELECT lo_creat(-1)", "EXPLAIN SELECT lo_unlink(16384)",
                             "PREPARE p AS SELECT lo_from_bytea(0, 'x')"}) {
    INFO(stores);
    CHECK_FALSE(classifier.classify(stores).writes_large_objects);
  }
  CHECK(classifier.classify("EXPLAIN ANALYZE SELECT lo_unlink(16384)").writes_large_objects);
}

TEST_CASE("columns added with a value computed as the statement runs are told; constant defaults are not",
          "[unit][sql]") {
  Classifier classifier;
  for (const char* filled : {"ALTER TABLE t ADD COLUMN at timestamptz DEFAULT now()",
                             "ALTER TABLE t ADD COLUMN at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP",
                             "ALTER TABLE t ADD COLUMN r float8 DEFAULT random()",
                             "ALTER TABLE t ADD COLUMN n bigserial", "ALTER TABLE t ADD n int, ADD m serial4",
                             "ALTER TABLE t ADD COLUMN n int GENERATED ALWAYS AS IDENTITY",
                             "ALTER TABLE IF EXISTS s.t ADD COLUMN d date DEFAULT current_date"}) {
    INFO(filled);
    CHECK(classifier.classify(filled).fills_new_column);
  }
  for (const char* constant : {"ALTER TABLE t ADD COLUMN ward text", "ALTER TABLE t ADD COLUMN n int DEFAULT 0",
                               "ALTER TABLE t ADD COLUMN s text DEFAULT 'none'::text NOT NULL",
                               "ALTER TABLE t ADD COLUMN d date DEFAULT '2026-01-01'",
                               "ALTER TABLE t ALTER COLUMN at SET DEFAULT now()",
                               "CREATE TABLE t (at timestamptz DEFAULT now(), n serial)"}) {
    INFO(constant);
    CHECK_FALSE(classifier.classify(constant).fills_new_column);
  }
}

TEST_CASE("statements that create an unlogged table or make one unlogged are told", "[unit][sql]") {
  Classifier classifier;
  for (const char* unlogged : {"CREATE UNLOGGED TABLE cache (k int PRIMARY KEY)",
                               "CREATE UNLOGGED TABLE IF NOT EXISTS s.cache (k int)",
                               "CREATE UNLOGGED TABLE cache AS SELECT 1 AS k",
                               "SELECT 1 AS k INTO UNLOGGED cache", "ALTER TABLE cache SET UNLOGGED",
                               "ALTER TABLE IF EXISTS cache ADD COLUMN v int, SET UNLOGGED",
                               "CREATE SCHEMA s CREATE UNLOGGED TABLE cache (k int)",
                               "SET search_path = s; CREATE UNLOGGED TABLE cache (k int)"}) {
    INFO(unlogged);
    CHECK(classifier.classify(unlogged).creates_unlogged_table);
  }
  for (const char* logged : {"CREATE TABLE t (k int)", "CREATE TEMP TABLE t (k int)", "CREATE TABLE t AS SELECT 1",
                             "SELECT 1 INTO t", "ALTER TABLE t SET LOGGED", "CREATE UNLOGGED SEQUENCE s",
                             "ALTER SEQUENCE s SET UNLOGGED", "EXPLAIN CREATE UNLOGGED TABLE t AS SELECT 1",
                             "INSERT INTO cache VALUES (1)", "SELECT * FROM cache"}) {
    INFO(logged);
    CHECK_FALSE(classifier.classify(logged).creates_unlogged_table);
  }
}

TEST_CASE("answers that differ between two runs are told, in reads as in writes", "[unit][sql]") {
  Classifier classifier;
  for (const char* volatile_text :
       {"SELECT now()", "SELECT * FROM visits WHERE admitted_at > now() - interval '1 day'",
        "SELECT random()", "SELECT clock_timestamp()", "SELECT gen_random_uuid()", "SELECT current_timestamp",
        "SELECT current_date, localtimestamp", "SELECT 'now'::timestamptz", "SELECT * FROM t WHERE d = DATE 'today'",
        "SELECT * FROM t TABLESAMPLE SYSTEM (10)", "SELECT * FROM t ORDER BY random() LIMIT 1",
        "SELECT pg_backend_pid()", "SELECT nextval('s')",
        "WITH recent AS (SELECT * FROM visits WHERE admitted_at > now()) SELECT * FROM recent",
        "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE at < statement_timestamp())",
        "SELECT 1; SELECT now()", "SELECT now(); SELECT 1", "EXPLAIN ANALYZE SELECT now()",
        "INSERT INTO audit (at) VALUES (now())", "COPY (SELECT random()) TO STDOUT"}) {
    INFO(volatile_text);
    CHECK(classifier.classify(volatile_text).volatile_answer);
  }
  for (const char* stable_text :
       {"SELECT 1", "SELECT * FROM patients WHERE id = $1", "SELECT 'now'::text", "SELECT current_user",
        "SELECT * FROM t ORDER BY a LIMIT 5", "EXPLAIN SELECT now()", "PREPARE p AS SELECT now()",
        "CREATE VIEW v AS SELECT now()", "INSERT INTO t VALUES (1)", "", "SELEC now()"}) {
    INFO(stable_text);
    CHECK_FALSE(classifier.classify(stable_text).volatile_answer);
  }
}

TEST_CASE("nondeterministic still lists only what statements both backends execute", "[unit][sql]") {
  Classifier classifier;
  const Classification& read = classifier.classify("SELECT now(), random()");
  CHECK(read.volatile_answer);
  CHECK(read.nondeterministic.empty());
  const Classification& both = classifier.classify("SELECT random(); UPDATE t SET at = now()");
  CHECK(both.volatile_answer);
  CHECK(both.nondeterministic == std::vector<std::string>{"now"});
}

TEST_CASE("a last statement that is a SELECT ordered at its top level orders its rows", "[unit][sql]") {
  Classifier classifier;
  for (const char* ordered :
       {"SELECT * FROM t ORDER BY a", "SELECT * FROM t ORDER BY a DESC NULLS LAST LIMIT 10 OFFSET 5",
        "select a, b from t order by 2, 1;", "VALUES (2), (1) ORDER BY 1", "TABLE t ORDER BY 1",
        "SELECT a FROM t1 UNION SELECT b FROM t2 ORDER BY 1", "SELECT a FROM t1 EXCEPT SELECT b FROM t2 ORDER BY a",
        "(SELECT a FROM t ORDER BY a)", "(SELECT a FROM t ORDER BY a) LIMIT 3",
        "WITH w AS (SELECT * FROM t) SELECT * FROM w ORDER BY a", "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b",
        "SELECT * FROM t ORDER BY a FOR UPDATE", "SELECT 1; SELECT * FROM t ORDER BY a",
        "SET x = 1; SELECT * FROM t ORDER BY a"}) {
    INFO(ordered);
    CHECK(classifier.classify(ordered).orders_rows);
  }
  for (const char* unordered :
       {"SELECT * FROM t", "SELECT * FROM t LIMIT 1", "VALUES (2), (1)", "TABLE t",
        "SELECT * FROM (SELECT * FROM t ORDER BY a) s", "SELECT * FROM t WHERE a IN (SELECT b FROM u ORDER BY b)",
        "WITH w AS (SELECT * FROM t ORDER BY a) SELECT * FROM w",
        "SELECT a FROM t1 UNION ALL (SELECT b FROM t2 ORDER BY b)", "(SELECT a FROM t1 ORDER BY a) UNION SELECT 1",
        "SELECT string_agg(name, ',' ORDER BY name) FROM t", "SELECT row_number() OVER (ORDER BY a) FROM t",
        "SELECT * FROM t ORDER BY a; SELECT 1", "SELECT * INTO archive FROM t ORDER BY a",
        "CREATE TABLE c AS SELECT * FROM t ORDER BY a", "EXPLAIN SELECT * FROM t ORDER BY a",
        "DECLARE c CURSOR FOR SELECT * FROM t ORDER BY a", "COPY (SELECT * FROM t ORDER BY a) TO STDOUT",
        "INSERT INTO u SELECT * FROM t ORDER BY a", "", "SELEC * FROM t ORDER BY a"}) {
    INFO(unordered);
    CHECK_FALSE(classifier.classify(unordered).orders_rows);
  }
}

TEST_CASE("EXPLAIN and rows kept by position make an answer depend on the plan", "[unit][sql]") {
  Classifier classifier;
  for (const char* dependent :
       {"SELECT * FROM t LIMIT 5", "SELECT * FROM t ORDER BY a OFFSET 10", "SELECT * FROM t FETCH FIRST 3 ROWS ONLY",
        "SELECT DISTINCT ON (a) a, b FROM t", "SELECT * FROM t WHERE id IN (SELECT id FROM u LIMIT 2)",
        "WITH w AS (SELECT * FROM t LIMIT 1) SELECT * FROM w", "EXPLAIN SELECT * FROM t",
        "EXPLAIN (ANALYZE) SELECT 1", "SELECT 1; SELECT * FROM t LIMIT 1"}) {
    INFO(dependent);
    CHECK(classifier.classify(dependent).plan_dependent);
  }
  for (const char* independent : {"SELECT * FROM t", "SELECT DISTINCT a FROM t", "SELECT * FROM t ORDER BY a",
                                  "SELECT count(*) FROM t", "SELEC * FROM t LIMIT 1"}) {
    INFO(independent);
    CHECK_FALSE(classifier.classify(independent).plan_dependent);
  }
}
