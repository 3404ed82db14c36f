#include "conflict/compare.h"

#include <optional>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/conflict/answers.h"

using namespace pgdual::conflict;
using pgdual::conflict::test::Answer;

namespace {

struct Case {
  const char* scenario;
  Answer primary;
  Answer mirror;
  std::optional<ConflictKind> expected;
};

Answer inserted(int rows) { return Answer{}.complete("INSERT 0 " + std::to_string(rows)).ready('I'); }

Answer failed(const char* sqlstate, const char* message = "an error") {
  return Answer{}.error(sqlstate, message).ready('I');
}

Answer transaction(std::initializer_list<const char*> tags, char final_status = 'I') {
  Answer answer;
  answer.complete("BEGIN").ready('T');
  for (const auto* tag : tags) answer.complete(tag).ready('T');
  return answer.complete("COMMIT").ready(final_status);
}

}  // namespace

TEST_CASE("compare names the first way two answers to one write unit differ", "[unit][conflict]") {
  using enum ConflictKind;
  const auto row = GENERATE(values<Case>({
      {"both inserted one row", inserted(1), inserted(1), std::nullopt},
      {"both created the same table", Answer{}.complete("CREATE TABLE").ready('I'),
       Answer{}.complete("CREATE TABLE").ready('I'), std::nullopt},
      {"the primary inserted a row the mirror skipped (ON CONFLICT DO NOTHING)", inserted(1), inserted(0),
       row_count},
      {"an UPDATE matched more rows on the mirror", Answer{}.complete("UPDATE 1").ready('I'),
       Answer{}.complete("UPDATE 3").ready('I'), row_count},
      {"the mirror hit a unique violation the primary did not", inserted(1), failed("23505"), mirror_error},
      {"the primary failed a check constraint the mirror let through", failed("23514"), inserted(1),
       error_primary_only},
      {"both hit the same unique violation", failed("23505"), failed("23505"), std::nullopt},
      {"the same SQLSTATE with different messages is agreement", failed("23505", "on patients_pkey"),
       failed("23505", "on patients_mrn_key"), std::nullopt},
      {"both failed, for different reasons", failed("23505"), failed("42P01"), different_errors},
      {"both failed the same way after counting differently (savepoint)",
       Answer{}.complete("INSERT 0 1").error("23505", "x").ready('E'),
       Answer{}.complete("INSERT 0 0").error("23505", "x").ready('E'), row_count},
      {"RETURNING gave the same ids", Answer{}.row({"41"}).complete("INSERT 0 1").ready('I'),
       Answer{}.row({"41"}).complete("INSERT 0 1").ready('I'), std::nullopt},
      {"RETURNING gave different ids (unpinned sequence)", Answer{}.row({"41"}).complete("INSERT 0 1").ready('I'),
       Answer{}.row({"97"}).complete("INSERT 0 1").ready('I'), returning_differs},
      {"the mirror stayed in a transaction the primary left", inserted(1),
       Answer{}.complete("INSERT 0 1").ready('T'), transaction_status_differs},
      {"the mirror's connection was refused", inserted(1), Answer{}.cut_off(Reachability::unreachable),
       mirror_unavailable},
      {"the mirror broke off after its tag", inserted(1),
       Answer{}.complete("INSERT 0 1").cut_off(Reachability::unreachable), mirror_unavailable},
      {"the mirror was too slow", inserted(1), Answer{}.cut_off(Reachability::timed_out), mirror_timeout},
      {"the primary's connection was lost, whatever the mirror did",
       Answer{}.cut_off(Reachability::unreachable), inserted(1), primary_unavailable},
      {"both lost", Answer{}.cut_off(Reachability::unreachable), Answer{}.cut_off(Reachability::timed_out),
       primary_unavailable},
      {"a transaction that agrees", transaction({"INSERT 0 2", "UPDATE 1"}),
       transaction({"INSERT 0 2", "UPDATE 1"}), std::nullopt},
      {"a transaction whose counts add up differently", transaction({"INSERT 0 2", "UPDATE 1"}),
       transaction({"INSERT 0 2", "UPDATE 0"}), row_count},
      {"the same total spread differently over two statements", transaction({"UPDATE 1", "UPDATE 0"}),
       transaction({"UPDATE 0", "UPDATE 1"}), unclassified},
      {"the mirror's COMMIT answered ROLLBACK", Answer{}.complete("COMMIT").ready('I'),
       Answer{}.complete("ROLLBACK").ready('I'), unclassified},
      {"the mirror completed fewer commands", transaction({"INSERT 0 1", "INSERT 0 1"}),
       transaction({"INSERT 0 1"}), unclassified},
  }));
  CAPTURE(row.scenario);
  CHECK(compare(row.primary.outcome(), row.mirror.outcome()) == row.expected);
}

TEST_CASE("Every conflict kind has a distinct snake_case name that reads back", "[unit][conflict]") {
  std::set<std::string_view> names;
  for (const auto kind : kAllConflictKinds) {
    const auto name = to_string(kind);
    CAPTURE(name);
    CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos);
    CHECK(conflict_kind_from_string(name) == kind);
    names.insert(name);
  }
  CHECK(names.size() == kAllConflictKinds.size());
  CHECK(to_string(ConflictKind::mirror_error) == "mirror_error");
  CHECK_FALSE(conflict_kind_from_string("mirror_errors"));
}

TEST_CASE("A shadow read's mismatch is the last disagreement, named read_mismatch", "[unit][conflict]") {
  CHECK(kAllConflictKinds[kAllConflictKinds.size() - 2] == ConflictKind::read_mismatch);
  CHECK(to_string(ConflictKind::read_mismatch) == "read_mismatch");
  CHECK(conflict_kind_from_string("read_mismatch") == ConflictKind::read_mismatch);
  // compare() judges write units; a read's mismatch is the shadow reader's verdict, never compare()'s.
  const auto primary = Answer{}.row({"1"}).complete("SELECT 1").ready('I').outcome();
  const auto mirror = Answer{}.row({"2"}).complete("SELECT 1").ready('I').outcome();
  CHECK(compare(primary, mirror) == ConflictKind::returning_differs);
}

TEST_CASE("The cutover's audit record is the last kind, named cutover", "[unit][conflict]") {
  CHECK(kAllConflictKinds.back() == ConflictKind::cutover);
  CHECK(to_string(ConflictKind::cutover) == "cutover");
  CHECK(conflict_kind_from_string("cutover") == ConflictKind::cutover);
}
