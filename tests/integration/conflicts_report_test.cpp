// `pgdual conflicts report` as a process: over a log written by conflict::ConflictLog, and (the review
// page in headless Chromium) over the conflicts pgdual serve recorded between two real servers.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/conflict_log.h"
#include "conflict/json.h"
#include "conflict/sqlstate_names.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kReportTimeout = 30s;
constexpr auto kChromiumTimeout = 60s;
constexpr std::string_view kChromium = "/usr/bin/chromium";

conflict::Outcome answered(std::string tag, std::uint64_t rows) {
  conflict::Outcome outcome;
  outcome.command_tag = std::move(tag);
  outcome.row_count = rows;
  outcome.command_count = 1;
  outcome.transaction_status = protocol::TransactionStatus::idle;
  return outcome;
}

conflict::ConflictRecord row_count_conflict(int number, std::string time) {
  conflict::ConflictRecord record;
  record.id = "conflict-" + std::to_string(number);
  record.time = std::move(time);
  record.idempotency_key = "pgdual-a1:" + std::to_string(number);
  record.session.user = "ehr_app";
  record.session.application_name = "chart";
  record.session.client_address = "203.0.113.7:51234";
  record.statement_fingerprint = "5e1f2a3b4c5d6e7f";
  record.statement_normalized = "UPDATE patients SET ward = $1, note = $2 WHERE id = $3";
  record.tables = {"public.patients"};
  record.kind = conflict::ConflictKind::row_count;
  record.primary = answered("UPDATE 1", 1);
  record.mirror = answered("UPDATE 0", 0);
  return record;
}

conflict::ConflictRecord mirror_unavailable(int number, std::string time) {
  auto record = row_count_conflict(number, std::move(time));
  record.statement_fingerprint = "0a0b0c0d0e0f1011";
  record.statement_normalized = "INSERT INTO visits (patient_id) VALUES ($1)";
  record.tables = {"public.visits"};
  record.kind = conflict::ConflictKind::mirror_unavailable;
  record.mirror = {};
  record.mirror.reachability = conflict::Reachability::unreachable;
  return record;
}

// Six records, two per file: conflicts.jsonl.2, conflicts.jsonl.1, conflicts.jsonl.
// conflict-3 is resolved by the last record.
struct RotatedLog {
  TempDir dir{"pgdual-report"};
  fs::path path = dir.path() / "conflicts.jsonl";

  RotatedLog() {
    std::vector<conflict::ConflictRecord> records{
        row_count_conflict(1, "2024-05-01T12:00:00Z"), row_count_conflict(2, "2024-05-01T13:00:00Z"),
        mirror_unavailable(3, "2024-05-01T14:00:00Z"), row_count_conflict(4, "2024-05-02T09:00:00Z"),
        mirror_unavailable(5, "2024-05-02T10:00:00Z"),     mirror_unavailable(3, "2024-05-03T08:00:00Z")};
    records.back().resolution = conflict::Resolution::resolved;
    std::size_t longest_line = 0;
    for (const auto& record : records) {
      longest_line = std::max(longest_line, conflict::to_json_line(record, conflict::kGenesisHash).size() + 1);
    }
    conflict::ConflictLogOptions options;
    options.rotate_bytes = 2 * longest_line;
    auto log = conflict::ConflictLog::open(path, options);
    REQUIRE(log);
    for (const auto& record : records) REQUIRE(log->append(record));
    REQUIRE(fs::exists(path.string() + ".2"));
    REQUIRE_FALSE(fs::exists(path.string() + ".3"));
  }

  [[nodiscard]] std::string rotated(int number) const { return path.string() + "." + std::to_string(number); }
};

RunResult report(const std::vector<std::string>& options) {
  std::vector<std::string> argv{PGDUAL_BINARY, "conflicts", "report"};
  argv.insert(argv.end(), options.begin(), options.end());
  return run(argv, {}, kReportTimeout);
}

std::size_t occurrences(const std::string& text, std::string_view what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

TEST_CASE("conflicts report prints a table of the latest state, read across rotated files",
          "[integration][report]") {
  const RotatedLog log;
  const auto result = report({"--log", log.path.string()});
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);
  CHECK(result.err.empty());
  CHECK(result.out.starts_with("Conflict report: 5 conflicts, 4 open, in 2 groups\n"
                               "Hash chain: intact, 6 records in " +
                               log.rotated(2) + ", " + log.rotated(1) + ", " + log.path.string() +
                               "\n  starts at genesis; head "));
  CHECK(result.out.find("    3     3  public.patients  row_count           2024-05-01T12:00:00Z  "
                        "2024-05-02T09:00:00Z  UPDATE 1  UPDATE 0     UPDATE patients SET ward = $1, note = $2 "
                        "WHERE id = $3\n") != std::string::npos);
  CHECK(result.out.find("    2     1  public.visits    mirror_unavailable  2024-05-01T14:00:00Z  "
                        "2024-05-02T10:00:00Z  UPDATE 1  unreachable  INSERT INTO visits (patient_id) VALUES ($1)\n") !=
        std::string::npos);
}

TEST_CASE("conflicts report writes JSON and CSV, filtered", "[integration][report]") {
  const RotatedLog log;

  const auto json = report({"--log", log.path.string(), "--format", "json", "--kind", "mirror_unavailable"});
  INFO(json.describe());
  REQUIRE(json.exit_code == 0);
  const auto document = conflict::json::parse(json.out);
  REQUIRE(document);
  CHECK(*document->find("chain")->find("intact")->get<bool>());
  CHECK(*document->find("chain")->find("records")->get<std::uint64_t>() == 6);
  const auto* groups = document->find("groups")->get<conflict::json::Array>();
  REQUIRE(groups->size() == 1);
  CHECK(*(*groups)[0].find("table")->get<std::string>() == "public.visits");
  CHECK(*(*groups)[0].find("count")->get<std::uint64_t>() == 2);
  CHECK(*(*groups)[0].find("open")->get<std::uint64_t>() == 1);

  const auto csv = report({"--log", log.path.string(), "--format", "csv", "--status", "resolved"});
  INFO(csv.describe());
  REQUIRE(csv.exit_code == 0);
  CHECK(occurrences(csv.out, "\r\n") == 2);
  CHECK(csv.out.find("\r\npublic.visits,mirror_unavailable,0a0b0c0d0e0f1011,1,0,2024-05-01T14:00:00Z,"
                     "2024-05-01T14:00:00Z,INSERT INTO visits (patient_id) VALUES ($1),reached,UPDATE 1,1,,"
                     "unreachable,,,\r\n") != std::string::npos);

  const auto since = report({"--log", log.path.string(), "--format", "csv", "--since", "2024-05-02T08:00:00-03:00",
                             "--until", "2024-05-03", "--table", "patients"});
  INFO(since.describe());
  REQUIRE(since.exit_code == 0);
  CHECK(occurrences(since.out, "\r\n") == 1);  // the header only: conflict-4 (09:00Z) is before 11:00Z
  const auto before = report({"--log", log.path.string(), "--format", "csv", "--until", "2024-05-02T11:00:00+01:00",
                              "--table", "public.patients"});
  INFO(before.describe());
  CHECK(before.out.find("\r\npublic.patients,row_count,5e1f2a3b4c5d6e7f,3,3,") != std::string::npos);
}

TEST_CASE("conflicts report --out writes a file only its owner can read", "[integration][report]") {
  const RotatedLog log;
  const auto out = log.dir.path() / "report.csv";
  const auto result = report({"--log", log.path.string(), "--format", "csv", "--out", out.string()});
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(read_file(out).starts_with("table,kind,fingerprint,count,"));
  struct stat status {};
  REQUIRE(::stat(out.c_str(), &status) == 0);
  CHECK((status.st_mode & 0777) == 0600);

  const auto onto_log = report({"--log", log.path.string(), "--out", log.rotated(1)});
  CHECK(onto_log.exit_code == 2);
  CHECK(onto_log.err.find("--out") != std::string::npos);
  CHECK(read_file(log.rotated(1)).starts_with("{\"prev\":"));
}

TEST_CASE("conflicts report names the bad option", "[integration][report]") {
  const RotatedLog log;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--log", log.path.string(), "--format", "yaml"}, "--format: expected text, json, csv or html, got \"yaml\""},
      {{"--log", log.path.string(), "--since", "yesterday"}, "--since: not an RFC 3339 time or date"},
      {{"--log", log.path.string(), "--kind", "row_counts"}, "--kind: unknown kind \"row_counts\""},
      {{"--log", log.path.string(), "--status", "closed"}, "--status: expected open or resolved"},
      {{"--log", log.path.string(), "--table"}, "--table needs a value"},
      {{"--log", log.path.string(), "--verbose", "yes"}, "unknown option \"--verbose\""},
      {{"--format", "json"}, "--log FILE is required"},
      {{"--log", log.path.string(), "--since", "2024-05-02", "--until", "2024-05-01"}, "--until must be later"},
  };
  for (const auto& [options, message] : cases) {
    const auto result = report(options);
    INFO(result.describe());
    CHECK(result.exit_code == 2);
    CHECK(result.err.find(message) != std::string::npos);
    CHECK(result.err.find("usage: pgdual conflicts report --log FILE") != std::string::npos);
    CHECK(result.out.empty());
  }
  const auto missing = report({"--log", (log.dir.path() / "absent.jsonl").string()});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("absent.jsonl: No such file or directory") != std::string::npos);
}

TEST_CASE("conflicts report exits 3 naming the first record that breaks the chain", "[integration][report]") {
  const RotatedLog log;
  auto middle = read_file(log.rotated(1));
  const auto second_line = middle.find('\n') + 1;
  const auto at = middle.find("$1", second_line);
  REQUIRE(at != std::string::npos);
  middle[at + 1] = '7';
  write_file(log.rotated(1), middle);

  const auto result = report({"--log", log.path.string(), "--format", "json"});
  INFO(result.describe());
  CHECK(result.exit_code == 3);
  CHECK(result.err.find("hash chain broken at " + log.rotated(1) + ":2: its hash does not match its content") !=
        std::string::npos);
  CHECK(result.err.find("$7") == std::string::npos);
  const auto document = conflict::json::parse(result.out);
  REQUIRE(document);
  const auto* chain = document->find("chain");
  CHECK_FALSE(*chain->find("intact")->get<bool>());
  CHECK(*chain->find("records")->get<std::uint64_t>() == 3);
  CHECK(*chain->find("first_bad")->find("line")->get<std::uint64_t>() == 2);
}

TEST_CASE("conflicts report starts after the oldest kept file once older ones are gone", "[integration][report]") {
  const RotatedLog log;
  fs::remove(log.rotated(2));
  const auto result = report({"--log", log.path.string()});
  INFO(result.describe());
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("Hash chain: intact, 4 records in " + log.rotated(1) + ", " + log.path.string() +
                        "\n  starts after ") != std::string::npos);
  CHECK(result.out.find("(older files rotated away)") != std::string::npos);

  fs::remove(log.rotated(1));
  const auto unrotated = report({"--log", log.path.string()});
  INFO(unrotated.describe());
  CHECK(unrotated.exit_code == 3);
  CHECK(unrotated.err.find(log.path.string() + ":1: its prev is not the hash of the record before it") !=
        std::string::npos);
}

// Headless Chromium on the file `page`, with a profile of its own under `dir`. As root it needs
// --no-sandbox: its sandbox refuses to run as root. run() kills it by its PID on a timeout.
RunResult chromium(const fs::path& dir, const std::vector<std::string>& options, const fs::path& page) {
  std::vector<std::string> argv{std::string{kChromium}, "--headless", "--disable-gpu",
                                "--user-data-dir=" + (dir / "chromium-profile").string()};
  if (::geteuid() == 0) argv.emplace_back("--no-sandbox");
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("file://" + page.string());
  return run(argv, {}, kChromiumTimeout);
}

struct PngSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

// The size in a PNG's IHDR chunk, which must come first; std::nullopt when `png` is no PNG.
std::optional<PngSize> png_size(std::string_view png) {
  constexpr std::string_view kSignature{"\x89PNG\r\n\x1a\n", 8};
  if (png.size() < 24 || !png.starts_with(kSignature) || png.substr(12, 4) != "IHDR") return std::nullopt;
  const auto big_endian = [png](std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = at; i < at + 4; ++i) value = value << 8 | static_cast<unsigned char>(png[i]);
    return value;
  };
  return PngSize{big_endian(16), big_endian(20)};
}

TEST_CASE("conflicts report --format html renders in headless Chromium", "[integration][report][chromium]") {
  if (!fs::exists(kChromium)) {
    FAIL(std::string{kChromium} + " is missing: install Debian's chromium package (scripts/install-deps.sh does)");
  }
  const RotatedLog log;
  const auto page = log.dir.path() / "report.html";
  const auto result = report({"--log", log.path.string(), "--format", "html", "--out", page.string()});
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(read_file(page).starts_with("<!DOCTYPE html>\n"));

  const auto screenshot = log.dir.path() / "report.png";
  INFO("screenshot: " << screenshot.string());
  const auto shot = chromium(log.dir.path(), {"--screenshot=" + screenshot.string(), "--window-size=1280,1024"}, page);
  INFO(shot.describe());
  REQUIRE_FALSE(shot.timed_out);
  REQUIRE(shot.exit_code == 0);
  const auto png = read_file(screenshot);
  CHECK(png.size() > 20'000);  // a blank page of this size is about 6 kB
  const auto size = png_size(png);
  REQUIRE(size);
  CHECK(size->width == 1280);
  CHECK(size->height == 1024);

  const auto dom = chromium(log.dir.path(), {"--dump-dom"}, page);
  INFO(dom.describe());
  REQUIRE_FALSE(dom.timed_out);
  REQUIRE(dom.exit_code == 0);
  CHECK(occurrences(dom.out, "<svg class=\"timeline\"") == 1);
  // One bar per hour from 2024-05-01T12:00Z to 2024-05-02T10:00Z; rotated files read as one chain.
  CHECK(occurrences(dom.out, "<g class=\"bar\"") == 23);
  CHECK(dom.out.find("<title>2024-05-01 14:00 UTC: 1 conflict (mirror_unavailable 1)</title>") != std::string::npos);
  CHECK(occurrences(dom.out, "<section class=\"group ") == 2);
  CHECK(dom.out.find("<span class=\"table\">public.patients</span>") != std::string::npos);
  CHECK(dom.out.find("<span class=\"table\">public.visits</span>") != std::string::npos);
  CHECK(dom.out.find("Hash chain: intact, 6 records in ") != std::string::npos);
}

// psql through pgdual as application `application`, stopping at the first error.
RunResult psql_as(const Endpoint& endpoint, const std::string& application, const std::string& script) {
  ProcessOptions options;
  options.env = endpoint.libpq_env();
  options.env["PGAPPNAME"] = application;
  return run({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", script}, options, kChromiumTimeout);
}

// The text between the first `from` and the next `to` after it; empty when either is missing.
std::string between(const std::string& text, std::string_view from, std::string_view to) {
  const auto start = text.find(from);
  if (start == std::string::npos) return {};
  const auto end = text.find(to, start + from.size());
  return end == std::string::npos ? std::string{} : text.substr(start, end - start);
}

// Where the screenshot stays after the test, for a person to look at: beside the pgdual binary.
fs::path review_screenshot_path() {
  const auto dir = fs::path{PGDUAL_BINARY}.parent_path() / "report-screenshots";
  fs::create_directories(dir);
  return dir / "review-report.png";
}

// Who wrote each group, what its SQLSTATE means, what to do next, and the harmless apart.
TEST_CASE_METHOD(IntegrationTest, "The review page of real conflicts in headless Chromium",
                 "[integration][report][chromium][review]") {
  if (!fs::exists(kChromium)) {
    FAIL(std::string{kChromium} + " is missing: install Debian's chromium package (scripts/install-deps.sh does)");
  }
  const auto database = fresh_database("review");
  auto& proxy = start_proxy();
  const auto endpoint = through_proxy(database);
  check_succeeded(psql_as(endpoint, "setup", "CREATE TABLE patients (id int PRIMARY KEY, ward text)"));
  check_succeeded(psql_as(endpoint, "setup", "CREATE TABLE visits (id serial PRIMARY KEY, patient_id int)"));
  check_succeeded(psql_as(endpoint, "setup", "CREATE TABLE beds (id int PRIMARY KEY, label text)"));
  // The mirror lacks patient 1 and bed 1 and already has patient 2: the copies differ, as after
  // missed writes.
  static_cast<void>(backends().onprem.run_sql(database, "INSERT INTO patients VALUES (1, 'ward-7-north')"));
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO patients VALUES (2, 'ward-9-south')"));
  static_cast<void>(backends().onprem.run_sql(database, "INSERT INTO beds VALUES (1, 'ward-8-bed')"));

  // row_count twice (two applications), mirror_error 23505 once, nondeterministic (serial) once,
  // and row_count on beds, which reconcile then repairs and resolves.
  check_succeeded(psql_as(endpoint, "ward-chart", "UPDATE patients SET ward = 'ward-3-east' WHERE id = 1"));
  check_succeeded(psql_as(endpoint, "night-batch", "UPDATE patients SET ward = 'ward-4-west' WHERE id = 1"));
  check_succeeded(psql_as(endpoint, "ward-chart", "INSERT INTO patients VALUES (2, 'ward-5-annex')"));
  check_succeeded(psql_as(endpoint, "ward-chart", "INSERT INTO visits (patient_id) VALUES (1)"));
  check_succeeded(psql_as(endpoint, "ward-chart", "UPDATE beds SET label = 'ward-6-bed' WHERE id = 1"));
  REQUIRE(wait_for_conflicts(5, 30s).size() == 5);
  REQUIRE(proxy.stop() == 0);
  const auto reconciled = run({PGDUAL_BINARY, "reconcile", "--config", proxy.config_file().string(), "--database",
                               database, "--table", "beds", "--apply"},
                              {}, kChromiumTimeout);
  INFO(reconciled.describe());
  REQUIRE(reconciled.exit_code == 0);
  REQUIRE(reconciled.out.find("conflict log: 1 of 5 open conflicts resolved") != std::string::npos);

  const auto page = proxy.conflict_log().parent_path() / "review-report.html";
  const auto result = report({"--log", proxy.conflict_log().string(), "--format", "html", "--out", page.string()});
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);

  const auto screenshot = review_screenshot_path();
  fs::remove(screenshot);
  const auto shot =
      chromium(page.parent_path(), {"--screenshot=" + screenshot.string(), "--window-size=1280,2000"}, page);
  INFO(shot.describe());
  REQUIRE_FALSE(shot.timed_out);
  REQUIRE(shot.exit_code == 0);
  const auto size = png_size(read_file(screenshot));
  REQUIRE(size);
  CHECK(size->width == 1280);
  std::printf("review report screenshot: %s\n", screenshot.c_str());

  const auto dom_run = chromium(page.parent_path(), {"--dump-dom"}, page);
  INFO(dom_run.describe());
  REQUIRE_FALSE(dom_run.timed_out);
  REQUIRE(dom_run.exit_code == 0);
  const auto& dom = dom_run.out;

  // Three groups, each with who wrote it and a next step; the serious ones first, then the
  // harmless section, apart, with the nondeterministic insert.
  CHECK(occurrences(dom, "<section class=\"group ") == 4);
  CHECK(occurrences(dom, "<p class=\"next-step\"><b>Next step:</b> ") == 4);
  const auto serious = between(dom, "<h2 id=\"serious\">", "<div class=\"harmless\">");
  const auto harmless = between(dom, "<div class=\"harmless\">", "</div>");
  CHECK(serious.find("Serious: needs action (2 groups)</h2>") != std::string::npos);
  CHECK(occurrences(serious, "<section class=\"group serious\"") == 2);
  CHECK(harmless.find("Harmless (2 groups)</h2>") != std::string::npos);
  CHECK(harmless.find("Harmless means that nothing needs doing now.") != std::string::npos);
  CHECK(harmless.find("<section class=\"group expected\" data-kind=\"nondeterministic\">") != std::string::npos);
  CHECK(harmless.find("<span class=\"table\">visits</span>") != std::string::npos);
  const auto beds = between(harmless, "<section class=\"group resolved\" data-kind=\"row_count\">", "</section>");
  CHECK(beds.find("<span class=\"badge resolved\"><span aria-hidden=\"true\">\u2714</span> Resolved</span>") !=
        std::string::npos);
  CHECK(beds.find("<span class=\"table\">beds</span>") != std::string::npos);
  CHECK(beds.find("Nothing to do: every conflict of this group is resolved.") != std::string::npos);

  const auto row_count = between(serious, "data-kind=\"row_count\"", "</section>");
  // The records name a table as the statement did.
  CHECK(row_count.find("row_count</span> on <span class=\"table\">patients</span>") != std::string::npos);
  CHECK(row_count.find("<span class=\"database\">database <b>" + database + "</b></span><span class=\"user\">user "
                       "<b>app</b></span><span class=\"application\">application <b>night-batch</b> (1), "
                       "<b>ward-chart</b> (1)</span>") != std::string::npos);
  CHECK(row_count.find("pgdual reconcile --config FILE --database " + database +
                       " --table patients --apply") != std::string::npos);

  const auto mirror_error = between(dom, "data-kind=\"mirror_error\"", "</section>");
  CHECK(mirror_error.find("<span class=\"badge serious\"><span aria-hidden=\"true\">\u25B2</span> Serious</span>") !=
        std::string::npos);
  CHECK(mirror_error.find("<span class=\"database\">database <b>" + database + "</b></span><span class=\"user\">"
                          "user <b>app</b></span><span class=\"application\">application <b>ward-chart</b></span>") !=
        std::string::npos);
  CHECK(mirror_error.find("<code>23505</code> <b class=\"condition\">unique_violation</b>: a row with the same "
                          "unique key already exists") != std::string::npos);

  // Statements as normalized, never the values the clients sent.
  CHECK(dom.find("UPDATE patients SET ward = $1 WHERE id = $2") != std::string::npos);
  for (const auto* value : {"ward-7-north", "ward-9-south", "ward-3-east", "ward-4-west", "ward-5-annex", "ward-8-bed",
                            "ward-6-bed"}) {
    INFO(value);
    CHECK(dom.find(value) == std::string::npos);
  }
}

// errcodes.txt as PostgreSQL installs it: "23505    E    ERRCODE_UNIQUE_VIOLATION    unique_violation"
// for a code, "Section: Class 23 - Integrity Constraint Violation" for a class.
struct InstalledErrcodes {
  std::map<std::string, std::string> conditions;  ///< by code
  std::map<std::string, std::string> classes;     ///< by class, the heading in lower case
};

std::string lower_case(std::string_view text) {
  std::string lower{text};
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower;
}

InstalledErrcodes installed_errcodes() {
  const auto sharedir = run({pg_program("pg_config"), "--sharedir"}, {}, kReportTimeout);
  REQUIRE(sharedir.exit_code == 0);
  const auto text = read_file(fs::path{sharedir.out.substr(0, sharedir.out.find('\n'))} / "errcodes.txt");
  InstalledErrcodes errcodes;
  std::istringstream lines{text};
  constexpr std::string_view kSection = "Section: Class ";
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(kSection)) {
      const auto heading = line.substr(kSection.size() + 5);  // after "23 - "
      // "No Data (this is also a warning class per the SQL standard)": the name without its remark.
      errcodes.classes[line.substr(kSection.size(), 2)] = lower_case(heading.substr(0, heading.find(" (")));
      continue;
    }
    std::istringstream fields{line};
    std::string code, severity, macro, condition;
    if (line.size() > 5 && line[5] == ' ' && fields >> code >> severity >> macro >> condition) {
      errcodes.conditions[code] = condition;
    }
  }
  return errcodes;
}

TEST_CASE("The report's SQLSTATE names are those of the installed PostgreSQL", "[integration][report]") {
  const auto errcodes = installed_errcodes();
  REQUIRE(errcodes.conditions.size() > 200);
  REQUIRE(errcodes.classes.size() > 40);
  for (const auto& row : conflict::known_sqlstates()) {
    INFO(row.code);
    const auto installed = errcodes.conditions.find(std::string{row.code});
    REQUIRE(installed != errcodes.conditions.end());
    CHECK(installed->second == row.condition);
  }
  for (const auto& row : conflict::known_sqlstate_classes()) {
    INFO(row.code);
    const auto installed = errcodes.classes.find(std::string{row.code});
    REQUIRE(installed != errcodes.classes.end());
    CHECK(installed->second == lower_case(row.name));
  }
}

}  // namespace
}  // namespace pgdual::test
