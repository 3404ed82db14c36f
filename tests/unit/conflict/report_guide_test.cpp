#include "conflict/report_guide.h"

#include <algorithm>
#include <set>
#include <string>

#include <catch2/catch.hpp>

using namespace pgdual::conflict;

namespace {

ReportGroup open_group(ConflictKind kind, std::string table = "public.patients") {
  ReportGroup group;
  group.table = std::move(table);
  group.kind = kind;
  group.count = 2;
  group.open_count = 1;
  group.databases.shown = {{"ehr", 2}};
  return group;
}

}  // namespace

TEST_CASE("Every kind has a meaning and a next step naming its table and database", "[unit][conflict]") {
  std::set<std::string_view> meanings;
  for (const auto kind : kAllConflictKinds) {
    INFO(to_string(kind));
    const auto meaning = kind_meaning(kind);
    CHECK_FALSE(meaning.empty());
    CHECK(meanings.insert(meaning).second);
    if (kind == ConflictKind::cutover) continue;  // an audit record: cutover_step below
    const auto step = step_text(next_step(open_group(kind)));
    CHECK(step.find("pgdual verify --config FILE --database ehr --table public.patients") != std::string::npos);
    CHECK(step.find("pgdual reconcile --config FILE --database ehr --table public.patients --apply") !=
          std::string::npos);
    CHECK(step.ends_with("."));
  }
}

TEST_CASE("The cutover's audit records need nothing done", "[unit][conflict]") {
  CHECK(step_text(next_step(open_group(ConflictKind::cutover))) == "Nothing to do: an audit record of the cutover.");
}

TEST_CASE("A next step marks the commands to run apart from its words", "[unit][conflict]") {
  const auto step = next_step(open_group(ConflictKind::row_count));
  REQUIRE(step.size() == 5);
  CHECK(step[0] == StepPart{"The table's rows differ: run ", false});
  CHECK(step[1] == StepPart{"pgdual verify --config FILE --database ehr --table public.patients", true});
  CHECK(step[2] == StepPart{"; if it reports differences, ", false});
  CHECK(step[3] == StepPart{"pgdual reconcile --config FILE --database ehr --table public.patients --apply", true});
  CHECK(step[4] == StepPart{" repairs the mirror and resolves these conflicts.", false});
}

TEST_CASE("Next steps say what each kind needs first", "[unit][conflict]") {
  CHECK(step_text(next_step(open_group(ConflictKind::mirror_unavailable))).starts_with("Check that the mirror is up"));
  CHECK(step_text(next_step(open_group(ConflictKind::primary_unavailable))).find("pgdual.ledger") != std::string::npos);
  CHECK(step_text(next_step(open_group(ConflictKind::mirror_error))).find("SQLSTATE") != std::string::npos);
  CHECK(step_text(next_step(open_group(ConflictKind::nondeterministic))).starts_with("Expected in statement mode"));
  CHECK(step_text(next_step(open_group(ConflictKind::read_mismatch))).find("read_percent") != std::string::npos);
  CHECK(step_text(next_step(open_group(ConflictKind::row_count))) ==
        "The table's rows differ: run pgdual verify --config FILE --database ehr --table public.patients; if it "
        "reports differences, pgdual reconcile --config FILE --database ehr --table public.patients --apply repairs "
        "the mirror and resolves these conflicts.");
}

TEST_CASE("A next step leaves the database to fill in when the group has none or several", "[unit][conflict]") {
  auto several = open_group(ConflictKind::row_count);
  several.databases.shown = {{"ehr", 1}, {"billing", 1}};
  CHECK(step_text(next_step(several)).find("--database DB --table public.patients") != std::string::npos);
  auto capped = open_group(ConflictKind::row_count);
  capped.databases.others = 1;
  CHECK(step_text(next_step(capped)).find("--database DB ") != std::string::npos);
  auto unrecorded = open_group(ConflictKind::row_count);
  unrecorded.databases.shown = {{"", 2}};
  CHECK(step_text(next_step(unrecorded)).find("--database DB ") != std::string::npos);
}

TEST_CASE("A resolved group needs nothing, and one naming no table is resolved by id", "[unit][conflict]") {
  for (const auto kind : kAllConflictKinds) {
    auto group = open_group(kind);
    group.open_count = 0;
    CHECK(step_text(next_step(group)) == "Nothing to do: every conflict of this group is resolved.");
    const auto untabled = next_step(open_group(kind, std::string{kNoTable}));
    CHECK(std::count(untabled.begin(), untabled.end(),
                     StepPart{"pgdual conflicts resolve --config FILE --id ID --by NAME --reason TEXT", true}) == 1);
  }
}

TEST_CASE("Only open conflicts of kinds other than nondeterministic are serious", "[unit][conflict]") {
  for (const auto kind : kAllConflictKinds) {
    INFO(to_string(kind));
    auto group = open_group(kind);
    const auto open = group_severity(group);
    CHECK(open == (kind == ConflictKind::nondeterministic ? Severity::expected : Severity::serious));
    group.open_count = 0;
    CHECK(group_severity(group) == Severity::resolved);
  }
  CHECK_FALSE(is_harmless(Severity::serious));
  CHECK(is_harmless(Severity::expected));
  CHECK(is_harmless(Severity::resolved));
  CHECK(severity_label(Severity::serious) == "Serious");
  CHECK(severity_label(Severity::expected) == "Expected");
  CHECK(severity_label(Severity::resolved) == "Resolved");
}
