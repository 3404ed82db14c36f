#include "proxy/route/uncarried_writes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/frontend_messages.h"
#include "protocol/sql/classifier.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

using config::MirrorConfig;
using config::UncarriedWrites;
using protocol::TransactionStatus;

constexpr std::int32_t kLoOpen = 952;
constexpr std::int32_t kLoCreat = 957;
constexpr std::int32_t kLoRead = 954;
constexpr std::int32_t kInvWrite = 0x20000;
constexpr std::int32_t kInvRead = 0x40000;

const std::string kLargeObjectsRefused =
    "pgdual: large objects are not carried by the WAL mirror; the write was not run. Set mirror.large_objects = "
    "\"record\" to run it on the primary only and record it for repair, or mirror.mode = \"statement\"";

std::vector<std::byte> wire_of(const auto&... messages) {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  (protocol::encode(messages, out), ...);
  return wire;
}

protocol::Parse parse(std::string_view text, std::string_view name = "") {
  protocol::Parse message;
  message.statement_name = name;
  message.query = text;
  return message;
}

protocol::Bind bind(std::string_view statement = "") {
  protocol::Bind message;
  message.statement_name = statement;
  return message;
}

void put_int32(std::vector<std::byte>& out, std::int32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((value >> shift) & 0xff));
}

/// A fast-path call as libpq's PQfn sends it: each argument a binary int4. `storage` keeps the bytes.
protocol::FunctionCall fast_path(std::int32_t function, std::vector<std::int32_t> arguments,
                                 std::vector<std::byte>& formats, std::vector<std::byte>& values) {
  for (const auto argument : arguments) {
    formats.insert(formats.end(), {std::byte{0}, std::byte{1}});
    put_int32(values, 4);
    put_int32(values, argument);
  }
  protocol::FunctionCall call;
  call.function_oid = function;
  call.argument_formats = protocol::Int16Array{formats};
  call.arguments = protocol::ValueList{static_cast<std::uint16_t>(arguments.size()), values};
  return call;
}

MirrorConfig settings(UncarriedWrites large_objects, UncarriedWrites unlogged_tables) {
  MirrorConfig mirror;
  mirror.large_objects = large_objects;
  mirror.unlogged_tables = unlogged_tables;
  return mirror;
}

const MirrorConfig kRefuseBoth = settings(UncarriedWrites::refuse, UncarriedWrites::refuse);
const MirrorConfig kRecordBoth = settings(UncarriedWrites::record, UncarriedWrites::record);

/// The planner's view of one unit.
struct Unit {
  sql::Classifier classifier;
  UnitPlanner planner{classifier};
  std::vector<std::byte> segment;
  std::vector<protocol::Frame> frames;

  explicit Unit(std::vector<std::byte> wire) : segment{std::move(wire)}, frames{protocol::split_frames(segment)} {
    for (const auto& frame : frames) planner.observe(frame);
  }

  RefusalPlan plan(const MirrorConfig& mirror, TransactionStatus status = TransactionStatus::idle) {
    return plan_refusal(
        UncarriedFacts{.unit = planner.summary(), .frames = frames, .status = status, .mirror = mirror});
  }
};

/// One line per message: the tag and the names, or the text of a Query or Parse.
struct Line {
  std::string operator()(const protocol::Query& query) const { return "Query " + std::string{query.query}; }
  std::string operator()(const protocol::Parse& parse) const {
    return "Parse \"" + std::string{parse.statement_name} + "\" " + std::string{parse.query};
  }
  std::string operator()(const protocol::Bind& bind) const {
    return "Bind \"" + std::string{bind.portal_name} + "\" \"" + std::string{bind.statement_name} + "\"";
  }
  std::string operator()(const protocol::Execute& execute) const {
    return "Execute \"" + std::string{execute.portal_name} + "\"";
  }
  std::string operator()(const protocol::Close& close) const {
    return "Close " + std::string(1, static_cast<char>(close.kind)) + " \"" + std::string{close.name} + "\"";
  }
  std::string operator()(const protocol::Sync&) const { return "Sync"; }
  std::string operator()(const auto&) const { return "another message"; }
};

std::vector<std::string> lines(protocol::Bytes wire) {
  std::vector<std::string> result;
  for (const auto& frame : protocol::split_frames(wire)) {
    const auto message = protocol::decode_frontend_message(frame);
    REQUIRE(message);
    result.push_back(std::visit(Line{}, *message));
  }
  return result;
}

const std::string kRaiseLargeObjects = "DO $pgdual$BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', "
                                       "MESSAGE = '" + kLargeObjectsRefused + "'; END$pgdual$";

TEST_CASE("the refusal names the setting and says that nothing ran", "[unit][route]") {
  CHECK(refusal_message(Uncarried::large_objects) == kLargeObjectsRefused);
  CHECK(refusal_message(Uncarried::unlogged_tables) ==
        "pgdual: unlogged tables are not carried by the WAL mirror; the statement was not run. Set "
        "mirror.unlogged_tables = \"record\" to run it on the primary only and record it for repair, or "
        "mirror.mode = \"statement\"");
}

TEST_CASE("a Query that writes large objects is refused whole when the setting says refuse", "[unit][route]") {
  for (const char* text : {"SELECT lo_from_bytea(0, 'x')", "INSERT INTO t VALUES (1); SELECT lo_unlink(16384)",
                           "BEGIN; SELECT lo_creat(-1); COMMIT"}) {
    INFO(text);
    Unit unit{wire_of(protocol::Query{.query = text})};
    const auto plan = unit.plan(kRefuseBoth);
    REQUIRE(plan.form == RefusalForm::query_text);
    CHECK(plan.what == Uncarried::large_objects);
    const auto prefix = refuse_unit(plan, unit.segment, unit.frames);
    CHECK(prefix.empty());
    CHECK(prefix.answers == 0);
    CHECK(lines(unit.segment) == std::vector<std::string>{"Query " + kRaiseLargeObjects});
    CHECK(unit.frames.size() == 1);
  }
}

TEST_CASE("nothing is refused when the setting says record, in statement mode, or when nothing is uncarried",
          "[unit][route]") {
  Unit writes{wire_of(protocol::Query{.query = "SELECT lo_put(16384, 0, 'y')"})};
  CHECK(writes.plan(kRecordBoth).form == RefusalForm::none);
  CHECK(writes.plan(settings(UncarriedWrites::record, UncarriedWrites::refuse)).form == RefusalForm::none);
  auto statement_mode = kRefuseBoth;
  statement_mode.mode = config::MirrorMode::statement;
  CHECK(writes.plan(statement_mode).form == RefusalForm::none);
  Unit reads{wire_of(protocol::Query{.query = "SELECT lo_get(16384); CREATE TABLE t (a int)"})};
  CHECK(reads.plan(kRefuseBoth).form == RefusalForm::none);
}

TEST_CASE("a Query that makes a table unlogged is refused by mirror.unlogged_tables", "[unit][route]") {
  for (const char* text : {"CREATE UNLOGGED TABLE cache (k int)", "ALTER TABLE cache SET UNLOGGED",
                           "SELECT 1 AS k INTO UNLOGGED cache", "CREATE UNLOGGED TABLE cache AS SELECT 1 AS k"}) {
    INFO(text);
    Unit unit{wire_of(protocol::Query{.query = text})};
    const auto plan = unit.plan(kRefuseBoth);
    CHECK(plan.form == RefusalForm::query_text);
    CHECK(plan.what == Uncarried::unlogged_tables);
    CHECK(unit.plan(settings(UncarriedWrites::refuse, UncarriedWrites::record)).form == RefusalForm::none);
  }
}

TEST_CASE("a fast-path call that writes large objects becomes a Query that raises the refusal", "[unit][route]") {
  std::vector<std::byte> formats;
  std::vector<std::byte> values;
  Unit unit{wire_of(fast_path(kLoCreat, {kInvRead | kInvWrite}, formats, values))};
  const auto plan = unit.plan(kRefuseBoth, TransactionStatus::in_transaction);
  REQUIRE(plan.form == RefusalForm::function_call);
  CHECK(plan.what == Uncarried::large_objects);
  const auto prefix = refuse_unit(plan, unit.segment, unit.frames);
  CHECK(prefix.empty());
  CHECK(lines(unit.segment) == std::vector<std::string>{"Query " + kRaiseLargeObjects});
}

TEST_CASE("lo_open by fast path is refused when it opens for writing, not for reading", "[unit][route]") {
  std::vector<std::byte> formats;
  std::vector<std::byte> values;
  Unit writing{wire_of(fast_path(kLoOpen, {16384, kInvWrite}, formats, values))};
  CHECK(writing.plan(kRefuseBoth).form == RefusalForm::function_call);
  formats.clear();
  values.clear();
  Unit reading{wire_of(fast_path(kLoOpen, {16384, kInvRead}, formats, values))};
  CHECK(reading.plan(kRefuseBoth).form == RefusalForm::none);
  formats.clear();
  values.clear();
  Unit read{wire_of(fast_path(kLoRead, {0, 100}, formats, values))};
  CHECK(read.plan(kRefuseBoth).form == RefusalForm::none);
}

TEST_CASE("an extended-protocol unit is refused at the Execute of its first refused portal", "[unit][route]") {
  Unit unit{wire_of(parse("INSERT INTO t VALUES (1)"), bind(), protocol::Execute{},
                    parse("SELECT lo_from_bytea(0, $1)", "S_1"), bind("S_1"), protocol::Describe{},
                    protocol::Execute{}, protocol::Sync{})};
  const auto plan = unit.plan(kRefuseBoth, TransactionStatus::in_transaction);
  REQUIRE(plan.form == RefusalForm::messages);
  CHECK(plan.what == Uncarried::large_objects);
  CHECK(plan.execute == 1);
  const auto prefix = refuse_unit(plan, unit.segment, unit.frames);
  CHECK(prefix.answers == 4);
  CHECK(lines(prefix.statements) == std::vector<std::string>{"Close S \"pgdual_refusal\"",
                                                             "Close P \"pgdual_refusal\"",
                                                             "Parse \"pgdual_refusal\" " + kRaiseLargeObjects,
                                                             "Bind \"pgdual_refusal\" \"pgdual_refusal\""});
  CHECK(lines(unit.segment) == std::vector<std::string>{"Parse \"\" INSERT INTO t VALUES (1)", "Bind \"\" \"\"",
                                                        "Execute \"\"", "Parse \"S_1\" SELECT lo_from_bytea(0, $1)",
                                                        "Bind \"\" \"S_1\"", "another message",
                                                        "Execute \"pgdual_refusal\"", "Sync"});
  CHECK(unit.frames.size() == 8);
}

TEST_CASE("of two refused portals, the one executed first names the setting", "[unit][route]") {
  Unit unit{wire_of(parse("ALTER TABLE cache SET UNLOGGED"), bind(), protocol::Execute{},
                    parse("SELECT lo_unlink(16384)"), bind(), protocol::Execute{}, protocol::Sync{})};
  const auto both = unit.plan(kRefuseBoth);
  CHECK(both.form == RefusalForm::messages);
  CHECK(both.what == Uncarried::unlogged_tables);
  CHECK(both.execute == 0);
  const auto objects_only = unit.plan(settings(UncarriedWrites::refuse, UncarriedWrites::record));
  CHECK(objects_only.what == Uncarried::large_objects);
  CHECK(objects_only.execute == 1);
}

TEST_CASE("extended-protocol messages in a failed transaction are left to the server to refuse", "[unit][route]") {
  Unit unit{wire_of(parse("SELECT lo_creat(-1)"), bind(), protocol::Execute{}, protocol::Sync{})};
  CHECK(unit.plan(kRefuseBoth, TransactionStatus::failed).form == RefusalForm::none);
  Unit query{wire_of(protocol::Query{.query = "SELECT lo_creat(-1)"})};
  CHECK(query.plan(kRefuseBoth, TransactionStatus::failed).form == RefusalForm::query_text);
}

TEST_CASE("a unit the primary ran is noted with what the mirror lacks and the setting", "[unit][route]") {
  Unit objects{wire_of(protocol::Query{.query = "SELECT lo_from_bytea(0, 'x')"})};
  CHECK(uncarried_note(objects.planner.summary(), kRecordBoth) ==
        "a change of large objects, which the WAL stream does not carry; copy them to the mirror "
        "(mirror.large_objects = \"record\")");
  CHECK(uncarried_note(objects.planner.summary(), kRefuseBoth) ==
        "a change of large objects, which the WAL stream does not carry; copy them to the mirror "
        "(mirror.large_objects = \"refuse\", but its unit could not be refused before it ran)");
  Unit table{wire_of(protocol::Query{.query = "CREATE UNLOGGED TABLE cache (k int)"})};
  CHECK(uncarried_note(table.planner.summary(), kRecordBoth) ==
        "a table made unlogged, whose rows the WAL stream does not carry; they stay on the primary "
        "(mirror.unlogged_tables = \"record\")");
  Unit plain{wire_of(protocol::Query{.query = "INSERT INTO t VALUES (1)"})};
  CHECK(uncarried_note(plain.planner.summary(), kRecordBoth).empty());
}


TEST_CASE("where no write may run, a unit is refused at its first statement that may write", "[unit][route]") {
  Unit query{wire_of(protocol::Query{.query = "SELECT 1; CREATE TABLE t (a int)"})};
  CHECK(plan_write_refusal(query.planner.summary(), query.frames, TransactionStatus::idle).form ==
        RefusalForm::query_text);
  Unit extended{wire_of(parse("SELECT 1"), bind(), protocol::Execute{}, parse("UPDATE t SET a = 2"), bind(),
                        protocol::Execute{}, protocol::Sync{})};
  const auto plan = plan_write_refusal(extended.planner.summary(), extended.frames, TransactionStatus::idle);
  CHECK(plan.form == RefusalForm::messages);
  CHECK(plan.execute == 1);
  std::vector<std::byte> formats;
  std::vector<std::byte> values;
  Unit call{wire_of(fast_path(kLoRead, {0, 100}, formats, values))};
  CHECK(plan_write_refusal(call.planner.summary(), call.frames, TransactionStatus::idle).form ==
        RefusalForm::function_call);
}

TEST_CASE("reads and session state are not refused where no write may run", "[unit][route]") {
  for (const char* text : {"SELECT count(*) FROM t", "SET search_path = app", "BEGIN", "SHOW server_version"}) {
    INFO(text);
    Unit unit{wire_of(protocol::Query{.query = text})};
    CHECK(plan_write_refusal(unit.planner.summary(), unit.frames, TransactionStatus::idle).form ==
          RefusalForm::none);
  }
  Unit extended{wire_of(parse("SELECT $1::int"), bind(), protocol::Execute{}, protocol::Sync{})};
  CHECK(plan_write_refusal(extended.planner.summary(), extended.frames, TransactionStatus::idle).form ==
        RefusalForm::none);
}

TEST_CASE("a raised refusal's message is one literal whatever quotes it holds", "[unit][route]") {
  CHECK(raise_statement("object_not_in_prerequisite_state", "database \"it's\" $pgdual$ x") ==
        "DO $pgdual$BEGIN RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state', MESSAGE = "
        "'database \"it''s\"  pgdual$ x'; END$pgdual$");
}

}  // namespace
}  // namespace pgdual::proxy
