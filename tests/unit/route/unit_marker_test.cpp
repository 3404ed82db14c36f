#include "proxy/route/unit_marker.h"

#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/frontend_messages.h"
#include "protocol/sql/classifier.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

std::vector<std::byte> query(std::string_view text) {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  protocol::encode(protocol::Query{.query = text}, out);
  return wire;
}

std::vector<std::byte> extended(std::string_view text) {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  protocol::Parse parse;
  parse.query = text;
  protocol::encode(parse, out);
  protocol::encode(protocol::Bind{}, out);
  protocol::encode(protocol::Execute{}, out);
  protocol::encode(protocol::Sync{}, out);
  return wire;
}

/// The marker the planner's view of `wire` gets, with the primary in `status`.
MarkerPlan marker_of(const std::vector<std::byte>& wire, TransactionStatus status, bool transaction_wrote = false) {
  static sql::Classifier classifier;
  static std::optional<UnitPlanner> planner;
  planner.emplace(classifier);
  const auto frames = protocol::split_frames(wire);
  for (const auto& frame : frames) planner->observe(frame);
  const auto plan = planner->plan(status);
  return plan_marker(MarkerFacts{.unit = planner->summary(),
                                 .frames = frames,
                                 .status = status,
                                 .writes = plan.writes,
                                 .transaction_wrote = transaction_wrote});
}

/// The announcement the planner's view of `wire` gets, with the primary in `status`; it views the
/// planner's summary, kept until the next call.
AnnouncementPlan announcement_of(const std::vector<std::byte>& wire, TransactionStatus status) {
  static sql::Classifier classifier;
  static std::optional<UnitPlanner> planner;
  planner.emplace(classifier);
  for (const auto& frame : protocol::split_frames(wire)) planner->observe(frame);
  return plan_announcement(planner->summary(), status);
}

MarkerForm form_of(const std::vector<std::byte>& wire, TransactionStatus status, bool transaction_wrote = false) {
  return marker_of(wire, status, transaction_wrote).form;
}

TEST_CASE("a write outside a transaction is marked in the form of its protocol", "[unit][route]") {
  CHECK(form_of(query("INSERT INTO visits VALUES (1)"), TransactionStatus::idle) == MarkerForm::query_text);
  CHECK(form_of(query("BEGIN; UPDATE beds SET free = 0; COMMIT"), TransactionStatus::idle) ==
        MarkerForm::query_text);
  CHECK(form_of(extended("INSERT INTO visits VALUES ($1)"), TransactionStatus::idle) == MarkerForm::messages);
}

TEST_CASE("only the COMMIT of a transaction that wrote is marked inside one", "[unit][route]") {
  CHECK(form_of(query("COMMIT"), TransactionStatus::in_transaction, true) == MarkerForm::query_text);
  CHECK(form_of(extended("COMMIT"), TransactionStatus::in_transaction, true) == MarkerForm::messages);
  CHECK(form_of(query("END"), TransactionStatus::in_transaction, true) == MarkerForm::query_text);
  CHECK(form_of(query("COMMIT"), TransactionStatus::in_transaction, false) == MarkerForm::none);
  CHECK(form_of(query("INSERT INTO visits VALUES (1)"), TransactionStatus::in_transaction, true) ==
        MarkerForm::none);
  CHECK(form_of(query("PREPARE TRANSACTION 'x'"), TransactionStatus::in_transaction, true) == MarkerForm::none);
  CHECK(form_of(query("ROLLBACK"), TransactionStatus::in_transaction, true) == MarkerForm::none);
  CHECK(form_of(query("COMMIT"), TransactionStatus::failed, true) == MarkerForm::none);
}

TEST_CASE("reads, unparsable text and statements that need their own transaction get no marker", "[unit][route]") {
  CHECK(form_of(query("SELECT 1"), TransactionStatus::idle) == MarkerForm::none);
  CHECK(form_of(query("INSERT INTO visits VALUES (1"), TransactionStatus::idle) == MarkerForm::none);
  CHECK(form_of(query("VACUUM visits"), TransactionStatus::idle) == MarkerForm::none);
  CHECK(form_of(query("CREATE INDEX CONCURRENTLY i ON visits (a)"), TransactionStatus::idle) == MarkerForm::none);
  CHECK(form_of(query("CALL archive()"), TransactionStatus::idle) == MarkerForm::none);
}

TEST_CASE("statements that change the schema at a unit's start travel in its marker, in and out of transactions",
          "[unit][route]") {
  const auto autocommit = marker_of(query("CREATE TABLE beds (id int); INSERT INTO beds VALUES (1)"),
                                    TransactionStatus::idle);
  CHECK(autocommit.form == MarkerForm::query_text);
  CHECK(autocommit.carries_key);
  CHECK(autocommit.schema_change == "CREATE TABLE beds (id int)");
  const auto inside = marker_of(extended("ALTER TABLE beds ADD ward text"), TransactionStatus::in_transaction, true);
  CHECK(inside.form == MarkerForm::messages);
  CHECK_FALSE(inside.carries_key);
  CHECK(inside.schema_change == "ALTER TABLE beds ADD ward text");
  const auto late = marker_of(query("INSERT INTO beds VALUES (2); DROP TABLE beds"), TransactionStatus::idle);
  CHECK(late.carries_key);
  CHECK(late.schema_change.empty());
  CHECK(marker_of(query("CREATE INDEX CONCURRENTLY i ON beds (id)"), TransactionStatus::idle).form ==
        MarkerForm::none);
}

TEST_CASE("the marker statement carries the schema change with its role and search_path through pgdual.emit_ddl, then the key",
          "[unit][route]") {
  // The key's transaction flushes its commit even under synchronous_commit = off: the walsender
  // sends only flushed WAL, and the client waits for the mirror.
  CHECK(marker_statement("k", "") ==
        "SELECT pg_catalog.pg_logical_emit_message(true, 'pgdual', 'k'), CASE "
        "pg_catalog.current_setting('synchronous_commit') WHEN 'off' THEN "
        "pg_catalog.set_config('synchronous_commit', 'local', true) END");
  // The statement in hex digits: a function body must appear in the Query text once only.
  CHECK(marker_statement("", R"(COMMENT ON TABLE t IS 'a\b')") ==
        "SELECT pgdual.emit_ddl(current_user, pg_catalog.current_setting('search_path'), "
        "pg_catalog.convert_from(pg_catalog.decode('434f4d4d454e54204f4e205441424c4520742049532027615c6227', "
        "'hex'), pg_catalog.current_setting('client_encoding')))");
  const auto both = marker_statement("k", "DROP TABLE t");
  CHECK(both.find("pgdual.emit_ddl(") < both.find("'pgdual', 'k'"));
}

TEST_CASE("the marker goes first in a Query's text, which it lengthens by its own statement", "[unit][route]") {
  auto segment = query("INSERT INTO visits VALUES (1)");
  auto frames = protocol::split_frames(segment);
  const auto marker = marker_statement("0192d4a8-0000-7000-8000-000000000001", "");
  const auto prefix = mark_query_text(marker, marker_of(segment, TransactionStatus::idle), segment, frames);
  REQUIRE(frames.size() == 1);
  const auto rewritten = protocol::decode_query(frames.front().body);
  REQUIRE(rewritten);
  const std::string expected_start = marker + ";";
  CHECK(std::string{rewritten->query} == expected_start + "INSERT INTO visits VALUES (1)");
  CHECK(prefix.text_shift == expected_start.size());
  CHECK(prefix.answers == 3);
  CHECK(prefix.statements.empty());
}

TEST_CASE("the marker goes after the statements that open and set up the transaction, whose answers come first",
          "[unit][route]") {
  const std::string setup = "START TRANSACTION ISOLATION LEVEL SERIALIZABLE; SET TRANSACTION READ WRITE;";
  const std::string rest = " INSERT INTO visits VALUES (1); COMMIT";
  auto segment = query(setup + rest);
  auto frames = protocol::split_frames(segment);
  const auto plan = marker_of(segment, TransactionStatus::idle);
  CHECK(plan.text_offset == setup.size());
  CHECK(plan.statements_before == 2);
  const auto marker = marker_statement("0192d4a8-0000-7000-8000-000000000001", "");
  const auto prefix = mark_query_text(marker, plan, segment, frames);
  REQUIRE(frames.size() == 1);
  const auto rewritten = protocol::decode_query(frames.front().body);
  REQUIRE(rewritten);
  CHECK(std::string{rewritten->query} == setup + marker + ";" + rest);
  CHECK(prefix.text_shift == marker.size() + 1);
  CHECK(prefix.client_answers_first == 2);
  CHECK(prefix.answers == 3);
}

TEST_CASE("the marker goes first in a text of settings alone, and after settings before anything else",
          "[unit][route]") {
  CHECK(marker_of(query("SET search_path = ward; INSERT INTO beds VALUES (1)"), TransactionStatus::idle)
            .statements_before == 1);
  CHECK(marker_of(query("BEGIN; SET TRANSACTION SNAPSHOT '00000003-0000001B-1'; INSERT INTO beds VALUES (1); COMMIT"),
                  TransactionStatus::idle)
            .statements_before == 2);
  const auto first = marker_of(query("INSERT INTO beds VALUES (1); SET search_path = ward"), TransactionStatus::idle);
  CHECK(first.text_offset == 0);
  CHECK(first.statements_before == 0);
  const auto ddl = marker_of(query("CREATE TABLE beds (id int)"), TransactionStatus::in_transaction);
  CHECK(ddl.text_offset == 0);
  CHECK(ddl.statements_before == 0);
}

TEST_CASE("in the extended protocol the marker messages go after the Executes that open and set up the "
          "transaction, whose answers come first",
          "[unit][route]") {
  std::vector<std::byte> unit;
  protocol::Writer out{unit};
  for (const std::string_view text : {"BEGIN ISOLATION LEVEL SERIALIZABLE", "SET TRANSACTION READ WRITE",
                                      "INSERT INTO visits VALUES (1)", "COMMIT"}) {
    protocol::Parse parse;
    parse.query = text;
    protocol::encode(parse, out);
    protocol::encode(protocol::Bind{}, out);
    protocol::encode(protocol::Describe{.kind = protocol::ObjectKind::portal, .name = ""}, out);
    protocol::encode(protocol::Execute{}, out);
  }
  protocol::encode(protocol::Sync{}, out);
  const auto frames = protocol::split_frames(unit);
  const auto plan = marker_of(unit, TransactionStatus::idle);
  CHECK(plan.form == MarkerForm::messages);
  CHECK(plan.statements_before == 2);
  const auto prefix = marker_messages(marker_statement("0192d4a8-0000-7000-8000-000000000001", ""), plan, frames);
  CHECK(prefix.frames_first == 8);
  CHECK(prefix.client_answers_first == 8);  // ParseComplete, BindComplete, NoData, CommandComplete, twice
  std::vector<std::byte> sent;
  apply_pins(prefix, frames, sent);
  std::string tags;
  for (const auto& frame : protocol::split_frames(sent)) tags += frame.tag;
  CHECK(tags == "PBDEPBDECCPBECPBDEPBDES");
}

TEST_CASE("the marker messages close, prepare, bind, execute and close the marker, without a Sync",
          "[unit][route]") {
  const auto unit = extended("INSERT INTO visits VALUES (1)");
  const auto prefix = marker_messages(marker_statement("0192d4a8-0000-7000-8000-000000000001", ""),
                                      marker_of(unit, TransactionStatus::idle), protocol::split_frames(unit));
  CHECK(prefix.frames_first == 0);
  CHECK(prefix.client_answers_first == 0);
  const auto frames = protocol::split_frames(prefix.statements);
  std::string tags;
  for (const auto& frame : frames) tags += frame.tag;
  CHECK(tags == "CCPBEC");
  CHECK(prefix.answers == 7);
  const auto parse = protocol::decode_parse(frames[2].body);
  REQUIRE(parse);
  CHECK(std::string{parse->query}.find("'0192d4a8-0000-7000-8000-000000000001'") != std::string::npos);
  CHECK_FALSE(prefix.empty());
}

TEST_CASE("a unit that prepares a transaction carries no key: it commits at COMMIT PREPARED, if ever",
          "[unit][route]") {
  CHECK_FALSE(marker_of(query("BEGIN; INSERT INTO visits VALUES (1); PREPARE TRANSACTION 'g'"), TransactionStatus::idle)
                  .carries_key);
  CHECK(form_of(query("PREPARE TRANSACTION 'g'"), TransactionStatus::in_transaction, true) == MarkerForm::none);
  CHECK(form_of(extended("PREPARE TRANSACTION 'g'"), TransactionStatus::in_transaction, true) == MarkerForm::none);
  // Its DDL still travels in it, and reaches the mirror with it at COMMIT PREPARED.
  const auto ddl = marker_of(query("CREATE TABLE t (a int)"), TransactionStatus::in_transaction, true);
  CHECK(ddl.schema_change == "CREATE TABLE t (a int)");
}

TEST_CASE("COMMIT PREPARED and a schema change that must run alone are announced after them", "[unit][route]") {
  for (const auto& wire : {query("COMMIT PREPARED 'g'"), extended("COMMIT PREPARED 'g'")}) {
    const auto plan = announcement_of(wire, TransactionStatus::idle);
    CHECK(plan.announces);
    CHECK(plan.schema_change.empty());
  }
  const auto index = announcement_of(query("CREATE INDEX CONCURRENTLY i ON beds (id)"), TransactionStatus::idle);
  CHECK(index.announces);
  CHECK(index.schema_change == "CREATE INDEX CONCURRENTLY i ON beds (id)");
  CHECK(announcement_of(extended("DROP INDEX CONCURRENTLY i"), TransactionStatus::idle).schema_change ==
        "DROP INDEX CONCURRENTLY i");
}

TEST_CASE("nothing is announced in a transaction block, for maintenance, or beside other statements",
          "[unit][route]") {
  CHECK_FALSE(announcement_of(query("COMMIT PREPARED 'g'"), TransactionStatus::in_transaction).announces);
  CHECK_FALSE(announcement_of(query("CREATE INDEX CONCURRENTLY i ON beds (id)"), TransactionStatus::failed).announces);
  CHECK_FALSE(announcement_of(query("VACUUM beds"), TransactionStatus::idle).announces);
  CHECK_FALSE(announcement_of(query("REINDEX TABLE CONCURRENTLY beds"), TransactionStatus::idle).announces);
  CHECK_FALSE(announcement_of(query("ROLLBACK PREPARED 'g'"), TransactionStatus::idle).announces);
  CHECK_FALSE(announcement_of(query("PREPARE TRANSACTION 'g'"), TransactionStatus::idle).announces);
  CHECK_FALSE(announcement_of(query("SELECT 1; CREATE INDEX CONCURRENTLY i ON beds (id)"), TransactionStatus::idle)
                  .announces);
  CHECK_FALSE(announcement_of(query("CREATE INDEX CONCURRENTLY i ON beds (id"), TransactionStatus::idle).announces);
  auto two = extended("CREATE INDEX CONCURRENTLY i ON beds (id)");
  const auto more = extended("DROP INDEX CONCURRENTLY j");
  two.insert(two.end(), more.begin(), more.end());
  CHECK_FALSE(announcement_of(two, TransactionStatus::idle).announces);
}

TEST_CASE("the announcement statement emits the marker's messages, non-transactional", "[unit][route]") {
  CHECK(announcement_statement("k", "") == "SELECT pg_catalog.pg_logical_emit_message(false, 'pgdual', 'k')");
  CHECK(announcement_statement("k", "DROP INDEX CONCURRENTLY i") ==
        "SELECT pg_catalog.pg_logical_emit_message(false, 'pgdual.ddl', current_user || E'\\n' || "
        "pg_catalog.current_setting('search_path') || E'\\n' || pg_catalog.convert_from(pg_catalog.decode("
        "'44524f5020494e44455820434f4e43555252454e544c592069', 'hex'), "
        "pg_catalog.current_setting('client_encoding'))), "
        "pg_catalog.pg_logical_emit_message(false, 'pgdual', 'k')");
}

}  // namespace
}  // namespace pgdual::proxy
