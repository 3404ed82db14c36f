#include "conflict/large_objects.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace pgdual::conflict;

namespace {

LargeObjectDigest object(Oid oid, std::optional<std::string> digest = "d") { return {.oid = oid, .digest = digest}; }

}  // namespace

TEST_CASE("Two listings of large objects are matched by OID, and their digests compared", "[unit][conflict][verify]") {
  const std::vector primary{object(1), object(2, "a"), object(3), object(5, std::nullopt), object(7)};
  const std::vector mirror{object(2, "b"), object(3), object(4), object(5), object(8)};
  const auto differences = compare_large_objects(primary, mirror);
  CHECK(differences.missing_on_mirror == std::vector<Oid>{1, 7});
  CHECK(differences.extra_on_mirror == std::vector<Oid>{4, 8});
  CHECK(differences.differing == std::vector<Oid>{2});
  CHECK(differences.unreadable == std::vector<Oid>{5});
  CHECK(compare_large_objects(primary, primary).unreadable == std::vector<Oid>{5});
  CHECK(compare_large_objects({}, {}).empty());
}

TEST_CASE("A large object verdict counts every object and lists OIDs, never contents", "[unit][conflict][verify]") {
  LargeObjectVerdict verdict;
  CHECK(render_large_objects(verdict).empty());  // none on either side: nothing to say
  verdict.add(3, 2, {.missing_on_mirror = {70001}, .extra_on_mirror = {}, .differing = {}, .unreadable = {}});
  verdict.add(2, 3, {.missing_on_mirror = {}, .extra_on_mirror = {70009}, .differing = {70004}, .unreadable = {}});
  CHECK_FALSE(verdict.identical());
  CHECK(verdict.total() == 6);
  CHECK(verdict.identical_count() == 3);
  CHECK(render_large_objects(verdict) ==
        "large objects: differs, 5 objects, compared by OID and content digest\n"
        "  missing on mirror: 1 large object\n    70001\n"
        "  extra on mirror: 1 large object\n    70009\n"
        "  differing contents: 1 large object\n    70004\n");

  LargeObjectVerdict same;
  same.add(4, 4, {});
  CHECK(same.identical());
  CHECK(render_large_objects(same) == "large objects: identical, 4 objects, compared by OID and content digest\n");

  LargeObjectVerdict failed;
  failed.error = "backend \"cloud\": permission denied";
  CHECK(render_large_objects(failed) ==
        "large objects: differs\n  not compared: backend \"cloud\": permission denied\n");
}

TEST_CASE("An OID list keeps the first 1000 OIDs and counts the rest", "[unit][conflict][verify]") {
  std::vector<Oid> oids(1500);
  for (Oid i = 0; i < oids.size(); ++i) oids[i] = i + 1;
  OidList list;
  list.add(oids);
  CHECK(list.count() == 1500);
  CHECK(list.listed().size() == kMaxListedKeys);
  LargeObjectVerdict verdict;
  verdict.add(1500, 0, {.missing_on_mirror = oids, .extra_on_mirror = {}, .differing = {}, .unreadable = {}});
  CHECK(render_large_objects(verdict).ends_with("    1000\n    ... and 500 more\n"));
}

TEST_CASE("The large object plan says what is copied, overwritten, deleted, or left to the operator", "[unit][conflict][verify]") {
  LargeObjectPlan plan;
  CHECK(plan.empty());
  const std::vector<Oid> missing{70001, 70002};
  const std::vector<Oid> one{70004};
  const std::vector<Oid> extra{70009};
  plan.copy.add(missing);
  plan.overwrite.add(one);
  plan.remove.add(extra);
  CHECK_FALSE(plan.needs_operator());
  CHECK(render_large_object_plan(plan, false) == "large objects: copy 2, overwrite 1, delete 1\n"
                                                 "  copy (missing on mirror): 2 large objects\n    70001\n    70002\n"
                                                 "  overwrite (differing): 1 large object\n    70004\n"
                                                 "  delete (extra on mirror): 1 large object\n    70009\n");
  CHECK(render_large_object_plan(plan, true).starts_with("large objects: copied 2, overwrote 1, deleted 1\n"
                                                         "  copied (were missing on mirror): 2 large objects\n"));
  LargeObjectPlan unreadable;
  unreadable.unreadable.add(one);
  CHECK(unreadable.needs_operator());
  CHECK(render_large_object_plan(unreadable, true) ==
        "large objects: nothing pgdual can change\n"
        "  by hand: 1 large object (no SELECT on it: grant it, or reconcile as their owner)\n    70004\n");
}

TEST_CASE("The large object queries read slices with qualified names and bound OIDs", "[unit][conflict][verify]") {
  const auto digests = large_object_digests_query();
  CHECK(digests.find("pg_catalog.lo_get(m.oid, 0, 1048576)") != std::string::npos);
  CHECK(digests.find("m.oid > $1::pg_catalog.oid AND m.oid <= $2::pg_catalog.oid ORDER BY m.oid") !=
        std::string::npos);
  CHECK(large_object_chunk_end_query().ends_with("ORDER BY m.oid OFFSET 499 LIMIT 1"));
  for (const auto statement : {create_large_object(), truncate_large_object(), read_large_object_slice(),
                               write_large_object_slice(), unlink_large_object()}) {
    CHECK(statement.starts_with("SELECT pg_catalog.lo_"));
  }
}

TEST_CASE("A table with an oid or lo column may hold large objects' OIDs", "[unit][conflict][verify]") {
  TableSchema documents{.table = {.schema = "public", .name = "documents"},
                        .columns = {{.name = "id", .type = "integer", .not_null = true, .default_text = {},
                                     .collation = {}}},
                        .primary_key = {"id"}, .constraints = {}, .indexes = {}};
  CHECK_FALSE(may_reference_large_objects(documents));
  for (const auto* type : {"oid", "lo", "public.lo"}) {
    auto with_body = documents;
    with_body.columns.push_back({.name = "body", .type = type, .not_null = false, .default_text = {}, .collation = {}});
    CHECK(may_reference_large_objects(with_body));
  }
}
