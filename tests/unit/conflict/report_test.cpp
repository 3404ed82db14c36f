#include "conflict/report.h"

#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/conflict_error.h"
#include "conflict/json.h"
#include "conflict/report_render.h"
#include "tests/unit/conflict/answers.h"

using namespace pgdual::conflict;
using pgdual::conflict::test::Answer;

namespace {

ConflictRecord row_count_conflict(std::string id, std::string time, std::vector<std::string> tables = {"public.t"}) {
  ConflictRecord record;
  record.id = std::move(id);
  record.time = std::move(time);
  record.idempotency_key = "k:" + record.id;
  record.session = {.user = "app", .application_name = "psql", .client_address = "127.0.0.1:5000", .database = "ehr"};
  record.statement_fingerprint = "ab12";
  record.statement_normalized = "DELETE FROM t WHERE id = $1";
  record.tables = std::move(tables);
  record.kind = ConflictKind::row_count;
  record.primary = Answer{}.complete("DELETE 1").ready('I').outcome();
  record.mirror = Answer{}.complete("DELETE 0").ready('I').outcome();
  return record;
}

ConflictRecord mirror_error_conflict(std::string id, std::string time) {
  auto record = row_count_conflict(std::move(id), std::move(time), {"public.patients"});
  record.statement_fingerprint = "cd34";
  record.statement_normalized = "INSERT INTO patients (mrn, name) VALUES ($1, $2)";
  record.kind = ConflictKind::mirror_error;
  record.primary = Answer{}.complete("INSERT 0 1").ready('I').outcome();
  record.mirror = Answer{}.error("23505", "duplicate key value").ready('I').outcome();
  return record;
}

ConflictRecord resolved(ConflictRecord record, std::string time) {
  record.resolution = Resolution::resolved;
  record.time = std::move(time);
  return record;
}

Report build(const std::vector<ConflictRecord>& records, const ReportFilter& filter = {}) {
  ReportBuilder builder;
  for (const auto& record : records) REQUIRE(builder.add(record));
  return builder.build(filter);
}

Timestamp at(std::string_view text) {
  const auto time = parse_rfc3339(text);
  REQUIRE(time);
  return *time;
}

// c1, c2: row_count on public.t; c3: mirror_error on public.patients, resolved later;
// c4: row_count on public.t and public.u.
std::vector<ConflictRecord> sample_log() {
  return {row_count_conflict("c1", "2024-05-01T12:00:00Z"), row_count_conflict("c2", "2024-05-01T13:00:00Z"),
          mirror_error_conflict("c3", "2024-05-01T14:00:00Z"),
          row_count_conflict("c4", "2024-05-02T09:30:00.25Z", {"public.t", "public.u"}),
          resolved(mirror_error_conflict("c3", "2024-05-03T08:00:00Z"), "2024-05-03T08:00:00Z")};
}

}  // namespace

TEST_CASE("RFC 3339 times are read as instants, offsets and fractions included", "[unit][conflict]") {
  CHECK(at("2024-05-01T12:00:00Z") == at("2024-05-01T14:00:00+02:00"));
  CHECK(at("2024-05-01t12:00:00z") == at("2024-05-01 12:00:00Z"));
  CHECK(at("2024-05-01") == at("2024-05-01T00:00:00Z"));
  CHECK(at("2024-05-01T12:00:00.5Z") > at("2024-05-01T12:00:00.499999999Z"));
  CHECK(at("2024-05-01T12:00:00.1234567891Z").nanoseconds == 123456789);
  CHECK(at("2016-12-31T23:59:60Z") == at("2017-01-01T00:00:00Z"));
  CHECK(at("1970-01-01T00:00:00Z").seconds == 0);
  CHECK(at("1969-12-31T23:59:59Z").seconds == -1);
  for (const auto* bad : {"", "2024-05-01T12:00:00", "2024-05-01T12:00Z", "2024-02-30T12:00:00Z",
                          "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00+2:00",
                          "2024-05-01T12:00:00Z ", "yesterday", "2024-5-1"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}

TEST_CASE("to_rfc3339 writes UTC and drops a zero fraction", "[unit][conflict]") {
  CHECK(to_rfc3339(at("2024-05-01T14:00:00+02:00")) == "2024-05-01T12:00:00Z");
  CHECK(to_rfc3339(at("2024-05-01T12:00:00.250Z")) == "2024-05-01T12:00:00.25Z");
  CHECK(to_rfc3339(at("1969-12-31T23:59:59.000000001Z")) == "1969-12-31T23:59:59.000000001Z");
}

TEST_CASE("Conflicts are grouped by table, kind and fingerprint, largest group first", "[unit][conflict]") {
  const auto report = build(sample_log());
  CHECK(report.conflicts == 4);
  CHECK(report.open_count == 3);
  REQUIRE(report.groups.size() == 3);

  const auto& t = report.groups[0];
  CHECK(t.table == "public.t");
  CHECK(t.kind == ConflictKind::row_count);
  CHECK(t.fingerprint == "ab12");
  CHECK(t.count == 3);
  CHECK(t.open_count == 3);
  CHECK(t.first_seen == at("2024-05-01T12:00:00Z"));
  CHECK(t.last_seen == at("2024-05-02T09:30:00.25Z"));
  CHECK(t.example_statement == "DELETE FROM t WHERE id = $1");
  CHECK(t.primary == OutcomeSummary{Reachability::reached, "DELETE 1", 1, ""});
  CHECK(t.mirror == OutcomeSummary{Reachability::reached, "DELETE 0", 0, ""});

  // Equal counts: by table name.
  CHECK(report.groups[1].table == "public.patients");
  CHECK(report.groups[1].count == 1);
  CHECK(report.groups[2].table == "public.u");
  CHECK(report.groups[2].count == 1);
}

TEST_CASE("The cutover's audit records share the log but are no conflicts in the report", "[unit][conflict]") {
  auto log = sample_log();
  ConflictRecord swap;
  swap.id = "a1";
  swap.time = "2024-05-02T10:00:00Z";
  swap.idempotency_key = "cutover";
  swap.kind = ConflictKind::cutover;
  swap.resolution = Resolution::resolved;
  swap.resolved_by = "ops@10.0.0.5:50102";
  swap.resolution_note = "SWAP ROLES: cloud is the primary, onprem the mirror";
  log.insert(log.begin() + 2, swap);
  const auto report = build(log);
  CHECK(report.conflicts == 4);
  CHECK(report.open_count == 3);
  CHECK(report.groups.size() == 3);
}

TEST_CASE("Statements with another fingerprint form their own group", "[unit][conflict]") {
  auto other = row_count_conflict("c9", "2024-05-01T12:00:00Z");
  other.statement_fingerprint = "ef56";
  other.statement_normalized = "UPDATE t SET x = $1";
  const auto report = build({row_count_conflict("c1", "2024-05-01T12:00:00Z"), other});
  REQUIRE(report.groups.size() == 2);
  CHECK(report.groups[0].fingerprint == "ab12");
  CHECK(report.groups[1].fingerprint == "ef56");
  CHECK(report.groups[1].example_statement == "UPDATE t SET x = $1");
}

TEST_CASE("A conflict that names no table is grouped under (none)", "[unit][conflict]") {
  const auto report = build({row_count_conflict("c1", "2024-05-01T12:00:00Z", {})});
  REQUIRE(report.groups.size() == 1);
  CHECK(report.groups[0].table == "(none)");
}

TEST_CASE("The latest record of a conflict wins, and it keeps its detection time", "[unit][conflict]") {
  const auto report = build(sample_log());
  const auto& patients = report.groups[1];
  CHECK(patients.count == 1);
  CHECK(patients.open_count == 0);
  CHECK(patients.first_seen == at("2024-05-01T14:00:00Z"));
  CHECK(patients.last_seen == at("2024-05-01T14:00:00Z"));
  CHECK(patients.mirror.sqlstate == "23505");

  // A conflict resolved and then reopened is open again.
  auto log = sample_log();
  log.push_back(mirror_error_conflict("c3", "2024-05-04T08:00:00Z"));
  CHECK(build(log).groups[1].open_count == 1);
}

TEST_CASE("A group's example and outcomes come from its record latest in the log", "[unit][conflict]") {
  auto later = row_count_conflict("c2", "2024-05-01T09:00:00Z");  // detected earlier, logged later
  later.statement_normalized = "DELETE FROM t WHERE id = $1 AND x = $2";
  later.mirror = Answer{}.complete("DELETE 3").ready('I').outcome();
  const auto report = build({row_count_conflict("c1", "2024-05-01T12:00:00Z"), later});
  REQUIRE(report.groups.size() == 1);
  CHECK(report.groups[0].example_statement == "DELETE FROM t WHERE id = $1 AND x = $2");
  CHECK(report.groups[0].mirror.command_tag == "DELETE 3");
  CHECK(report.groups[0].first_seen == at("2024-05-01T09:00:00Z"));
}

TEST_CASE("Each filter narrows the report", "[unit][conflict]") {
  const auto log = sample_log();
  const auto tables_of = [&log](const ReportFilter& filter) {
    std::vector<std::string> tables;
    for (const auto& group : build(log, filter).groups) tables.push_back(group.table + "/" + std::to_string(group.count));
    return tables;
  };
  using Tables = std::vector<std::string>;

  SECTION("since is inclusive and compares the detection time") {
    CHECK(tables_of({.since = at("2024-05-01T13:00:00Z")}) == Tables{"public.t/2", "public.patients/1", "public.u/1"});
    CHECK(tables_of({.since = at("2024-05-02")}) == Tables{"public.t/1", "public.u/1"});
  }
  SECTION("until is exclusive") {
    CHECK(tables_of({.until = at("2024-05-01T14:00:00Z")}) == Tables{"public.t/2"});
    CHECK(tables_of({.since = at("2024-05-01"), .until = at("2024-05-02")}) ==
          Tables{"public.t/2", "public.patients/1"});
  }
  SECTION("kind") {
    CHECK(tables_of({.kind = ConflictKind::mirror_error}) == Tables{"public.patients/1"});
    CHECK(tables_of({.kind = ConflictKind::mirror_timeout}).empty());
  }
  SECTION("table, qualified or not") {
    CHECK(tables_of({.table = "public.u"}) == Tables{"public.u/1"});
    CHECK(tables_of({.table = "t"}) == Tables{"public.t/3"});
    CHECK(tables_of({.table = "other.t"}).empty());
    const auto report = build({row_count_conflict("c1", "2024-05-01T12:00:00Z", {"t"})}, {.table = "public.t"});
    CHECK(report.groups.size() == 1);
    CHECK(build({row_count_conflict("c1", "2024-05-01T12:00:00Z", {})}, {.table = "(none)"}).groups.size() == 1);
  }
  SECTION("status of the latest record") {
    CHECK(tables_of({.status = Resolution::resolved}) == Tables{"public.patients/1"});
    CHECK(tables_of({.status = Resolution::open}) == Tables{"public.t/3", "public.u/1"});
  }
  SECTION("a table filter counts a conflict once in the totals") {
    const auto report = build(log, {.table = "public.u"});
    CHECK(report.conflicts == 1);
    CHECK(report.open_count == 1);
  }
}

TEST_CASE("A record whose time is not RFC 3339 is refused", "[unit][conflict]") {
  ReportBuilder builder;
  const auto added = builder.add(row_count_conflict("c1", "01/05/2024 12:00"));
  REQUIRE_FALSE(added);
  CHECK(added.error() == ConflictError::invalid_record);
  CHECK(builder.build({}).groups.empty());
}

TEST_CASE("Conflicts are counted per hour of their detection, by kind", "[unit][conflict]") {
  const auto report = build(sample_log());
  // c3's resolution on 2024-05-03 adds nothing; c4 names two tables and counts once.
  CHECK(report.hourly == std::vector<HourlyCount>{{at("2024-05-01T12:00:00Z"), ConflictKind::row_count, 1},
                                                  {at("2024-05-01T13:00:00Z"), ConflictKind::row_count, 1},
                                                  {at("2024-05-01T14:00:00Z"), ConflictKind::mirror_error, 1},
                                                  {at("2024-05-02T09:00:00Z"), ConflictKind::row_count, 1}});
}

TEST_CASE("An hour runs from its first second to the last nanosecond before the next", "[unit][conflict]") {
  const auto report = build({row_count_conflict("c1", "2024-05-01T12:00:00Z"),
                             mirror_error_conflict("c2", "2024-05-01T12:59:59.999999999Z"),
                             row_count_conflict("c3", "2024-05-01T14:59:59+02:00"),
                             row_count_conflict("c4", "2024-05-01T13:00:00Z"),
                             row_count_conflict("c5", "1969-12-31T23:30:00Z")});
  // Within an hour, kinds in declaration order: mirror_error before row_count.
  CHECK(report.hourly == std::vector<HourlyCount>{{at("1969-12-31T23:00:00Z"), ConflictKind::row_count, 1},
                                                  {at("2024-05-01T12:00:00Z"), ConflictKind::mirror_error, 1},
                                                  {at("2024-05-01T12:00:00Z"), ConflictKind::row_count, 2},
                                                  {at("2024-05-01T13:00:00Z"), ConflictKind::row_count, 1}});
}

TEST_CASE("The hourly counts hold only the conflicts that pass the filter", "[unit][conflict]") {
  const auto log = sample_log();
  using Hourly = std::vector<HourlyCount>;
  CHECK(build(log, {.kind = ConflictKind::mirror_error}).hourly ==
        Hourly{{at("2024-05-01T14:00:00Z"), ConflictKind::mirror_error, 1}});
  CHECK(build(log, {.since = at("2024-05-02")}).hourly ==
        Hourly{{at("2024-05-02T09:00:00Z"), ConflictKind::row_count, 1}});
  // A resolved conflict counts in the hour it was detected, not in the hour it was resolved.
  CHECK(build(log, {.status = Resolution::resolved}).hourly ==
        Hourly{{at("2024-05-01T14:00:00Z"), ConflictKind::mirror_error, 1}});
  CHECK(build(log, {.table = "public.u"}).hourly == Hourly{{at("2024-05-02T09:00:00Z"), ConflictKind::row_count, 1}});
  CHECK(build(log, {.table = "public.none"}).hourly.empty());
}

TEST_CASE("report_format_from_string knows text, json, csv and html", "[unit][conflict]") {
  CHECK(report_format_from_string("text") == ReportFormat::text);
  CHECK(report_format_from_string("json") == ReportFormat::json);
  CHECK(report_format_from_string("csv") == ReportFormat::csv);
  CHECK(report_format_from_string("html") == ReportFormat::html);
  CHECK_FALSE(report_format_from_string("JSON"));
  CHECK_FALSE(report_format_from_string("pdf"));
}

namespace {

std::size_t occurrences(const std::string& text, std::string_view what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

Report rendered_sample(ChainSummary chain = {{"conflicts.jsonl"}, 5, std::string{kGenesisHash}, std::string(64, 'a'), {}}) {
  auto report = build(sample_log());
  report.chain = std::move(chain);
  return report;
}

}  // namespace

TEST_CASE("CSV quotes fields with commas and quotes as RFC 4180 says", "[unit][conflict]") {
  auto record = row_count_conflict("c1", "2024-05-01T12:00:00.5Z");
  record.statement_normalized = "INSERT INTO \"odd,name\" (a, b) VALUES ($1, $2)";
  auto report = build({record});
  const auto csv = render_report(report, ReportFormat::csv);
  CHECK(csv ==
        "table,kind,fingerprint,count,open,first_seen,last_seen,statement,"
        "primary_reachability,primary_command_tag,primary_row_count,primary_sqlstate,"
        "mirror_reachability,mirror_command_tag,mirror_row_count,mirror_sqlstate\r\n"
        "public.t,row_count,ab12,1,1,2024-05-01T12:00:00.5Z,2024-05-01T12:00:00.5Z,"
        "\"INSERT INTO \"\"odd,name\"\" (a, b) VALUES ($1, $2)\","
        "reached,DELETE 1,1,,reached,DELETE 0,0,\r\n");
}

TEST_CASE("CSV has one row per group and leaves a missing row count empty", "[unit][conflict]") {
  const auto csv = render_report(rendered_sample(), ReportFormat::csv);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
  CHECK(csv.find("public.patients,mirror_error,cd34,1,0,") != std::string::npos);
  CHECK(csv.find("reached,INSERT 0 1,1,,reached,,,23505\r\n") != std::string::npos);
}

TEST_CASE("The JSON report is one object with the chain and the groups", "[unit][conflict]") {
  const auto text = render_report(rendered_sample(), ReportFormat::json);
  const auto document = json::parse(text);
  REQUIRE(document);
  const auto* chain = document->find("chain");
  REQUIRE(chain);
  CHECK(*chain->find("intact")->get<bool>());
  CHECK(*chain->find("records")->get<std::uint64_t>() == 5);
  CHECK(chain->find("first_bad")->is_null());
  CHECK(*chain->find("head")->get<std::string>() == std::string(64, 'a'));
  CHECK(*document->find("conflicts")->get<std::uint64_t>() == 4);
  CHECK(*document->find("open")->get<std::uint64_t>() == 3);
  CHECK(document->find("filter")->find("kind")->is_null());

  const auto* groups = document->find("groups")->get<json::Array>();
  REQUIRE(groups);
  REQUIRE(groups->size() == 3);
  const auto& first = (*groups)[0];
  CHECK(*first.find("table")->get<std::string>() == "public.t");
  CHECK(*first.find("kind")->get<std::string>() == "row_count");
  CHECK(*first.find("fingerprint")->get<std::string>() == "ab12");
  CHECK(*first.find("count")->get<std::uint64_t>() == 3);
  CHECK(*first.find("open")->get<std::uint64_t>() == 3);
  CHECK(*first.find("first_seen")->get<std::string>() == "2024-05-01T12:00:00Z");
  CHECK(*first.find("last_seen")->get<std::string>() == "2024-05-02T09:30:00.25Z");
  CHECK(*first.find("statement")->get<std::string>() == "DELETE FROM t WHERE id = $1");
  const auto* mirror = first.find("mirror");
  CHECK(*mirror->find("reachability")->get<std::string>() == "reached");
  CHECK(*mirror->find("command_tag")->get<std::string>() == "DELETE 0");
  CHECK(*mirror->find("row_count")->get<std::uint64_t>() == 0);
  CHECK(mirror->find("sqlstate")->is_null());
  CHECK(*(*groups)[1].find("mirror")->find("sqlstate")->get<std::string>() == "23505");
  CHECK(text.find("\"databases\":{\"shown\":[{\"name\":\"ehr\",\"count\":3}],\"others\":0},\"users\":{\"shown\":"
                  "[{\"name\":\"app\",\"count\":3}],\"others\":0},\"applications\":{\"shown\":[{\"name\":\"psql\","
                  "\"count\":3}],\"others\":0}}") != std::string::npos);
}

TEST_CASE("The JSON report of a broken chain names the first bad record", "[unit][conflict]") {
  const auto report =
      rendered_sample({{"conflicts.jsonl"}, 2, std::string{kGenesisHash}, std::string(64, 'b'), {{"conflicts.jsonl", 3}}});
  const auto document = json::parse(render_report(report, ReportFormat::json));
  REQUIRE(document);
  const auto* chain = document->find("chain");
  CHECK_FALSE(*chain->find("intact")->get<bool>());
  CHECK(*chain->find("first_bad")->find("file")->get<std::string>() == "conflicts.jsonl");
  CHECK(*chain->find("first_bad")->find("line")->get<std::uint64_t>() == 3);
}

TEST_CASE("The text report is an aligned table", "[unit][conflict]") {
  const auto text = render_report(rendered_sample(), ReportFormat::text);
  INFO(text);
  CHECK(text.starts_with("Conflict report: 4 conflicts, 3 open, in 3 groups\n"
                         "Hash chain: intact, 5 records in conflicts.jsonl\n"
                         "  starts at genesis; head " +
                         std::string(64, 'a') + "\n\n"));
  CHECK(text.find("COUNT  OPEN  TABLE            KIND          FIRST SEEN            LAST SEEN             "
                  "PRIMARY     MIRROR       STATEMENT\n") != std::string::npos);
  CHECK(text.find("    3     3  public.t         row_count     2024-05-01T12:00:00Z  2024-05-02T09:30:00Z  "
                  "DELETE 1    DELETE 0     DELETE FROM t WHERE id = $1\n") != std::string::npos);
  CHECK(text.find("    1     0  public.patients  mirror_error  2024-05-01T14:00:00Z  2024-05-01T14:00:00Z  "
                  "INSERT 0 1  error 23505  INSERT INTO patients (mrn, name) VALUES ($1, $2)\n") != std::string::npos);
}

TEST_CASE("The text report cuts long statements and neutralizes control characters", "[unit][conflict]") {
  auto record = row_count_conflict("c1", "2024-05-01T12:00:00Z", {"public.\x1b[31mred"});
  record.statement_normalized = "UPDATE t\n   SET " + std::string(80, 'x') + " = $1";
  auto report = build({record});
  const auto text = render_report(report, ReportFormat::text);
  INFO(text);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("public.\xEF\xBF\xBD[31mred") != std::string::npos);
  CHECK(text.find("UPDATE t SET " + std::string(46, 'x') + "…\n") != std::string::npos);
}

TEST_CASE("The text report says when the chain is broken or nothing matches", "[unit][conflict]") {
  auto report = rendered_sample({{"conflicts.jsonl"}, 2, std::string{kGenesisHash}, "", {{"conflicts.jsonl", 3}}});
  report.groups.clear();
  const auto text = render_report(report, ReportFormat::text);
  CHECK(text.find("Hash chain: BROKEN at conflicts.jsonl:3; this report covers only the 2 records before it\n") !=
        std::string::npos);
  CHECK(text.ends_with("No conflicts match.\n"));
}

TEST_CASE("The text report shows the filter and a transaction's row count", "[unit][conflict]") {
  auto record = row_count_conflict("c1", "2024-05-01T12:00:00Z");
  record.primary = Answer{}.complete("UPDATE 2").complete("DELETE 1").complete("COMMIT").ready('I').outcome();
  record.mirror.reachability = Reachability::timed_out;
  auto report = build({record}, {.since = at("2024-05-01T10:00:00+02:00"), .status = Resolution::open});
  const auto text = render_report(report, ReportFormat::text);
  INFO(text);
  CHECK(text.find("Filter: since 2024-05-01T08:00:00Z, status open\n") != std::string::npos);
  CHECK(text.find("COMMIT, 3 rows") != std::string::npos);
  CHECK(text.find("timed_out, DELETE 0") != std::string::npos);
}

TEST_CASE("The HTML report escapes every string it prints", "[unit][conflict]") {
  auto record = row_count_conflict("c1", "2024-05-01T12:00:00Z", {"public.\"<b>x</b>\""});
  record.statement_normalized = "SELECT '</script><script>alert(1)</script>' FROM \"<img src=x onerror=alert(1)>\" "
                                "WHERE a = $1 & b = 'it''s'\x1b[2J";
  auto report = build({record});
  report.chain = {{"logs/<conflicts>.jsonl"}, 1, std::string{kGenesisHash}, std::string(64, 'a'), {}};
  const auto html = render_report(report, ReportFormat::html);
  INFO(html);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("</script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("<b>x") == std::string::npos);
  CHECK(html.find('\x1b') == std::string::npos);
  CHECK(html.find("SELECT &#39;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39; FROM "
                  "&quot;&lt;img src=x onerror=alert(1)&gt;&quot; WHERE a = $1 &amp; b = &#39;it&#39;&#39;s&#39;"
                  "\xEF\xBF\xBD[2J") != std::string::npos);
  CHECK(html.find("public.&quot;&lt;b&gt;x&lt;/b&gt;&quot;") != std::string::npos);
  CHECK(html.find("logs/&lt;conflicts&gt;.jsonl") != std::string::npos);
}

TEST_CASE("The HTML report refers to nothing outside itself", "[unit][conflict]") {
  const auto html = render_report(rendered_sample(), ReportFormat::html);
  INFO(html);
  CHECK(html.starts_with("<!DOCTYPE html>\n"));
  CHECK(html.ends_with("</html>\n"));
  CHECK(html.find("<style>") != std::string::npos);
  CHECK(html.find("default-src 'none'") != std::string::npos);
  for (const auto* reference : {"http:", "https:", "//", "@import", "url(", "src=", "href=", "<script", "<link",
                                "<img", "<iframe", "<object", "<embed"}) {
    INFO(reference);
    CHECK(html.find(reference) == std::string::npos);
  }
}

TEST_CASE("The HTML report charts one bar group per hour, empty hours included", "[unit][conflict]") {
  const auto html = render_report(rendered_sample(), ReportFormat::html);
  INFO(html);
  CHECK(html.find("<h2>Conflicts per hour by kind (UTC)</h2>") != std::string::npos);
  CHECK(occurrences(html, "<svg") == 1);
  // 2024-05-01T12:00 to 2024-05-02T09:00.
  CHECK(occurrences(html, "<g class=\"bar\"") == 22);
  CHECK(html.find("<g class=\"bar\" data-start=\"2024-05-01T12:00:00Z\">") != std::string::npos);
  CHECK(html.find("<g class=\"bar\" data-start=\"2024-05-02T09:00:00Z\">") != std::string::npos);
  CHECK(html.find("<title>2024-05-01 14:00 UTC: 1 conflict (mirror_error 1)</title><rect ") != std::string::npos);
  CHECK(html.find("<title>2024-05-01 15:00 UTC: 0 conflicts</title></g>") != std::string::npos);
  CHECK(html.find(">row_count (3)</text>") != std::string::npos);
  CHECK(html.find(">mirror_error (1)</text>") != std::string::npos);
  CHECK(html.find(">hour (UTC)</text>") != std::string::npos);
  CHECK(html.find(">12:00<tspan") != std::string::npos);
  CHECK(html.find(">2024-05-01</tspan>") != std::string::npos);
  CHECK(html.find(">2024-05-02</tspan>") != std::string::npos);
}

TEST_CASE("The HTML chart has a bar per day, or per several days, beyond 14 days", "[unit][conflict]") {
  const auto three_weeks = render_report(build({row_count_conflict("c1", "2024-05-01T23:00:00Z"),
                                                mirror_error_conflict("c2", "2024-05-20T01:00:00Z")}),
                                         ReportFormat::html);
  INFO(three_weeks);
  CHECK(occurrences(three_weeks, "<g class=\"bar\"") == 20);
  CHECK(three_weeks.find("<h2>Conflicts per day by kind (UTC): per day rather than per hour, as they span 20 days, "
                         "more than 14</h2>") != std::string::npos);
  CHECK(three_weeks.find("<g class=\"bar\" data-start=\"2024-05-01T00:00:00Z\">") != std::string::npos);
  CHECK(three_weeks.find(">day (UTC)</text>") != std::string::npos);

  const auto years = render_report(build({row_count_conflict("c1", "2020-01-01T00:00:00Z"),
                                          row_count_conflict("c2", "2024-01-01T00:00:00Z")}),
                                   ReportFormat::html);
  CHECK(occurrences(years, "<g class=\"bar\"") == 293);  // 1462 days, 5 per bar
  CHECK(years.find("<h2>Conflicts per 5 days by kind (UTC)") != std::string::npos);

  const auto fourteen_days = render_report(build({row_count_conflict("c1", "2024-05-01T00:00:00Z"),
                                                  row_count_conflict("c2", "2024-05-14T23:00:00Z")}),
                                           ReportFormat::html);
  CHECK(occurrences(fourteen_days, "<g class=\"bar\"") == 14 * 24);
}

TEST_CASE("The HTML report shows the chain, the filter, the totals and the groups", "[unit][conflict]") {
  const auto intact = render_report(rendered_sample(), ReportFormat::html);
  INFO(intact);
  CHECK(intact.find("<p class=\"totals\">4 conflicts, 3 open, in 3 groups</p>") != std::string::npos);
  CHECK(intact.find("<p class=\"chain intact\">Hash chain: intact, 5 records in conflicts.jsonl; starts at genesis; "
                    "head <code>" + std::string(64, 'a') + "</code></p>") != std::string::npos);
  CHECK(intact.find("<p class=\"filter\">Filter: none, every conflict</p>") != std::string::npos);
  CHECK(occurrences(intact, "<section class=\"group ") == 3);
  // Serious first, largest first; then the resolved mirror_error group, apart under Harmless.
  const auto serious = intact.find("<h2 id=\"serious\">Serious: needs action (2 groups)</h2>");
  const auto t_group = intact.find("<span class=\"table\">public.t</span>");
  const auto u_group = intact.find("<span class=\"table\">public.u</span>");
  const auto harmless = intact.find("<h2 id=\"harmless\">Harmless (1 group)</h2>");
  const auto patients_group = intact.find("<span class=\"table\">public.patients</span>");
  CHECK(serious < t_group);
  CHECK(t_group < u_group);
  CHECK(u_group < harmless);
  CHECK(harmless < patients_group);
  CHECK(patients_group != std::string::npos);
  CHECK(intact.find("<section class=\"group resolved\" data-kind=\"mirror_error\">\n<header><span class=\"badge "
                    "resolved\"><span aria-hidden=\"true\">\u2714</span> Resolved</span><h3 class=\"group-heading\">"
                    "<span class=\"kind\"><span class=\"swatch\" style=\"background:#0072b2\"></span>mirror_error"
                    "</span> on <span class=\"table\">public.patients</span></h3><span class=\"counts\">1 conflict, 0 open</span>"
                    "</header>\n<p class=\"who\"><span class=\"database\">database <b>ehr</b></span><span "
                    "class=\"user\">user <b>app</b></span><span class=\"application\">application <b>psql</b>"
                    "</span></p>\n") != std::string::npos);
  CHECK(intact.find("<dt>Mirror</dt><dd>error 23505<br><span class=\"sqlstate\"><code>23505</code> <b "
                    "class=\"condition\">unique_violation</b>: a row with the same unique key already exists</span>"
                    "</dd>") != std::string::npos);
  CHECK(intact.find("<p class=\"next-step\"><b>Next step:</b> Nothing to do: every conflict of this group is "
                    "resolved.</p>") != std::string::npos);
  CHECK(intact.find("<p class=\"next-step\"><b>Next step:</b> The table&#39;s rows differ: run <code "
                    "class=\"command\">pgdual verify --config FILE --database ehr --table public.t</code>; if it "
                    "reports differences, <code class=\"command\">pgdual reconcile --config FILE --database ehr "
                    "--table public.t --apply</code> repairs the mirror and resolves these conflicts.</p>") !=
        std::string::npos);
  CHECK(intact.find("<code class=\"statement\">INSERT INTO patients (mrn, name) VALUES ($1, $2)</code>") !=
        std::string::npos);
  CHECK(intact.find("<span class=\"badge serious\"><span aria-hidden=\"true\">\u25B2</span> Serious</span>") !=
        std::string::npos);

  auto broken = rendered_sample({{"conflicts.jsonl.1", "conflicts.jsonl"}, 2, std::string{kGenesisHash}, "",
                                 {{"conflicts.jsonl", 3}}});
  broken.filter = {.kind = ConflictKind::row_count, .table = "t"};
  const auto html = render_report(broken, ReportFormat::html);
  CHECK(html.find("<p class=\"chain broken\">Hash chain: BROKEN at conflicts.jsonl:3; this report covers only the "
                  "2 records before it. Files read: conflicts.jsonl.1, conflicts.jsonl</p>") != std::string::npos);
  CHECK(html.find("<p class=\"filter\">Filter: kind <b>row_count</b>, table <b>t</b></p>") != std::string::npos);
}

TEST_CASE("The HTML report of no conflicts says so instead of a chart and a table", "[unit][conflict]") {
  const auto html = render_report(build({}), ReportFormat::html);
  INFO(html);
  CHECK(html.find("<svg") == std::string::npos);
  CHECK(html.find("<table") == std::string::npos);
  CHECK(occurrences(html, "No conflicts match.") == 2);
}

namespace {

ConflictRecord read_mismatch_conflict(std::string id, std::string time) {
  auto record = row_count_conflict(std::move(id), std::move(time), {"public.patients"});
  record.idempotency_key.clear();
  record.statement_fingerprint = "ef56";
  record.statement_normalized = "SELECT id, name FROM patients WHERE ward = $1";
  record.kind = ConflictKind::read_mismatch;
  record.primary = Answer{}.row({"1", "ann"}).row({"2", "bob"}).complete("SELECT 2").ready('I').outcome();
  record.mirror = Answer{}.row({"1", "ann"}).complete("SELECT 1").ready('I').outcome();
  return record;
}

}  // namespace

TEST_CASE("A shadow read's mismatch is filtered, counted and rendered in every format", "[unit][conflict]") {
  const auto report = build({row_count_conflict("c1", "2024-05-01T12:00:00Z"),
                             read_mismatch_conflict("c2", "2024-05-01T13:00:00Z")});
  CHECK(report.hourly == std::vector<HourlyCount>{{at("2024-05-01T12:00:00Z"), ConflictKind::row_count, 1},
                                                  {at("2024-05-01T13:00:00Z"), ConflictKind::read_mismatch, 1}});
  const auto only = build({row_count_conflict("c1", "2024-05-01T12:00:00Z"),
                           read_mismatch_conflict("c2", "2024-05-01T13:00:00Z")},
                          {.kind = conflict_kind_from_string("read_mismatch")});
  REQUIRE(only.groups.size() == 1);
  CHECK(only.groups[0].kind == ConflictKind::read_mismatch);
  CHECK(only.groups[0].table == "public.patients");

  const auto text = render_report(report, ReportFormat::text);
  INFO(text);
  CHECK(text.find("public.patients  read_mismatch  2024-05-01T13:00:00Z  2024-05-01T13:00:00Z  SELECT 2  SELECT 1")
        != std::string::npos);
  const auto csv = render_report(report, ReportFormat::csv);
  CHECK(csv.find("public.patients,read_mismatch,ef56,1,1,") != std::string::npos);
  const auto document = json::parse(render_report(only, ReportFormat::json));
  REQUIRE(document);
  CHECK(*document->find("filter")->find("kind")->get<std::string>() == "read_mismatch");
  CHECK(*(*document->find("groups")->get<json::Array>())[0].find("kind")->get<std::string>() == "read_mismatch");
  const auto html = render_report(report, ReportFormat::html);
  CHECK(html.find("<span class=\"swatch\" style=\"background:#882255\"></span>read_mismatch</span>") !=
        std::string::npos);
  CHECK(html.find(">read_mismatch (1)</text>") != std::string::npos);
  CHECK(html.find("<title>2024-05-01 13:00 UTC: 1 conflict (read_mismatch 1)</title><rect ") != std::string::npos);
}

TEST_CASE("A group counts its conflicts per database, user and application, the most frequent first",
          "[unit][conflict]") {
  std::vector<ConflictRecord> records;
  const auto from = [&records](std::string id, std::string user, std::string application) {
    auto record = row_count_conflict(std::move(id), "2024-05-01T12:00:00Z");
    record.session.user = std::move(user);
    record.session.application_name = std::move(application);
    records.push_back(std::move(record));
  };
  from("c1", "nurse", "chart");
  from("c2", "nurse", "chart");
  from("c3", "batch", "");
  for (int i = 0; i < 6; ++i) from("u" + std::to_string(i), "user" + std::to_string(i), "chart");
  auto resolution = resolved(records.front(), "2024-05-02T00:00:00Z");  // the same conflict: not counted twice
  resolution.session = {};  // and counted for the session that wrote it, not for the resolution's
  records.push_back(std::move(resolution));
  const auto report = build(records);
  REQUIRE(report.groups.size() == 1);
  const auto& group = report.groups[0];
  CHECK(group.count == 9);
  CHECK(group.databases == NameCounts{{{"ehr", 9}}, 0});
  CHECK(group.users == NameCounts{{{"nurse", 2}, {"batch", 1}, {"user0", 1}, {"user1", 1}, {"user2", 1}}, 3});
  CHECK(group.applications == NameCounts{{{"chart", 8}, {"", 1}}, 0});
}

TEST_CASE("The HTML report names a SQLSTATE by its class when it has no line of its own, escaped",
          "[unit][conflict]") {
  auto by_class = mirror_error_conflict("c1", "2024-05-01T12:00:00Z");
  by_class.mirror = Answer{}.error("23P99", "a new constraint").ready('I').outcome();
  auto hostile = mirror_error_conflict("c2", "2024-05-01T12:00:00Z");
  hostile.statement_fingerprint = "ef78";
  hostile.mirror = Answer{}.error("<b>x", "no code").ready('I').outcome();
  const auto html = render_report(build({by_class, hostile}), ReportFormat::html);
  INFO(html);
  CHECK(html.find("<span class=\"sqlstate\">23P99: class 23, integrity constraint violation</span>") !=
        std::string::npos);
  CHECK(html.find("<span class=\"sqlstate\">&lt;b&gt;x: not a SQLSTATE PostgreSQL documents</span>") !=
        std::string::npos);
  CHECK(html.find("<b>x") == std::string::npos);
}

TEST_CASE("The HTML report lists several sessions with their counts, and says when one was not recorded",
          "[unit][conflict]") {
  std::vector<ConflictRecord> records;
  for (int i = 0; i < 7; ++i) {
    auto record = row_count_conflict("c" + std::to_string(i), "2024-05-01T12:00:00Z");
    record.session.user = i < 2 ? "nurse" : "user" + std::to_string(i);
    record.session.database.clear();
    record.session.application_name = "<chart>";
    records.push_back(std::move(record));
  }
  const auto html = render_report(build(records), ReportFormat::html);
  INFO(html);
  CHECK(html.find("<span class=\"database\">database <b>(none recorded)</b></span><span class=\"user\">user "
                  "<b>nurse</b> (2), <b>user2</b> (1), <b>user3</b> (1), <b>user4</b> (1), <b>user5</b> (1), and 1 "
                  "more</span><span class=\"application\">application <b>&lt;chart&gt;</b></span>") !=
        std::string::npos);
  CHECK(html.find("--database DB --table public.t") != std::string::npos);
}
