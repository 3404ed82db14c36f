#include "protocol/sql/numeric_shape.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/sql/classifier.h"
#include "protocol/sql/classify.h"
#include "tests/unit/sql/printers.h"

using namespace pgdual::sql;

namespace {

/// Every field of the verdict, so that a difference in any of them fails the test.
void check_same_verdict(const Classification& a, const Classification& b) {
  CHECK(a.parsed == b.parsed);
  CHECK(a.too_deep == b.too_deep);
  CHECK(a.kind == b.kind);
  CHECK(a.statements == b.statements);
  CHECK(a.transaction == b.transaction);
  CHECK(a.primary_only == b.primary_only);
  CHECK(a.tables == b.tables);
  CHECK(a.nondeterministic == b.nondeterministic);
  CHECK(a.volatile_answer == b.volatile_answer);
  CHECK(a.orders_rows == b.orders_rows);
  CHECK(a.plan_dependent == b.plan_dependent);
  CHECK(a.fingerprint == b.fingerprint);
  CHECK(a.normalized == b.normalized);
}

}  // namespace

TEST_CASE("texts that differ only in numbers share a shape", "[unit][sql]") {
  const auto first = numeric_shape("UPDATE pgbench_accounts SET abalance = abalance + -4200 WHERE aid = 17;");
  const auto second = numeric_shape("UPDATE pgbench_accounts SET abalance = abalance + -3 WHERE aid = 900001;");
  REQUIRE(first);
  CHECK(first == second);
  CHECK(numeric_shape("select x from t where y = 1.5") == numeric_shape("select x from t where y = .25"));
  CHECK(numeric_shape("SELECT 1e5") == numeric_shape("SELECT 2.5E-3"));
  CHECK(numeric_shape("SELECT 2147483647") == numeric_shape("SELECT 0000000000001"));
}

TEST_CASE("a shape keeps everything but the numbers", "[unit][sql]") {
  CHECK(numeric_shape("SELECT 1") != numeric_shape("SELECT  1"));
  CHECK(numeric_shape("SELECT 1") != numeric_shape("select 1"));
  CHECK(numeric_shape("SELECT t1.a FROM t1 WHERE a = 1") != numeric_shape("SELECT t2.a FROM t2 WHERE a = 1"));
  CHECK(numeric_shape("SELECT \"col 1\" FROM t WHERE a = 1") != numeric_shape("SELECT \"col 2\" FROM t WHERE a = 1"));
  CHECK(numeric_shape("SELECT a FROM t WHERE b = $1 AND c = 5") != numeric_shape("SELECT a FROM t WHERE b = $2 AND c = 5"));
}

TEST_CASE("integers that fit in 32 bits and other numbers have different shapes", "[unit][sql]") {
  // PostgreSQL's grammar takes ICONST where it refuses FCONST: timestamp(3) parses, timestamp(3.0) does not.
  CHECK(numeric_shape("SELECT x::timestamp(3) FROM t") != numeric_shape("SELECT x::timestamp(3.0) FROM t"));
  CHECK(numeric_shape("SELECT 2147483647") != numeric_shape("SELECT 2147483648"));
  CHECK(numeric_shape("SELECT 1") != numeric_shape("SELECT 1e0"));
}

TEST_CASE("texts whose verdict may depend on a value have no shape", "[unit][sql]") {
  const std::vector<std::string> unshaped = {
      "SELECT a FROM t",                              // no number: the exact text is the key
      "EXPLAIN (ANALYZE 0) DELETE FROM t WHERE id = 1",  // ANALYZE 1 would run the DELETE
      "BEGIN; SELECT 1",
      "SELECT 1; EXPLAIN (ANALYZE 1) DELETE FROM t",
      "SET statement_timeout = 5",
      "DECLARE c CURSOR FOR SELECT 1",
      "SELECT '2020-01-01'::date + 1",
      "SELECT 'now'::timestamptz, 1",
      "SELECT E'\\x' || 1",
      "SELECT $$now$$, 1",
      "SELECT $tag$x$tag$, 1",
      "SELECT 1 -- now",
      "SELECT 1 /* comment */",
      "SELECT x::float(5) FROM t",  // float4; float(53) is float8
      "SELECT x::int[5] FROM t",     // the bound is kept as a value
      "SELECT x[ 1 ] FROM t",
      "SELECT 0x1F",
      "SELECT 12abc",
      "SELECT 1e",
      "SELECT 1e+",
      "SELECT 1..2",
      "SELECT 1.2.3",
      "SELECT 1_000",
      "SELECT $1abc, 1",
      "SELECT \"unterminated, 1",
      std::string{"SELECT 1\0", 9},
      "SELECT 1 \\g",
      "(SELECT 1)",
  };
  for (const auto& sql : unshaped) {
    INFO(sql);
    CHECK_FALSE(numeric_shape(sql));
  }
}

TEST_CASE("the statements that are shaped", "[unit][sql]") {
  for (const std::string sql : {"SELECT 1", "insert into t values (1)", "Update t set a = 1", "DELETE FROM t WHERE a = 1",
                                "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN UPDATE SET b = 1",
                                "VALUES (1)", "WITH x AS (SELECT 1) SELECT * FROM x", "  SELECT 1;  \n",
                                "SELECT a$1 FROM t LIMIT 1", "SELECT \"a\"\"b\" FROM t LIMIT 1"}) {
    INFO(sql);
    CHECK(numeric_shape(sql));
  }
}

// The shape's promise, checked against the parser: texts of one shape get the same verdict.
TEST_CASE("texts of one shape get the same verdict from the parser", "[unit][sql]") {
  const FunctionCatalog catalog;
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"UPDATE pgbench_accounts SET abalance = abalance + -4200 WHERE aid = 17;",
       "UPDATE pgbench_accounts SET abalance = abalance + -5 WHERE aid = 900001;"},
      {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 56789, -1234, CURRENT_TIMESTAMP);",
       "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (10, 2, 5, -4999, CURRENT_TIMESTAMP);"},
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 1", "SELECT abalance FROM pgbench_accounts WHERE aid = 77"},
      {"SELECT nextval(16384::regclass), x::numeric(10, 2), y::varchar(5), z::timestamp(3) FROM t LIMIT 1",
       "SELECT nextval(99::regclass), x::numeric(12, 3), y::varchar(9), z::timestamp(6) FROM t LIMIT 20"},
      {"SELECT a, x[1:2], ARRAY[1, 2], ROW(1) FROM t GROUP BY 1 ORDER BY 1 FETCH FIRST 5 ROWS ONLY",
       "SELECT a, x[3:4], ARRAY[5, 6], ROW(7) FROM t GROUP BY 2 ORDER BY 2 FETCH FIRST 9 ROWS ONLY"},
      {"SELECT sum(a) OVER (ORDER BY b ROWS 3 PRECEDING) FROM t TABLESAMPLE SYSTEM (5) REPEATABLE (3)",
       "SELECT sum(a) OVER (ORDER BY b ROWS 7 PRECEDING) FROM t TABLESAMPLE SYSTEM (9) REPEATABLE (4)"},
      {"INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 1 RETURNING 1",
       "INSERT INTO t (a) VALUES (2) ON CONFLICT (a) DO UPDATE SET b = 3 RETURNING 4"},
      {"WITH d AS (DELETE FROM t WHERE a < 10 RETURNING *) SELECT count(*) FROM d",
       "WITH d AS (DELETE FROM t WHERE a < 2000 RETURNING *) SELECT count(*) FROM d"},
      {"SELECT random() * 10, now() - 1 * interval_col FROM t OFFSET 3",
       "SELECT random() * 99, now() - 7 * interval_col FROM t OFFSET 30"},
      {"SELECT 1.5e10 FROM t WHERE a IN (1, 2, 3) FOR UPDATE", "SELECT 2.5e-3 FROM t WHERE a IN (7, 8, 9) FOR UPDATE"},
  };
  for (const auto& [first, second] : pairs) {
    INFO(first << " / " << second);
    REQUIRE(numeric_shape(first));
    REQUIRE(numeric_shape(first) == numeric_shape(second));
    check_same_verdict(classify_uncached(first, catalog), classify_uncached(second, catalog));
  }
}

TEST_CASE("the classifier parses a shape once", "[unit][sql]") {
  Classifier classifier;
  const auto& first = classifier.classify("UPDATE t SET v = v + 1 WHERE id = 2");
  CHECK(first.kind == StatementKind::write);
  CHECK(first.tables == std::vector<std::string>{"t"});
  const auto& second = classifier.classify("UPDATE t SET v = v + 30 WHERE id = 4000");
  CHECK(second.kind == StatementKind::write);
  CHECK(second.tables == std::vector<std::string>{"t"});
  CHECK(classifier.classify("SELECT v FROM t WHERE id = 9").kind == StatementKind::read);

  const CacheStats stats = classifier.cache_stats();
  CHECK(stats.misses == 2);
  CHECK(stats.hits == 1);
  CHECK(stats.shape_hits == 1);
  CHECK(stats.entries == 2);
}
