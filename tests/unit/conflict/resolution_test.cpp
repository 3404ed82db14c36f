#include "conflict/resolution.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace pgdual::conflict;

namespace {

ConflictRecord conflict_on(std::string id, std::vector<std::string> tables, std::string time = "2024-05-01T12:00:00Z") {
  ConflictRecord record;
  record.id = std::move(id);
  record.time = std::move(time);
  record.session.database = "ehr";
  record.tables = std::move(tables);
  record.kind = ConflictKind::mirror_error;
  return record;
}

const TableName kPatients{"public", "patients"};
const TableName kVisits{"public", "visits"};
const TableName kArchivedPatients{"archive", "patients"};

VerifiedScope scope_with(std::vector<TableName> identical) {
  return {.database = "ehr",
          .compared = {kArchivedPatients, kPatients, kVisits},
          .identical = std::move(identical),
          .verified_from = *parse_rfc3339("2024-05-02T00:00:00Z")};
}

}  // namespace

TEST_CASE("A conflict's table names refer to the compared tables as the statement wrote them") {
  const std::vector<TableName> compared{kArchivedPatients, kPatients, kVisits};
  CHECK(referred_tables("public.patients", compared) == std::vector{kPatients});
  CHECK(referred_tables("ehr.public.patients", compared) == std::vector{kPatients});
  CHECK(referred_tables("patients", compared) == std::vector{kArchivedPatients, kPatients});
  CHECK(referred_tables("visits", compared) == std::vector{kVisits});
  CHECK(referred_tables("billing.patients", compared).empty());
  CHECK(referred_tables("invoices", compared).empty());
  CHECK(referred_tables("a.b.c.d", compared).empty());
}

TEST_CASE("A verification settles a conflict only when every table it wrote is identical") {
  const auto written = conflict_on("c1", {"public.patients", "visits"});
  CHECK(settles(scope_with({kPatients, kVisits}), written));
  CHECK_FALSE(settles(scope_with({kPatients}), written));

  SECTION("an unqualified name needs every table of that name identical") {
    const auto unqualified = conflict_on("c2", {"patients"});
    CHECK_FALSE(settles(scope_with({kPatients}), unqualified));
    CHECK(settles(scope_with({kPatients, kArchivedPatients}), unqualified));
  }
  SECTION("a table the verification did not compare keeps it open") {
    CHECK_FALSE(settles(scope_with({kPatients, kVisits}), conflict_on("c3", {"public.patients", "invoices"})));
  }
  SECTION("a conflict naming no table is not settled by any") {
    CHECK_FALSE(settles(scope_with({kPatients, kVisits}), conflict_on("c4", {})));
  }
  SECTION("another database's conflict, or one whose database was not recorded, stays open") {
    auto elsewhere = written;
    elsewhere.session.database = "billing";
    CHECK_FALSE(settles(scope_with({kPatients, kVisits}), elsewhere));
    elsewhere.session.database = "";
    CHECK_FALSE(settles(scope_with({kPatients, kVisits}), elsewhere));
  }
  SECTION("a conflict detected after the verification started may be a write it did not see") {
    const auto later = conflict_on("c5", {"public.patients"}, "2024-05-02T00:00:00.000001Z");
    CHECK_FALSE(settles(scope_with({kPatients}), later));
    CHECK_FALSE(settles(scope_with({kPatients}), conflict_on("c6", {"public.patients"}, "not a time")));
  }
}

TEST_CASE("Resolutions copy the latest open record of each settled conflict, oldest first") {
  OpenConflicts open;
  open.add(conflict_on("b-late", {"public.patients"}, "2024-05-01T13:00:00Z"));
  open.add(conflict_on("a-early", {"public.visits"}, "2024-05-01T11:00:00Z"));
  open.add(conflict_on("c-done", {"public.visits"}));
  auto done = conflict_on("c-done", {"public.visits"});
  done.resolution = Resolution::resolved;
  open.add(done);
  open.add(conflict_on("d-open", {"invoices"}));
  CHECK(open.records().size() == 3);

  const auto records = resolutions(open, scope_with({kPatients, kVisits}), "2024-05-03T09:00:00Z");
  REQUIRE(records.size() == 2);
  CHECK(records[0].id == "a-early");
  CHECK(records[1].id == "b-late");
  for (const auto& record : records) {
    CHECK(record.resolution == Resolution::resolved);
    CHECK(record.time == "2024-05-03T09:00:00Z");
    CHECK(record.session.database == "ehr");
    CHECK(record.resolved_by == "pgdual reconcile");
  }
  CHECK(records[1].tables == std::vector<std::string>{"public.patients"});
  CHECK(records[1].resolution_note == "verified identical on both backends: public.patients");
}

TEST_CASE("Reconcile's note names each table it verified once, qualified") {
  OpenConflicts open;
  open.add(conflict_on("c1", {"patients", "public.visits", "ehr.public.patients"}));
  const auto records = resolutions(open, scope_with({kArchivedPatients, kPatients, kVisits}), "2024-05-03T09:00:00Z");
  REQUIRE(records.size() == 1);
  CHECK(records[0].resolution_note ==
        "verified identical on both backends: archive.patients, public.patients, public.visits");
}

namespace {

OpenConflicts log_of_four() {
  OpenConflicts open;
  open.add(conflict_on("seq", {}));
  open.add(conflict_on("lob", {}, "2024-05-01T11:00:00Z"));
  open.add(conflict_on("rows", {"public.patients", "visits"}));
  open.add(conflict_on("done", {}));
  auto done = conflict_on("done", {});
  done.resolution = Resolution::resolved;
  open.add(done);
  return open;
}

}  // namespace

TEST_CASE("An operator resolves the open conflicts they name, saying who and why") {
  const auto open = log_of_four();
  CHECK(open.resolved("done"));
  CHECK_FALSE(open.resolved("seq"));
  const OperatorResolution request{.ids = {"lob", "seq", "lob"}, .by = "dr.ops", .reason = "INC-7: set by hand"};
  const auto outcome = operator_resolutions(open, request, "2024-05-03T09:00:00Z");
  CHECK(outcome.refused.empty());
  REQUIRE(outcome.records.size() == 2);
  CHECK(outcome.records[0].id == "lob");
  CHECK(outcome.records[1].id == "seq");
  for (const auto& record : outcome.records) {
    CHECK(record.resolution == Resolution::resolved);
    CHECK(record.time == "2024-05-03T09:00:00Z");
    CHECK(record.resolved_by == "dr.ops");
    CHECK(record.resolution_note == "INC-7: set by hand");
    CHECK(record.tables.empty());
  }
}

TEST_CASE("An operator's resolution of a conflict naming tables says pgdual did not verify them") {
  const OperatorResolution request{.ids = {"rows"}, .by = "dr.ops", .reason = "rows copied by hand"};
  const auto outcome = operator_resolutions(log_of_four(), request, "2024-05-03T09:00:00Z");
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].resolution_note ==
        "by hand, tables not verified by pgdual (public.patients, visits): rows copied by hand");
}

TEST_CASE("An operator's resolution refuses unknown and resolved ids, naming each, and keeps the rest") {
  const OperatorResolution request{.ids = {"nope", "done", "seq"}, .by = "dr.ops", .reason = "checked"};
  const auto outcome = operator_resolutions(log_of_four(), request, "2024-05-03T09:00:00Z");
  CHECK(outcome.refused == std::vector<std::string>{"nope: no conflict with this id", "done: already resolved"});
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].id == "seq");
}

TEST_CASE("A conflict recorded again after its resolution is open again") {
  auto open = log_of_four();
  open.add(conflict_on("done", {}));
  CHECK_FALSE(open.resolved("done"));
  CHECK(open.records().contains("done"));
}
