#include "proxy/route/unit_planner.h"

#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/writer.h"
#include "protocol/sql/classifier.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

/// Client messages as they travel on the wire, with the frames that borrow
/// from them (hence not copyable).
class Messages {
 public:
  template <class... Message>
  explicit Messages(const Message&... messages) {
    protocol::Writer writer{wire_};
    (protocol::encode(messages, writer), ...);
    frames_ = protocol::split_frames(wire_);
  }
  Messages(const Messages&) = delete;
  Messages& operator=(const Messages&) = delete;

  [[nodiscard]] std::span<const protocol::Frame> frames() const noexcept { return frames_; }

 private:
  std::vector<std::byte> wire_;
  std::vector<protocol::Frame> frames_;
};

protocol::Parse parse(std::string_view statement, std::string_view query) {
  protocol::Parse message;
  message.statement_name = statement;
  message.query = query;
  return message;
}

protocol::Bind bind(std::string_view statement, std::string_view portal = "") {
  protocol::Bind message;
  message.portal_name = portal;
  message.statement_name = statement;
  return message;
}

protocol::Execute execute(std::string_view portal = "") { return protocol::Execute{portal, 0}; }

protocol::Describe describe_statement(std::string_view statement) {
  return protocol::Describe{protocol::ObjectKind::statement, statement};
}

protocol::Close close_statement(std::string_view statement) {
  return protocol::Close{protocol::ObjectKind::statement, statement};
}

std::string quoted(std::string_view name) { return '"' + std::string{name} + '"'; }

/// One line per message, for comparing what the mirror is sent.
struct MessageLine {
  std::string operator()(const protocol::Parse& message) const {
    return "Parse " + quoted(message.statement_name) + " " + std::string{message.query};
  }
  std::string operator()(const protocol::Bind& message) const {
    return "Bind " + quoted(message.portal_name) + " " + quoted(message.statement_name);
  }
  std::string operator()(const protocol::Execute& message) const { return "Execute " + quoted(message.portal_name); }
  std::string operator()(const protocol::Close& message) const {
    return "Close " + std::string(1, static_cast<char>(message.kind)) + " " + quoted(message.name);
  }
  std::string operator()(const protocol::Describe& message) const {
    return "Describe " + std::string(1, static_cast<char>(message.kind)) + " " + quoted(message.name);
  }
  std::string operator()(const protocol::Sync&) const { return "Sync"; }
  template <class Other>
  std::string operator()(const Other&) const {
    return "another message";
  }
};

std::vector<std::string> lines(protocol::Bytes wire) {
  std::vector<std::string> result;
  for (const auto& frame : protocol::split_frames(wire)) {
    const auto message = protocol::decode_frontend_message(frame);
    REQUIRE(message);
    result.push_back(std::visit(MessageLine{}, *message));
  }
  return result;
}

std::string describe(const UnitPlan& plan) {
  std::string text{to_string(plan.mirror)};
  if (plan.writes) text += " writes";
  if (plan.unclassified) text += " unclassified";
  return text;
}

/// A planner with a real classifier, fed units as the session feeds them.
struct Planner {
  sql::Classifier classifier;
  UnitPlanner planner{classifier};

  /// Observes `unit` from the start of a new unit.
  const UnitSummary& observe(const Messages& unit) {
    planner.start_unit();
    for (const auto& frame : unit.frames()) planner.observe(frame);
    return planner.summary();
  }

  std::string plan(const Messages& unit, TransactionStatus status = TransactionStatus::idle) {
    observe(unit);
    return describe(planner.plan(status));
  }

  /// Observes `unit` and returns the mirror's copy of it.
  std::vector<std::string> mirror_copy(const Messages& unit) {
    observe(unit);
    std::vector<std::byte> copy;
    planner.copy_for_mirror(unit.frames(), copy);
    return lines(copy);
  }

  /// Observes `unit`, which the primary alone receives.
  void primary_only(const Messages& unit) {
    observe(unit);
    planner.sent_to_primary_only(unit.frames());
  }
};

struct RoutingRow {
  std::string_view sql;
  std::string_view outside_transaction;
  std::string_view inside_transaction;
};

const auto kRoutingRows = std::vector<RoutingRow>{
    {"SELECT * FROM patients WHERE id = 1", "none", "none"},
    {"INSERT INTO patients (id) VALUES (1)", "wrapped writes", "parallel writes"},
    {"UPDATE patients SET name = 'x' WHERE id = 1", "wrapped writes", "parallel writes"},
    {"DELETE FROM patients WHERE id = 1", "wrapped writes", "parallel writes"},
    {"COPY patients FROM STDIN", "wrapped writes", "parallel writes"},
    {"BEGIN", "parallel", "parallel"},
    {"SAVEPOINT before_update", "parallel", "parallel"},
    {"ROLLBACK", "parallel", "parallel"},
    {"COMMIT", "after_primary", "after_primary"},
    {"SET search_path TO app", "parallel", "parallel"},
    {"PREPARE find (int) AS SELECT * FROM patients WHERE id = $1", "parallel", "parallel"},
    {"DISCARD ALL", "parallel", "parallel"},
    {"LISTEN admissions", "none", "none"},
    {"SELEC * FROM patients", "none unclassified", "none unclassified"},
    {"BEGIN; INSERT INTO patients (id) VALUES (1); COMMIT", "parallel writes", "parallel writes"},
    {"SELECT nextval('patient_ids')", "wrapped writes", "parallel writes"},
    {"SELECT * FROM patients WHERE id = 1 FOR UPDATE", "wrapped writes", "parallel writes"},
    {"COPY patients TO STDOUT", "none", "none"},
    {"COPY (SELECT id FROM patients) TO STDOUT", "none", "none"},
};

}  // namespace

TEST_CASE("A simple Query is routed by what its statements do", "[unit][proxy]") {
  const auto row = GENERATE(from_range(kRoutingRows));
  CAPTURE(row.sql);
  Planner planner;
  const Messages unit{protocol::Query{row.sql}};
  CHECK(planner.plan(unit, TransactionStatus::idle) == row.outside_transaction);
  CHECK(planner.plan(unit, TransactionStatus::in_transaction) == row.inside_transaction);
}

TEST_CASE("A write in a failed transaction goes to both as it is", "[unit][proxy]") {
  Planner planner;
  const Messages unit{protocol::Query{"INSERT INTO patients (id) VALUES (1)"}};
  CHECK(planner.plan(unit, TransactionStatus::failed) == "parallel writes");
}

TEST_CASE("One statement parsed, bound and executed is routed as the same Query would be", "[unit][proxy]") {
  const auto row = GENERATE(from_range(kRoutingRows));
  // COPY sends its data after the Execute; several statements cannot be prepared.
  if (row.sql.starts_with("COPY") || row.sql.find(';') != std::string_view::npos) return;
  CAPTURE(row.sql);
  Planner planner;
  const Messages unit{parse("", row.sql), bind(""), execute(), protocol::Sync{}};
  CHECK(planner.plan(unit, TransactionStatus::idle) == row.outside_transaction);
  CHECK(planner.plan(unit, TransactionStatus::in_transaction) == row.inside_transaction);
}

TEST_CASE("Without an Execute a unit runs nothing and goes to the primary alone", "[unit][proxy]") {
  Planner planner;
  const Messages unit{parse("s1", "INSERT INTO patients (id) VALUES ($1)"), describe_statement("s1"),
                      protocol::Sync{}};
  CHECK(planner.plan(unit) == "none");
  CHECK_FALSE(planner.planner.summary().executes);
}

TEST_CASE("A named statement is routed by its text when a later unit executes it", "[unit][proxy]") {
  Planner planner;
  REQUIRE(planner.plan(Messages{parse("insert_patient", "INSERT INTO patients (id) VALUES ($1)"),
                                parse("find_patient", "SELECT * FROM patients WHERE id = $1"),
                                protocol::Sync{}}) == "none");

  CHECK(planner.plan(Messages{bind("insert_patient"), execute(), protocol::Sync{}}) == "wrapped writes");
  CHECK(planner.plan(Messages{bind("find_patient"), execute(), protocol::Sync{}}) == "none");
}

TEST_CASE("A portal is routed by the statement it was bound to", "[unit][proxy]") {
  Planner planner;
  REQUIRE(planner.plan(Messages{parse("s1", "UPDATE patients SET name = $1"), bind("s1", "p1"),
                                parse("s2", "SELECT * FROM patients"), bind("s2", "p2"), protocol::Sync{}},
                       TransactionStatus::in_transaction) == "none");

  CHECK(planner.plan(Messages{execute("p1"), protocol::Sync{}}, TransactionStatus::in_transaction) ==
        "parallel writes");
  CHECK(planner.plan(Messages{execute("p2"), protocol::Sync{}}, TransactionStatus::in_transaction) == "none");

  SECTION("and by the new one once the portal name is bound again") {
    CHECK(planner.plan(Messages{bind("s2", "p1"), execute("p1"), protocol::Sync{}},
                       TransactionStatus::in_transaction) == "none");
  }
}

TEST_CASE("Executing a portal the planner cannot trace back to a statement counts as a write", "[unit][proxy]") {
  Planner planner;

  SECTION("a portal never bound") {
    CHECK(planner.plan(Messages{execute("nowhere"), protocol::Sync{}}) == "wrapped writes");
  }
  SECTION("a portal bound to a statement never parsed") {
    CHECK(planner.plan(Messages{bind("unknown", "p1"), execute("p1"), protocol::Sync{}}) == "wrapped writes");
  }
  SECTION("a portal that was closed") {
    CHECK(planner.plan(Messages{parse("s1", "SELECT 1"), bind("s1", "p1"),
                                protocol::Close{protocol::ObjectKind::portal, "p1"}, execute("p1"),
                                protocol::Sync{}}) == "wrapped writes");
  }
  SECTION("a statement that was closed") {
    REQUIRE(planner.plan(Messages{parse("s1", "SELECT 1"), close_statement("s1"), protocol::Sync{}}) == "none");
    CHECK(planner.plan(Messages{bind("s1"), execute(), protocol::Sync{}}) == "wrapped writes");
  }
  CHECK(planner.planner.summary().kind == sql::StatementKind::write);
}

TEST_CASE("A FunctionCall is an autocommit write with no statement to name", "[unit][proxy]") {
  Planner planner;
  const auto& summary = planner.observe(Messages{protocol::FunctionCall{}});
  CHECK(describe(planner.planner.plan(TransactionStatus::idle)) == "wrapped writes");
  CHECK(summary.executes);
  CHECK(summary.kind == sql::StatementKind::write);
  CHECK(summary.representative == nullptr);
  CHECK_FALSE(summary.writes_large_objects);
}

TEST_CASE("A fast-path call of lowrite, as JDBC's LargeObjectManager makes, writes large objects", "[unit][proxy]") {
  Planner planner;
  protocol::FunctionCall lowrite;
  lowrite.function_oid = 955;
  CHECK(planner.observe(Messages{lowrite}).writes_large_objects);
  planner.planner.start_unit();
  protocol::FunctionCall loread;
  loread.function_oid = 954;
  CHECK_FALSE(planner.observe(Messages{loread}).writes_large_objects);
}

TEST_CASE("A driver's BEGIN sent with the first write of its transaction runs on both in parallel",
          "[unit][proxy]") {
  Planner planner;
  const Messages unit{parse("", "BEGIN"),
                      bind(""),
                      execute(),
                      parse("", "INSERT INTO patients (id) VALUES ($1)"),
                      bind(""),
                      execute(),
                      protocol::Sync{}};
  CHECK(planner.plan(unit) == "parallel writes");

  const auto& summary = planner.planner.summary();
  CHECK(summary.kind == sql::StatementKind::write);
  CHECK(summary.transaction_control);
  CHECK_FALSE(summary.commits);
  REQUIRE(summary.representative != nullptr);
  CHECK(summary.representative->kind == sql::StatementKind::write);
  CHECK(summary.representative->tables == std::vector<std::string>{"patients"});
}

TEST_CASE("A unit that is one COMMIT commits, whichever protocol carries it", "[unit][proxy]") {
  Planner planner;

  SECTION("simple") {
    planner.observe(Messages{protocol::Query{"COMMIT"}});
  }
  SECTION("extended") {
    planner.observe(Messages{parse("", "COMMIT"), bind(""), execute(), protocol::Sync{}});
  }
  const auto& summary = planner.planner.summary();
  CHECK(summary.commits);
  CHECK(summary.transaction_control);
  CHECK(summary.kind == sql::StatementKind::transaction_control);
  REQUIRE(summary.representative != nullptr);
  CHECK(summary.representative->transaction == sql::TransactionControl::commit);
  CHECK(describe(planner.planner.plan(TransactionStatus::in_transaction)) == "after_primary");
}

TEST_CASE("A COMMIT among other statements is no unit that commits", "[unit][proxy]") {
  Planner planner;

  SECTION("after it in the same batch") {
    planner.observe(Messages{parse("", "COMMIT"), bind(""), execute(), parse("", "SELECT 1"), bind(""), execute(),
                             protocol::Sync{}});
  }
  SECTION("before it in the same batch") {
    planner.observe(Messages{parse("", "SELECT 1"), bind(""), execute(), parse("", "COMMIT"), bind(""), execute(),
                             protocol::Sync{}});
  }
  SECTION("in the same Query") {
    planner.observe(Messages{protocol::Query{"INSERT INTO patients (id) VALUES (1); COMMIT"}});
  }
  SECTION("after an unknown portal") {
    planner.observe(Messages{execute("nowhere"), parse("", "COMMIT"), bind(""), execute(), protocol::Sync{}});
  }
  CHECK_FALSE(planner.planner.summary().commits);
  CHECK(planner.planner.summary().transaction_control);
  CHECK(planner.planner.plan(TransactionStatus::in_transaction).mirror == MirrorMode::parallel);
}

TEST_CASE("The representative is the first statement that changes something, else the first one",
          "[unit][proxy]") {
  Planner planner;
  const auto representative_tables = [&](const Messages& unit) {
    const auto& summary = planner.observe(unit);
    REQUIRE(summary.representative != nullptr);
    return summary.representative->tables;
  };

  CHECK(representative_tables(Messages{parse("", "SELECT * FROM wards"), bind(""), execute(),
                                       parse("", "UPDATE beds SET free = false"), bind(""), execute(),
                                       parse("", "DELETE FROM rooms"), bind(""), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{"beds"});
  CHECK(representative_tables(Messages{parse("", "SELECT * FROM wards"), bind(""), execute(),
                                       parse("", "SELECT * FROM beds"), bind(""), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{"wards"});
  CHECK(representative_tables(Messages{parse("", "BEGIN"), bind(""), execute(),
                                       parse("", "CREATE TEMP TABLE scratch (id int)"), bind(""), execute(),
                                       protocol::Sync{}}) == std::vector<std::string>{"scratch"});
}

TEST_CASE("start_unit forgets the summary but not the statements", "[unit][proxy]") {
  Planner planner;
  planner.observe(Messages{parse("s1", "INSERT INTO patients (id) VALUES ($1)"), bind("s1"), execute(),
                           protocol::Sync{}});
  REQUIRE(planner.planner.summary().executes);

  planner.planner.start_unit();
  const auto& summary = planner.planner.summary();
  CHECK_FALSE(summary.executes);
  CHECK(summary.kind == sql::StatementKind::read);
  CHECK_FALSE(summary.transaction_control);
  CHECK(summary.representative == nullptr);
  CHECK(describe(planner.planner.plan(TransactionStatus::idle)) == "none");
  CHECK(planner.plan(Messages{bind("s1"), execute(), protocol::Sync{}}) == "wrapped writes");
}

TEST_CASE("The mirror is given a statement the primary alone prepared just before its first Bind",
          "[unit][proxy]") {
  Planner planner;
  const Messages prepare{parse("s1", "INSERT INTO patients (id) VALUES ($1)"), describe_statement("s1"),
                         protocol::Sync{}};
  const Messages run{bind("s1"), execute(), protocol::Sync{}};
  const std::vector<std::string> run_alone{R"(Bind "" "s1")", R"(Execute "")", "Sync"};
  const std::vector<std::string> run_after_prepare{R"(Parse "s1" INSERT INTO patients (id) VALUES ($1))",
                                                   R"(Bind "" "s1")", R"(Execute "")", "Sync"};
  planner.primary_only(prepare);

  CHECK(planner.mirror_copy(run) == run_after_prepare);
  CHECK(planner.mirror_copy(run) == run_alone);

  SECTION("again on a new mirror connection") {
    planner.planner.forget_mirror_statements();
    CHECK(planner.mirror_copy(run) == run_after_prepare);
    CHECK(planner.mirror_copy(run) == run_alone);
  }
  SECTION("again once the primary alone prepared it anew") {
    planner.primary_only(Messages{parse("s1", "DELETE FROM patients WHERE id = $1"), protocol::Sync{}});
    CHECK(planner.mirror_copy(run) == std::vector<std::string>{R"(Close S "s1")",
                                                               R"(Parse "s1" DELETE FROM patients WHERE id = $1)",
                                                               R"(Bind "" "s1")", R"(Execute "")", "Sync"});
  }
}

TEST_CASE("The Parse given to the mirror is the client's message, byte for byte", "[unit][proxy]") {
  Planner planner;
  const std::vector<std::byte> type_oids{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{23}};
  auto typed = parse("s1", "INSERT INTO patients (id) VALUES ($1)");
  typed.parameter_type_oids = protocol::Int32Array{type_oids};
  const Messages prepare{typed, protocol::Sync{}};
  planner.primary_only(prepare);

  const Messages run{bind("s1"), execute(), protocol::Sync{}};
  planner.observe(run);
  std::vector<std::byte> copy;
  planner.planner.copy_for_mirror(run.frames(), copy);

  const auto frames = protocol::split_frames(copy);
  REQUIRE(frames.size() == 4);
  std::vector<std::byte> given;
  protocol::append_frame(frames[0], given);
  std::vector<std::byte> original;
  protocol::append_frame(prepare.frames().front(), original);
  CHECK(given == original);
}

TEST_CASE("A statement parsed in the mirror's copy is on the mirror", "[unit][proxy]") {
  Planner planner;
  const Messages prepare_and_run{parse("s1", "INSERT INTO patients (id) VALUES ($1)"), bind("s1"), execute(),
                                 protocol::Sync{}};
  CHECK(planner.mirror_copy(prepare_and_run) ==
        std::vector<std::string>{R"(Parse "s1" INSERT INTO patients (id) VALUES ($1))", R"(Bind "" "s1")",
                                 R"(Execute "")", "Sync"});
  CHECK(planner.mirror_copy(Messages{bind("s1"), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{R"(Bind "" "s1")", R"(Execute "")", "Sync"});
}

TEST_CASE("The unnamed statement is given to the mirror like a named one", "[unit][proxy]") {
  Planner planner;
  planner.primary_only(
      Messages{parse("", "INSERT INTO patients (id) VALUES ($1)"), describe_statement(""), protocol::Sync{}});
  const Messages run{bind(""), execute(), protocol::Sync{}};

  CHECK(planner.mirror_copy(run) == std::vector<std::string>{R"(Parse "" INSERT INTO patients (id) VALUES ($1))",
                                                             R"(Bind "" "")", R"(Execute "")", "Sync"});
  CHECK(planner.mirror_copy(run) == std::vector<std::string>{R"(Bind "" "")", R"(Execute "")", "Sync"});
}

TEST_CASE("A statement closed on the primary alone is closed on the mirror before it is prepared anew",
          "[unit][proxy]") {
  Planner planner;
  CHECK(planner.mirror_copy(Messages{parse("s1", "INSERT INTO patients (id) VALUES ($1)"), bind("s1"), execute(),
                                     protocol::Sync{}})
            .size() == 4);
  planner.primary_only(Messages{close_statement("s1"), protocol::Sync{}});
  CHECK(planner.mirror_copy(Messages{parse("s1", "UPDATE patients SET id = $1"), bind("s1"), execute(),
                                     protocol::Sync{}}) ==
        std::vector<std::string>{R"(Close S "s1")", R"(Parse "s1" UPDATE patients SET id = $1)", R"(Bind "" "s1")",
                                 R"(Execute "")", "Sync"});
}

TEST_CASE("The mirror runs the version of a statement each Bind referred to", "[unit][proxy]") {
  Planner planner;
  planner.primary_only(Messages{parse("s1", "INSERT INTO a VALUES ($1)"), protocol::Sync{}});
  CHECK(planner.mirror_copy(Messages{bind("s1"), execute(), close_statement("s1"), parse("s1", "DELETE FROM b"),
                                     bind("s1"), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{R"(Parse "s1" INSERT INTO a VALUES ($1))", R"(Bind "" "s1")", R"(Execute "")",
                                 R"(Close S "s1")", R"(Parse "s1" DELETE FROM b)", R"(Bind "" "s1")",
                                 R"(Execute "")", "Sync"});
}

TEST_CASE("A Describe of a statement the mirror lacks comes after its Parse", "[unit][proxy]") {
  Planner planner;
  planner.primary_only(Messages{parse("s1", "INSERT INTO a VALUES ($1)"), protocol::Sync{}});
  CHECK(planner.mirror_copy(Messages{describe_statement("s1"), bind("s1"), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{R"(Parse "s1" INSERT INTO a VALUES ($1))", R"(Describe S "s1")",
                                 R"(Bind "" "s1")", R"(Execute "")", "Sync"});
}

TEST_CASE("A Bind of a statement the planner never saw is copied as it is", "[unit][proxy]") {
  Planner planner;
  CHECK(planner.mirror_copy(Messages{bind("unknown"), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{R"(Bind "" "unknown")", R"(Execute "")", "Sync"});
}

TEST_CASE("A statement whose unit failed on the mirror is closed and prepared again at its next use",
          "[unit][proxy]") {
  Planner planner;
  const Messages prepare_and_run{parse("s1", "INSERT INTO patients (id) VALUES ($1)"), bind("s1"), execute(),
                                 protocol::Sync{}};
  CHECK(planner.mirror_copy(prepare_and_run).size() == 4);
  const auto given = planner.planner.take_given_to_mirror();
  CHECK(given == std::vector<std::string>{"s1"});
  // The mirror answered the unit with an error (its table was missing): its Parse may have failed.
  planner.planner.mirror_may_lack(given);

  CHECK(planner.mirror_copy(Messages{bind("s1"), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{R"(Close S "s1")", R"(Parse "s1" INSERT INTO patients (id) VALUES ($1))",
                                 R"(Bind "" "s1")", R"(Execute "")", "Sync"});
  CHECK(planner.planner.take_given_to_mirror() == std::vector<std::string>{"s1"});
  CHECK(planner.mirror_copy(Messages{bind("s1"), execute(), protocol::Sync{}}) ==
        std::vector<std::string>{R"(Bind "" "s1")", R"(Execute "")", "Sync"});
  CHECK(planner.planner.take_given_to_mirror().empty());
}

}  // namespace pgdual::proxy
