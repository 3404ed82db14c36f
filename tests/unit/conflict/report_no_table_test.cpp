// The report's conflicts that name no table: listed apart, by id, with who resolved them and why.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/json.h"
#include "conflict/report.h"
#include "conflict/report_render.h"
#include "tests/unit/conflict/answers.h"

using namespace pgdual::conflict;
using pgdual::conflict::test::Answer;

namespace {

ConflictRecord conflict_at(std::string id, std::string time, std::vector<std::string> tables) {
  ConflictRecord record;
  record.id = std::move(id);
  record.time = std::move(time);
  record.statement_fingerprint = "ab12";
  record.statement_normalized = tables.empty() ? "SELECT nextval($1)" : "DELETE FROM t WHERE id = $1";
  record.tables = std::move(tables);
  record.kind = ConflictKind::nondeterministic;
  record.primary = Answer{}.complete("SELECT 1").ready('I').outcome();
  record.mirror = Answer{}.complete("SELECT 1").ready('I').outcome();
  return record;
}

ConflictRecord resolved_by(ConflictRecord record, std::string time, std::string by, std::string note) {
  record.resolution = Resolution::resolved;
  record.time = std::move(time);
  record.resolved_by = std::move(by);
  record.resolution_note = std::move(note);
  return record;
}

// seq-2 and seq-1 name no table, seq-1 resolved by an operator; t-1 names public.t.
Report sample(const ReportFilter& filter = {}) {
  ReportBuilder builder;
  const std::vector<ConflictRecord> records{
      conflict_at("seq-2", "2024-05-01T13:00:00Z", {}), conflict_at("seq-1", "2024-05-01T12:00:00Z", {}),
      conflict_at("t-1", "2024-05-01T12:30:00Z", {"public.t"}),
      resolved_by(conflict_at("seq-1", "", {}), "2024-05-02T08:00:00Z", "dr.ops", "INC-7: sequence set by hand")};
  for (const auto& record : records) REQUIRE(builder.add(record));
  auto report = builder.build(filter);
  report.chain = {{"conflicts.jsonl"}, 4, std::string{kGenesisHash}, std::string(64, 'a'), {}};
  return report;
}

}  // namespace

TEST_CASE("The report lists the conflicts naming no table by detection time, with their resolution",
          "[unit][conflict]") {
  const auto report = sample();
  REQUIRE(report.untabled.size() == 2);
  CHECK(report.untabled[0].id == "seq-1");
  CHECK(report.untabled[0].detected == *parse_rfc3339("2024-05-01T12:00:00Z"));
  CHECK(report.untabled[0].resolution == Resolution::resolved);
  CHECK(report.untabled[0].resolved_at == parse_rfc3339("2024-05-02T08:00:00Z"));
  CHECK(report.untabled[0].resolved_by == "dr.ops");
  CHECK(report.untabled[0].resolution_note == "INC-7: sequence set by hand");
  CHECK(report.untabled[1].id == "seq-2");
  CHECK(report.untabled[1].resolution == Resolution::open);
  CHECK_FALSE(report.untabled[1].resolved_at);
  CHECK(report.groups.size() == 2);  // public.t, and (none)

  CHECK(sample({.status = Resolution::open}).untabled.size() == 1);
  CHECK(sample({.table = "public.t"}).untabled.empty());
  CHECK(sample({.table = "(none)"}).untabled.size() == 2);
}

TEST_CASE("The text report shows the conflicts naming no table apart, by id", "[unit][conflict]") {
  const auto text = render_report(sample(), ReportFormat::text);
  INFO(text);
  CHECK(text.starts_with("Conflict report: 3 conflicts, 2 open, in 1 group; 2 naming no table\n"));
  CHECK(text.find("(none)") == std::string::npos);
  CHECK(text.find("\nConflicts naming no table (no reconcile can settle these: resolve each by id with pgdual "
                  "conflicts resolve):\n"
                  "ID     KIND              DETECTED              STATUS                         RESOLVED BY  "
                  "NOTE                         STATEMENT\n"
                  "seq-1  nondeterministic  2024-05-01T12:00:00Z  resolved 2024-05-02T08:00:00Z  dr.ops       "
                  "INC-7: sequence set by hand  SELECT nextval($1)\n"
                  "seq-2  nondeterministic  2024-05-01T13:00:00Z  open                           -            "
                  "-                            SELECT nextval($1)\n") != std::string::npos);
}

TEST_CASE("The JSON report lists the conflicts naming no table after the groups", "[unit][conflict]") {
  const auto text = render_report(sample(), ReportFormat::json);
  const auto document = json::parse(text);
  REQUIRE(document);
  const auto* listed = document->find("no_table")->get<json::Array>();
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  const auto& first = (*listed)[0];
  CHECK(*first.find("id")->get<std::string>() == "seq-1");
  CHECK(*first.find("resolution")->get<std::string>() == "resolved");
  CHECK(*first.find("resolved_at")->get<std::string>() == "2024-05-02T08:00:00Z");
  CHECK(*first.find("resolved_by")->get<std::string>() == "dr.ops");
  CHECK(*first.find("resolution_note")->get<std::string>() == "INC-7: sequence set by hand");
  CHECK((*listed)[1].find("resolved_by")->is_null());
  CHECK((*listed)[1].find("resolved_at")->is_null());
  CHECK(text.find("\"table\":\"(none)\"") != std::string::npos);
}

TEST_CASE("The HTML report shows the conflicts naming no table in a table of their own, escaped",
          "[unit][conflict]") {
  auto report = sample();
  report.untabled[0].resolution_note = "<b>INC-7</b>";
  const auto html = render_report(report, ReportFormat::html);
  INFO(html);
  CHECK(html.find("<p class=\"totals\">3 conflicts, 2 open, in 1 group; 2 naming no table</p>") != std::string::npos);
  CHECK(html.find("<td>(none)</td>") == std::string::npos);
  CHECK(html.find("<h2>Conflicts naming no table</h2>") != std::string::npos);
  CHECK(html.find("<tr class=\"untabled\"><td><code>seq-1</code></td>") != std::string::npos);
  CHECK(html.find("<td>dr.ops</td><td>&lt;b&gt;INC-7&lt;/b&gt;</td>") != std::string::npos);
}

TEST_CASE("A report of only conflicts naming no table has no groups table", "[unit][conflict]") {
  const auto report = sample({.table = "(none)"});
  const auto text = render_report(report, ReportFormat::text);
  CHECK(text.find("COUNT") == std::string::npos);
  CHECK(text.find("seq-2") != std::string::npos);
  const auto html = render_report(report, ReportFormat::html);
  CHECK(html.find("<section class=\"group") == std::string::npos);
  CHECK(html.find("No conflicts match.") == std::string::npos);
}
