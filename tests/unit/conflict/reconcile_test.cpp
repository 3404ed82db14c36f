#include "conflict/reconcile.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace pgdual::conflict;

namespace {

TableSchema visits() {
  TableSchema table;
  table.table = {.schema = "public", .name = "visits"};
  table.columns = {
      {.name = "clinic", .type = "text", .not_null = true, .default_text = {}, .collation = "default"},
      {.name = "visit_no", .type = "integer", .not_null = true, .default_text = "generated always as identity",
       .collation = {}},
      {.name = "amount", .type = "numeric(10,2)", .not_null = false, .default_text = {}, .collation = {}},
      {.name = "cents", .type = "bigint", .not_null = false,
       .default_text = "generated always as ((amount * (100)::numeric)) stored", .collation = {}}};
  table.primary_key = {"clinic", "visit_no"};
  return table;
}

SchemaDifference column_differs(std::string attribute, std::string on_primary, std::string on_mirror) {
  return {.object = SchemaObject::column, .change = SchemaChange::differs, .name = "amount",
          .attribute = std::move(attribute), .on_primary = std::move(on_primary), .on_mirror = std::move(on_mirror)};
}

std::vector<DigestSurplus> merged(std::vector<DigestCount> primary, std::vector<DigestCount> mirror) {
  DigestCountMerge merge;
  merge.add(Side::primary, std::move(primary), true);
  merge.add(Side::mirror, std::move(mirror), true);
  CHECK(merge.finished());
  return merge.take();
}

}  // namespace

TEST_CASE("Keyed repairs copy every column but generated ones, by key", "[unit][conflict][reconcile]") {
  const KeyedRepairQueries queries{visits()};
  CHECK(queries.select_rows(2) ==
        "SELECT t.\"clinic\", t.\"visit_no\", t.\"amount\" FROM ONLY \"public\".\"visits\" AS t WHERE "
        "(t.\"clinic\", t.\"visit_no\") IN ((CAST($1 AS text), CAST($2 AS integer)), "
        "(CAST($3 AS text), CAST($4 AS integer)))");
  CHECK(queries.upsert(1) ==
        "INSERT INTO \"public\".\"visits\" (\"clinic\", \"visit_no\", \"amount\") OVERRIDING SYSTEM VALUE VALUES "
        "(CAST($1 AS text), CAST($2 AS integer), CAST($3 AS numeric(10,2))) ON CONFLICT (\"clinic\", \"visit_no\") "
        "DO UPDATE SET \"amount\" = EXCLUDED.\"amount\"");
  CHECK(queries.delete_rows(1) ==
        "DELETE FROM ONLY \"public\".\"visits\" AS t WHERE (t.\"clinic\", t.\"visit_no\") IN "
        "((CAST($1 AS text), CAST($2 AS integer)))");
  CHECK(queries.rows_per_statement() * queries.column_count() <= 65535);
  CHECK(queries.keys_per_statement() * queries.key_size() <= 65535);
}

TEST_CASE("A repair reads the mirror's rows locked and inserts around other unique indexes",
          "[unit][conflict][reconcile]") {
  const KeyedRepairQueries queries{visits()};
  CHECK(queries.lock_rows(1) == queries.select_rows(1) + " FOR UPDATE");
  CHECK(queries.insert_returning_keys(1) ==
        "INSERT INTO \"public\".\"visits\" (\"clinic\", \"visit_no\", \"amount\") OVERRIDING SYSTEM VALUE VALUES "
        "(CAST($1 AS text), CAST($2 AS integer), CAST($3 AS numeric(10,2))) ON CONFLICT DO NOTHING RETURNING "
        "\"clinic\", \"visit_no\"");
}

TEST_CASE("A key whose rows agree when read again is left alone", "[unit][conflict][reconcile]") {
  const KeyedRepairQueries queries{visits()};
  const RowText same{"north", "1", "10.00"};
  const RowText changed_on_primary{"north", "2", "20.00"};
  const RowText changed_on_mirror{"north", "2", std::nullopt};
  const RowText only_primary{"south", "1", "5.00"};
  const RowText only_mirror{"west", "7", "1.00"};
  // Five keys asked for: the fifth is on neither side any more.
  const auto decision =
      queries.decide(5, {same, changed_on_primary, only_primary}, {only_mirror, changed_on_mirror, same});
  CHECK(decision.insert == std::vector<RowText>{only_primary});
  CHECK(decision.update == std::vector<RowText>{changed_on_primary});
  CHECK(decision.remove == std::vector<Key>{{"west", "7"}});
  CHECK(decision.agreed == 2);
  CHECK(queries.key_of(changed_on_mirror) == Key{"north", "2"});
}

TEST_CASE("A table whose columns are all key columns is upserted with DO NOTHING", "[unit][conflict][reconcile]") {
  TableSchema tags;
  tags.table = {.schema = "public", .name = "tags"};
  tags.columns = {{.name = "tag", .type = "text", .not_null = true, .default_text = {}, .collation = "default"}};
  tags.primary_key = {"tag"};
  CHECK(KeyedRepairQueries{tags}.upsert(1) ==
        "INSERT INTO \"public\".\"tags\" (\"tag\") VALUES (CAST($1 AS text)) ON CONFLICT (\"tag\") DO NOTHING");
}

TEST_CASE("Rows without a key are matched by the digest verify hashes", "[unit][conflict][reconcile]") {
  const DigestRepairQueries queries{visits(), {"clinic", "amount"}};
  CHECK(queries.digest_counts() ==
        "SELECT md5(ROW(t.\"clinic\", t.\"amount\")::text) COLLATE \"C\" AS digest, count(*) FROM "
        "ONLY \"public\".\"visits\" AS t GROUP BY 1 ORDER BY 1");
  CHECK(queries.delete_copies() ==
        "DELETE FROM ONLY \"public\".\"visits\" WHERE ctid = ANY (ARRAY(SELECT t.ctid FROM ONLY \"public\".\"visits\" AS t "
        "WHERE md5(ROW(t.\"clinic\", t.\"amount\")::text) = $1 LIMIT $2::bigint))");
  CHECK(queries.insert_copies().ends_with("SELECT CAST($1 AS text), CAST($2 AS integer), CAST($3 AS numeric(10,2)) "
                                          "FROM generate_series(1, $4::bigint)"));
}

TEST_CASE("Digest counts merge into the surplus of each side", "[unit][conflict][reconcile]") {
  CHECK(merged({{"a", 1}, {"b", 2}, {"d", 1}}, {{"b", 1}, {"c", 3}, {"d", 1}}) ==
        std::vector<DigestSurplus>{{"a", 1}, {"b", 1}, {"c", -3}});
  CHECK(merged({}, {{"z", 2}}) == std::vector<DigestSurplus>{{"z", -2}});
  CHECK(merged({{"a", 1}}, {{"a", 1}}).empty());
}

TEST_CASE("Digest counts merge across batches without holding either side", "[unit][conflict][reconcile]") {
  DigestCountMerge merge;
  CHECK(merge.needs(Side::primary));
  merge.add(Side::primary, {{"a", 1}, {"c", 1}}, false);
  merge.add(Side::mirror, {{"b", 1}}, false);
  CHECK(merge.take() == std::vector<DigestSurplus>{{"a", 1}, {"b", -1}});
  CHECK(merge.needs(Side::mirror));
  CHECK_FALSE(merge.needs(Side::primary));
  merge.add(Side::mirror, {{"c", 1}, {"e", 1}}, true);
  CHECK(merge.take().empty());
  CHECK(merge.needs(Side::primary));
  merge.add(Side::primary, {}, true);
  CHECK(merge.take() == std::vector<DigestSurplus>{{"e", -1}});
  CHECK(merge.finished());
}

TEST_CASE("Schema repairs: DDL for what pgdual can change, by hand for the rest", "[unit][conflict][reconcile]") {
  const TableName table{.schema = "public", .name = "visits"};
  const std::vector<SchemaDifference> differences{
      column_differs("type", "numeric(10,2)", "numeric(12,2)"),
      column_differs("nullability", "not null", "nullable"),
      column_differs("default", "0", ""),
      column_differs("position", "3", "2"),
      {.object = SchemaObject::constraint, .change = SchemaChange::missing_on_mirror, .name = "visits_pkey",
       .attribute = {}, .on_primary = "PRIMARY KEY (clinic, visit_no)", .on_mirror = {}},
      {.object = SchemaObject::index, .change = SchemaChange::missing_on_mirror, .name = "visits_pkey",
       .attribute = {}, .on_primary = "CREATE UNIQUE INDEX visits_pkey ON public.visits USING btree (clinic)",
       .on_mirror = {}},
      {.object = SchemaObject::index, .change = SchemaChange::extra_on_mirror, .name = "visits_amount",
       .attribute = {}, .on_primary = {}, .on_mirror = "CREATE INDEX visits_amount ON public.visits (amount)"},
  };
  const auto repairs = plan_schema_repairs(table, differences);
  REQUIRE(repairs.size() == 6);  // the primary key's index comes with its constraint
  CHECK(repairs[0].statement ==
        "ALTER TABLE \"public\".\"visits\" ALTER COLUMN \"amount\" TYPE numeric(10,2) USING \"amount\"::numeric(10,2)");
  CHECK(repairs[1].statement == "ALTER TABLE \"public\".\"visits\" ALTER COLUMN \"amount\" SET NOT NULL");
  CHECK(repairs[1].after_rows);
  CHECK(repairs[2].statement == "ALTER TABLE \"public\".\"visits\" ALTER COLUMN \"amount\" SET DEFAULT 0");
  CHECK(repairs[3].statement.empty());
  CHECK(repairs[3].by_hand == "pgdual does not change a column's position");
  CHECK(repairs[4].statement ==
        "ALTER TABLE \"public\".\"visits\" ADD CONSTRAINT \"visits_pkey\" PRIMARY KEY (clinic, visit_no)");
  CHECK(repairs[5].statement.empty());
}

TEST_CASE("Sequences are set to the primary's position, or restarted when it never moved",
          "[unit][conflict][reconcile]") {
  const TableName name{.schema = "public", .name = "invoice_numbers"};
  SequenceVerdict verdict{.sequence = name,
                          .on_primary = SequenceState{.sequence = name, .owner = {}, .readable = true, .last_value = 120},
                          .on_mirror = SequenceState{.sequence = name, .owner = {}, .readable = true, .last_value = 100}};
  CHECK(sequence_repair(verdict) == "SELECT setval('\"public\".\"invoice_numbers\"', 120)");
  verdict.on_primary->last_value.reset();
  CHECK(sequence_repair(verdict) == "ALTER SEQUENCE \"public\".\"invoice_numbers\" RESTART");
  verdict.on_mirror.reset();
  CHECK_FALSE(sequence_repair(verdict));
}

TEST_CASE("A plan names its keys and what needs an operator, never values", "[unit][conflict][reconcile]") {
  TablePlan plan{.table = {.schema = "public", .name = "visits"}, .method = RowMethod::by_key};
  plan.insert.add(Key{"clinic 3", "10"});
  plan.remove.add(Key{"clinic 9", "1000"});
  CHECK(render_plan(plan, false) ==
        "public.visits: insert 1 row, delete 1 row\n"
        "  insert (missing on mirror): 1 key\n    (\"clinic 3\", 10)\n"
        "  delete (extra on mirror): 1 key\n    (\"clinic 9\", 1000)\n");
  CHECK(render_plan(plan, true).starts_with("public.visits: inserted 1 row, deleted 1 row\n"));
  CHECK_FALSE(plan.needs_operator());
  plan.error = "backend \"cloud\": permission denied for table visits (SQLSTATE 42501)";
  CHECK(plan.needs_operator());
  CHECK(render_plan(plan, true).ends_with("  not reconciled: " + plan.error + "\n"));
}
