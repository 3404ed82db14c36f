// What a statement costs the classifier: cold (a cache miss, which parses,
// walks the tree, fingerprints and normalizes) against cached (a hash lookup),
// and the libpg_query calls a miss is made of. Run:
//   pgdual_microbench --benchmark_filter=classify
#include <pg_query.h>

#include <string>

#include <benchmark/benchmark.h>

#include "protocol/sql/classifier.h"

namespace {

using pgdual::sql::Classifier;
using pgdual::sql::ClassifierOptions;

const std::string kBegin = "BEGIN";
const std::string kPointSelect = "SELECT id, name, dob FROM patients WHERE id = $1";
const std::string kJoinAggregate =
    "SELECT p.id, count(v.id), max(v.admitted_at) FROM patients p "
    "JOIN visits v ON v.patient_id = p.id WHERE p.ward = $1 "
    "GROUP BY p.id ORDER BY 2 DESC LIMIT 20";
const std::string kInsert =
    "INSERT INTO visits (patient_id, ward, admitted_at, note) "
    "VALUES ($1, $2, now(), 'walk-in') RETURNING id";
const std::string kUpdate =
    "UPDATE visits SET discharged_at = now(), status = 'discharged' "
    "WHERE id = $1 AND discharged_at IS NULL";
// psql 15's first query for \d t.
const std::string kPsqlDescribe =
    "SELECT c.oid,\n  n.nspname,\n  c.relname\nFROM pg_catalog.pg_class c\n"
    "     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default\n"
    "  AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 2, 3;";

// Every call misses: two texts that differ by a trailing blank take turns in a
// cache that holds one, so each classify parses and evicts, as under a stream
// of statements with inlined constants.
void classify_cold(benchmark::State& state, const std::string& sql) {
  Classifier classifier{ClassifierOptions{.cache_capacity = 1}};
  const std::string texts[2] = {sql, sql + " "};
  std::size_t turn = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&classifier.classify(texts[turn]));
    turn ^= 1;
  }
  if (classifier.cache_stats().hits != 0) state.SkipWithError("a cold call hit the cache");
}

void classify_cached(benchmark::State& state, const std::string& sql) {
  Classifier classifier;
  (void)classifier.classify(sql);
  for (auto _ : state) benchmark::DoNotOptimize(&classifier.classify(sql));
  if (classifier.cache_stats().misses != 1) state.SkipWithError("a cached call missed");
}

// pgbench -N's UPDATE with new numbers on every call: each text is new, its numeric shape is not
// (protocol/sql/numeric_shape.h), so the call costs a lexing pass and a lookup, not a parse.
void classify_inlined_numbers(benchmark::State& state) {
  Classifier classifier;
  std::string texts[16];
  for (int i = 0; i < 16; ++i) {
    texts[i] = "UPDATE pgbench_accounts SET abalance = abalance + " + std::to_string(i * 317) +
               " WHERE aid = " + std::to_string(i * 65537 + 1) + ";";
  }
  std::size_t turn = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&classifier.classify(texts[turn]));
    turn = (turn + 1) % 16;
  }
  if (classifier.cache_stats().misses != 1) state.SkipWithError("a text of a known shape was parsed");
}
BENCHMARK(classify_inlined_numbers);

// The libpg_query calls a miss makes (normalize is followed by a scan of its output).
void libpg_query_parse(benchmark::State& state, const std::string& sql) {
  for (auto _ : state) {
    PgQueryProtobufParseResult result = pg_query_parse_protobuf(sql.c_str());
    benchmark::DoNotOptimize(result.parse_tree.data);
    pg_query_free_protobuf_parse_result(result);
  }
}

void libpg_query_fingerprint(benchmark::State& state, const std::string& sql) {
  for (auto _ : state) {
    PgQueryFingerprintResult result = pg_query_fingerprint(sql.c_str());
    benchmark::DoNotOptimize(result.fingerprint);
    pg_query_free_fingerprint_result(result);
  }
}

void libpg_query_normalize(benchmark::State& state, const std::string& sql) {
  for (auto _ : state) {
    PgQueryNormalizeResult result = pg_query_normalize(sql.c_str());
    benchmark::DoNotOptimize(result.normalized_query);
    pg_query_free_normalize_result(result);
  }
}

#define PGDUAL_STATEMENT_BENCHMARKS(function)               \
  BENCHMARK_CAPTURE(function, begin, kBegin);               \
  BENCHMARK_CAPTURE(function, point_select, kPointSelect);  \
  BENCHMARK_CAPTURE(function, join_aggregate, kJoinAggregate); \
  BENCHMARK_CAPTURE(function, insert, kInsert);             \
  BENCHMARK_CAPTURE(function, update, kUpdate);             \
  BENCHMARK_CAPTURE(function, psql_describe, kPsqlDescribe)

PGDUAL_STATEMENT_BENCHMARKS(classify_cold);
PGDUAL_STATEMENT_BENCHMARKS(classify_cached);
PGDUAL_STATEMENT_BENCHMARKS(libpg_query_parse);
PGDUAL_STATEMENT_BENCHMARKS(libpg_query_fingerprint);
PGDUAL_STATEMENT_BENCHMARKS(libpg_query_normalize);

}  // namespace
