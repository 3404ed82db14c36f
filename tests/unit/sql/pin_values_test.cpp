#include "protocol/sql/pin_values.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/sql/parse_tree.h"

using namespace pgdual::sql;

namespace {

const PinnedTimes kTimes{.transaction_time = "2026-11-22 05:16:00.123456+00",
                         .statement_time = "2026-11-22 05:16:00.234567+00"};

// `pattern` with {T} and {S} standing for the transaction and statement times.
std::string with_times(std::string_view pattern) {
  std::string text{pattern};
  for (const auto& [mark, time] : {std::pair{std::string_view{"{T}"}, kTimes.transaction_time},
                                   std::pair{std::string_view{"{S}"}, kTimes.statement_time}}) {
    for (auto at = text.find(mark); at != std::string::npos; at = text.find(mark, at)) {
      text.replace(at, mark.size(), time);
    }
  }
  return text;
}

std::string repeat(std::string_view text, int times) {
  std::string repeated;
  for (int i = 0; i < times; ++i) repeated += text;
  return repeated;
}

bool parses(const std::string& sql) {
  ParseArena arena;
  return fits_parser_stack(sql) && parse(sql, arena) != nullptr;
}

struct Pinning {
  std::string_view sql;
  std::string_view pinned;  // with {T} and {S}
  std::size_t calls;
};

void check(const std::vector<Pinning>& cases) {
  for (const Pinning& pinning : cases) {
    INFO("sql: " << pinning.sql);
    const auto result = pin_times(pinning.sql, kTimes);
    REQUIRE(result.has_value());
    CHECK(result->text == with_times(pinning.pinned));
    CHECK(result->pinned == pinning.calls);
    CHECK(parses(result->text));
    // Nothing is left to pin.
    const auto again = pin_times(result->text, kTimes);
    REQUIRE(again.has_value());
    CHECK(again->pinned == 0);
    CHECK(again->text == result->text);
  }
}

}  // namespace

TEST_CASE("each time function becomes a literal of its type", "[unit][sql]") {
  check({
      {"INSERT INTO t VALUES (now())", "INSERT INTO t VALUES (('{T}'::timestamptz))", 1},
      {"INSERT INTO t VALUES (transaction_timestamp())",
       "INSERT INTO t VALUES (('{T}'::timestamptz))", 1},
      {"INSERT INTO t VALUES (statement_timestamp())",
       "INSERT INTO t VALUES (('{S}'::timestamptz))", 1},
      {"INSERT INTO t VALUES (CURRENT_TIMESTAMP)", "INSERT INTO t VALUES (('{T}'::timestamptz))",
       1},
      {"INSERT INTO t VALUES (CURRENT_TIMESTAMP(3))",
       "INSERT INTO t VALUES (('{T}'::timestamptz(3)))", 1},
      {"INSERT INTO t VALUES (LOCALTIMESTAMP)",
       "INSERT INTO t VALUES (('{T}'::timestamptz::timestamp))", 1},
      {"INSERT INTO t VALUES (LOCALTIMESTAMP(2))",
       "INSERT INTO t VALUES (('{T}'::timestamptz::timestamp(2)))", 1},
      {"INSERT INTO t VALUES (CURRENT_DATE)", "INSERT INTO t VALUES (('{T}'::timestamptz::date))",
       1},
      {"INSERT INTO t VALUES (CURRENT_TIME)",
       "INSERT INTO t VALUES (('{T}'::timestamptz::timetz))", 1},
      {"INSERT INTO t VALUES (CURRENT_TIME(0))",
       "INSERT INTO t VALUES (('{T}'::timestamptz::timetz(0)))", 1},
      {"INSERT INTO t VALUES (LOCALTIME)", "INSERT INTO t VALUES (('{T}'::timestamptz::time))", 1},
      {"INSERT INTO t VALUES (LOCALTIME(6))",
       "INSERT INTO t VALUES (('{T}'::timestamptz::time(6)))", 1},
  });
}

TEST_CASE("pgbench's history insert is pinned", "[unit][sql]") {
  check({{"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, "
          "CURRENT_TIMESTAMP);",
          "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, "
          "('{T}'::timestamptz));",
          1}});
}

TEST_CASE("names match as PostgreSQL resolves them", "[unit][sql]") {
  check({
      {"INSERT INTO t VALUES (NOW(), Current_Timestamp, localTime)",
       "INSERT INTO t VALUES (('{T}'::timestamptz), ('{T}'::timestamptz), "
       "('{T}'::timestamptz::time))",
       3},
      {"INSERT INTO t VALUES (pg_catalog.now(), PG_CATALOG . statement_timestamp ())",
       "INSERT INTO t VALUES (('{T}'::timestamptz), ('{S}'::timestamptz))", 2},
      {"INSERT INTO t VALUES (\"now\"(), \"pg_catalog\".\"now\"())",
       "INSERT INTO t VALUES (('{T}'::timestamptz), ('{T}'::timestamptz))", 2},
      // Quoted upper case is another function; so is one of another schema.
      {"INSERT INTO t VALUES (\"NOW\"(), myschema.now(), now(1))",
       "INSERT INTO t VALUES (\"NOW\"(), myschema.now(), now(1))", 0},
  });
}

TEST_CASE("only the call's own bytes change", "[unit][sql]") {
  check({
      {"UPDATE t SET at = now() - interval '1 day' WHERE id = $1",
       "UPDATE t SET at = ('{T}'::timestamptz) - interval '1 day' WHERE id = $1", 1},
      {"INSERT INTO t VALUES (-extract(epoch FROM now())::int, CURRENT_DATE + 1)",
       "INSERT INTO t VALUES (-extract(epoch FROM ('{T}'::timestamptz))::int, "
       "('{T}'::timestamptz::date) + 1)",
       2},
      {"INSERT INTO t VALUES (now( /* ) */ ), now(\n-- )\n))",
       "INSERT INTO t VALUES (('{T}'::timestamptz), ('{T}'::timestamptz))", 2},
      {"INSERT INTO t VALUES ('now()', $$now()$$) -- now()\n/* CURRENT_DATE */",
       "INSERT INTO t VALUES ('now()', $$now()$$) -- now()\n/* CURRENT_DATE */", 0},
      {"INSERT INTO t VALUES ('héllo', now(), 'wörld')",
       "INSERT INTO t VALUES ('héllo', ('{T}'::timestamptz), 'wörld')", 1},
      {"UPDATE t SET at = date_trunc('day', now()) WHERE at < now()::date",
       "UPDATE t SET at = date_trunc('day', ('{T}'::timestamptz)) WHERE at < "
       "('{T}'::timestamptz)::date",
       2},
  });
}

TEST_CASE("every statement of a text is pinned", "[unit][sql]") {
  check({{"BEGIN; INSERT INTO a VALUES (now()); UPDATE b SET at = statement_timestamp(); COMMIT",
          "BEGIN; INSERT INTO a VALUES (('{T}'::timestamptz)); UPDATE b SET at = "
          "('{S}'::timestamptz); COMMIT",
          2}});
}

TEST_CASE("a result column keeps the name the call gave it", "[unit][sql]") {
  check({
      {"SELECT now()", "SELECT ('{T}'::timestamptz) AS \"now\"", 1},
      {"SELECT now() AS at, (now()), now() + interval '1 hour'",
       "SELECT ('{T}'::timestamptz) AS at, (('{T}'::timestamptz)), ('{T}'::timestamptz) + "
       "interval '1 hour'",
       3},
      {"INSERT INTO t VALUES (1) RETURNING CURRENT_DATE, LOCALTIMESTAMP(3)",
       "INSERT INTO t VALUES (1) RETURNING ('{T}'::timestamptz::date) AS \"current_date\", "
       "('{T}'::timestamptz::timestamp(3)) AS \"localtimestamp\"",
       2},
      {"WITH c AS (SELECT pg_catalog.now()) INSERT INTO t SELECT now FROM c",
       "WITH c AS (SELECT ('{T}'::timestamptz) AS \"now\") INSERT INTO t SELECT now FROM c", 1},
      {"CREATE TABLE t AS SELECT statement_timestamp()",
       "CREATE TABLE t AS SELECT ('{S}'::timestamptz) AS \"statement_timestamp\"", 1},
  });
}

TEST_CASE("calls that run now are pinned inside DDL and EXPLAIN ANALYZE", "[unit][sql]") {
  check({
      {"ALTER TABLE t ALTER at TYPE timestamptz USING now()",
       "ALTER TABLE t ALTER at TYPE timestamptz USING ('{T}'::timestamptz)", 1},
      {"CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (now()) TO (MAXVALUE)",
       "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (('{T}'::timestamptz)) TO (MAXVALUE)", 1},
      {"EXPLAIN ANALYZE INSERT INTO t VALUES (now())",
       "EXPLAIN ANALYZE INSERT INTO t VALUES (('{T}'::timestamptz))", 1},
      {"SELECT * FROM generate_series(now(), now() + interval '1 hour', interval '1 minute')",
       "SELECT * FROM generate_series(('{T}'::timestamptz), ('{T}'::timestamptz) + interval "
       "'1 hour', interval '1 minute')",
       2},
  });
}

// A literal there would freeze the time for every later use of the definition.
TEST_CASE("stored definitions keep their calls", "[unit][sql]") {
  const std::vector<std::string_view> definitions = {
      "CREATE TABLE t (at timestamptz DEFAULT now(), d date DEFAULT CURRENT_DATE)",
      "CREATE TABLE t (at timestamptz CHECK (at <= now()))",
      "ALTER TABLE t ALTER at SET DEFAULT CURRENT_TIMESTAMP",
      "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT now()",
      "ALTER TABLE t ADD CONSTRAINT c CHECK (at <= now())",
      "CREATE VIEW v AS SELECT now()",
      "CREATE MATERIALIZED VIEW v AS SELECT now()",
      "CREATE FUNCTION f() RETURNS timestamptz RETURN now()",
      "CREATE INDEX ON t (at) WHERE at > now()",
      "CREATE DOMAIN d AS timestamptz DEFAULT now()",
      "CREATE POLICY p ON t USING (at < now())",
      "CREATE RULE r AS ON INSERT TO t DO ALSO INSERT INTO log VALUES (now())",
      "PREPARE p AS INSERT INTO t VALUES (now())",
      "DECLARE c CURSOR FOR SELECT now()",
      "EXPLAIN INSERT INTO t VALUES (now())",
  };
  for (const std::string_view sql : definitions) {
    INFO("sql: " << sql);
    const auto result = pin_times(sql, kTimes);
    REQUIRE(result.has_value());
    CHECK(result->text == sql);
    CHECK(result->pinned == 0);
  }
}

TEST_CASE("other clocks and random values are left as written", "[unit][sql]") {
  check({
      {"INSERT INTO t VALUES (clock_timestamp(), timeofday(), random(), 'now'::timestamptz, "
       "timestamptz 'now', gen_random_uuid())",
       "INSERT INTO t VALUES (clock_timestamp(), timeofday(), random(), 'now'::timestamptz, "
       "timestamptz 'now', gen_random_uuid())",
       0},
      {"SELECT CURRENT_USER, SESSION_USER, CURRENT_SCHEMA",
       "SELECT CURRENT_USER, SESSION_USER, CURRENT_SCHEMA", 0},
      {"UPDATE t SET a = 1", "UPDATE t SET a = 1", 0},
      {"", "", 0},
  });
}

TEST_CASE("texts that cannot be pinned give nullopt", "[unit][sql]") {
  const std::vector<std::string> unpinnable = {
      "INSERT INTO t VALUES (now()",
      "SELEC now()",
      "SELECT now() /* unterminated",
      std::string{"SELECT now()\0; SELECT 1", 23},
      "SELECT * FROM now()",
      "SELECT * FROM CURRENT_DATE",
      "SELECT * FROM ROWS FROM (generate_series(1, 2), now())",
      "SELECT " + repeat("- ", 5000) + "now()",  // too deep for the parser's stack
  };
  for (const std::string& sql : unpinnable) {
    INFO("sql: " << sql.substr(0, 80));
    CHECK_FALSE(pin_times(sql, kTimes).has_value());
  }
}

TEST_CASE("a time that could leave its quotes gives nullopt", "[unit][sql]") {
  for (const std::string_view bad : {"", "2026-11-22' OR '1", "2026-11-22\\", "now"}) {
    INFO("time: " << bad);
    CHECK_FALSE(pin_times("SELECT 1", PinnedTimes{std::string{bad}, kTimes.statement_time}).has_value());
    CHECK_FALSE(pin_times("SELECT 1", PinnedTimes{kTimes.transaction_time, std::string{bad}}).has_value());
  }
}

TEST_CASE("garbage never crashes the pinner", "[unit][sql]") {
  const std::vector<std::string> garbage = {
      "now(", ")now(", "now())", "CURRENT_TIMESTAMP(", "CURRENT_TIMESTAMP(-1)",
      "CURRENT_TIMESTAMP(99999999999)", "SELECT now()(", "\xff\xfe now()", "SELECT U&\"\\0000\"",
      "SELECT $1now()", "'", "\"", "/*", "--", ";;;", repeat("(", 3000), repeat("now()", 1000),
  };
  for (const std::string& sql : garbage) {
    INFO("sql: " << sql.substr(0, 80));
    const auto result = pin_times(sql, kTimes);
    if (result) CHECK(parses(result->text) == parses(sql));
  }
}
