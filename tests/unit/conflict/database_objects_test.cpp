#include "conflict/database_objects.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace pgdual::conflict;

namespace {

const TableName kCache{"public", "cache"};
const TableName kRemote{"public", "remote"};
const TableName kVisits{"public", "visits"};

MaterializedView view(std::string definition, bool populated = true) {
  return {.schema = {.table = {.schema = "public", .name = "counts"},
                     .columns = {{.name = "n", .type = "bigint", .not_null = false, .default_text = {},
                                  .collation = {}}},
                     .primary_key = {}, .constraints = {}, .indexes = {}},
          .definition = std::move(definition), .populated = populated};
}

MaterializedViewVerdict paired(std::optional<MaterializedView> primary, std::optional<MaterializedView> mirror) {
  return {.view = {.schema = "public", .name = "counts"}, .on_primary = std::move(primary),
          .on_mirror = std::move(mirror)};
}

VerifyReport report_of_one_identical_table() {
  VerifyReport report;
  report.tables.push_back({.table = kVisits});
  return report;
}

}  // namespace

TEST_CASE("Relations verify cannot compare are paired by name and named with why", "[unit][conflict][verify]") {
  const std::vector<UncomparableRelation> primary{{.name = kCache, .kind = Uncomparable::unlogged_table},
                                                  {.name = kRemote, .kind = Uncomparable::foreign_table}};
  const std::vector<UncomparableRelation> mirror{{.name = kCache, .kind = Uncomparable::unlogged_table}};
  const auto relations = pair_uncomparable(primary, mirror);
  REQUIRE(relations.size() == 2);
  CHECK(render_not_compared(relations[0]) == "public.cache: not compared (unlogged table)\n");
  CHECK(render_not_compared(relations[1]) == "public.remote: not compared (foreign table on primary)\n");
  CHECK(render_not_compared({.name = kCache, .on_primary = Uncomparable::unlogged_table,
                             .on_mirror = Uncomparable::foreign_table}) ==
        "public.cache: not compared (unlogged table on primary, foreign table on mirror)\n");
  CHECK(comparable_tables({kCache, kVisits}, relations) == std::vector{kVisits});
  CHECK(uncomparable_relations_query().find("c.relpersistence = 'u'") != std::string::npos);
}

TEST_CASE("A materialized view is compared by definition, whether populated, and rows", "[unit][conflict][verify]") {
  auto same = paired(view("SELECT 1"), view("SELECT 1"));
  CHECK(same.rows_comparable());
  CHECK_FALSE(same.identical());  // not hashed yet
  same.primary_rows = RangeChecksum{.rows = 3, .digest = "a"};
  same.mirror_rows = RangeChecksum{.rows = 3, .digest = "a"};
  CHECK(same.identical());
  CHECK(render_materialized_view(same) ==
        "materialized view public.counts: identical, 3 rows, compared by a full hash\n");
  CHECK_FALSE(materialized_view_hash_query(same).empty());

  auto stale = same;
  stale.mirror_rows = RangeChecksum{.rows = 2, .digest = "b"};
  CHECK(render_materialized_view(stale) ==
        "materialized view public.counts: differs, 3 rows on primary, 2 on mirror, compared by a full hash\n"
        "  contents differ\n");
  CHECK(render_materialized_view_repair(stale, false) ==
        "materialized view public.counts: run REFRESH MATERIALIZED VIEW \"public\".\"counts\"\n");

  const auto empty_mirror = paired(view("SELECT 1"), view("SELECT 1", false));
  CHECK_FALSE(empty_mirror.rows_comparable());
  CHECK(render_materialized_view(empty_mirror) ==
        "materialized view public.counts: differs\n  not populated on mirror\n");
  const auto empty_primary = paired(view("SELECT 1", false), view("SELECT 1"));
  CHECK(materialized_view_repair(empty_primary) == "REFRESH MATERIALIZED VIEW \"public\".\"counts\" WITH NO DATA");
  const auto both_empty = paired(view("SELECT 1", false), view("SELECT 1", false));
  CHECK(both_empty.identical());
  CHECK(render_materialized_view(both_empty) == "materialized view public.counts: identical, not populated\n");

  const auto redefined = paired(view("SELECT 1"), view("SELECT 2"));
  CHECK(render_materialized_view(redefined) == "materialized view public.counts: differs\n  definition differs\n");
  CHECK_FALSE(materialized_view_repair(redefined));
  CHECK(render_materialized_view_repair(paired(view("SELECT 1"), std::nullopt), true) ==
        "materialized view public.counts: nothing pgdual can change\n"
        "  by hand: missing on mirror (pgdual does not create, drop or redefine materialized views)\n");
}

TEST_CASE("The summary never says plainly identical when something was not compared", "[unit][conflict][verify]") {
  const auto report = report_of_one_identical_table();
  ObjectsReport objects;
  CHECK(render_summary(report, objects) ==
        "1 table: 1 identical, 0 differ; 0 sequences: 0 identical, 0 differ\nverify: identical\n");
  objects.not_compared.push_back({.name = kCache, .on_primary = Uncomparable::unlogged_table,
                                  .on_mirror = Uncomparable::unlogged_table});
  CHECK(render_summary(report, objects) ==
        "1 table: 1 identical, 0 differ; 0 sequences: 0 identical, 0 differ; 1 object not compared\n"
        "verify: identical except 1 object not compared\n");
  objects.large_objects = LargeObjectVerdict{};
  objects.large_objects->add(2, 1, {.missing_on_mirror = {7}, .extra_on_mirror = {}, .differing = {},
                                    .unreadable = {}});
  CHECK(render_summary(report, objects) ==
        "1 table: 1 identical, 0 differ; 0 sequences: 0 identical, 0 differ; 2 large objects: 1 identical, 1 differs; "
        "1 object not compared\nverify: differences found\n");
}
