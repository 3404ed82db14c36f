// wal mode's unit marker (docs/wal-mirror.md, "Acknowledgement") and pgdual.emit_ddl ride in the
// client's own transactions: nothing the client sees may change because of them. Each test runs the
// same statements through pgdual and directly on the primary and compares what psql printed.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 60s;

/// psql sending each of `queries` as one simple Query, in one session, as psql -c and a driver's
/// execute of a string of several statements do.
RunResult psql_queries(const Endpoint& endpoint, const std::vector<std::string>& queries) {
  std::vector<std::string> argv{pg_program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                "-v", "VERBOSITY=verbose"};
  for (const auto& query : queries) {
    argv.emplace_back("-c");
    argv.push_back(query);
  }
  return run_client(argv, endpoint, kClientTimeout);
}

/// psql running `script` from a file: each statement a Query of its own.
RunResult psql_script(const Endpoint& endpoint, const std::string& script) {
  const TempDir dir{"pgdual-marker"};
  const auto file = dir.path() / "script.sql";
  write_file(file, script);
  return run_client({pg_program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", file.string()},
                    endpoint, kClientTimeout);
}

/// `text` with each "{id}" replaced by `id`.
std::string with_id(std::string text, int id) {
  const std::string placeholder = "{id}";
  for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder)) {
    text.replace(at, placeholder.size(), std::to_string(id));
  }
  return text;
}

class WalMarkerTest : public WalModeTest {
 protected:
  /// Runs `queries` (their "{id}" a fresh row id each time) directly, then through pgdual, and
  /// requires the same output, and the mirror to hold pgdual's row as soon as psql is done.
  void check_like_direct(const std::vector<std::string>& queries, const std::string& expected_out) {
    const int direct_id = next_id_++;
    const int proxied_id = next_id_++;
    std::vector<std::string> direct_queries;
    std::vector<std::string> proxied_queries;
    for (const auto& query : queries) {
      direct_queries.push_back(with_id(query, direct_id));
      proxied_queries.push_back(with_id(query, proxied_id));
    }
    const auto direct_run = psql_queries(direct(database()), direct_queries);
    const auto proxied = psql_queries(endpoint(), proxied_queries);
    INFO("direct: " << direct_run.describe() << "\nthrough pgdual: " << proxied.describe());
    check_same_output(direct_run, proxied);
    CHECK(proxied.out == expected_out);
    CHECK(on_mirror("SELECT count(*) FROM visits WHERE id = " + std::to_string(proxied_id)) == "1\n");
  }

 private:
  int next_id_ = 1;
};

TEST_CASE_METHOD(WalMarkerTest, "wal mode: a Query that opens a transaction with an isolation level, writes and "
                                "commits works as directly, and the mirror has its row once COMMIT returns",
                 "[integration][wal_marker]") {
  start("wal_marker_isolation", "CREATE TABLE visits (id int PRIMARY KEY); GRANT ALL ON visits TO app;");
  check_like_direct({"START TRANSACTION ISOLATION LEVEL SERIALIZABLE; INSERT INTO visits VALUES ({id}); "
                     "SELECT current_setting('transaction_isolation'); COMMIT"},
                    "serializable\n");
  check_like_direct({"BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; INSERT INTO visits VALUES ({id}); "
                     "SELECT current_setting('transaction_isolation'); COMMIT"},
                    "repeatable read\n");
  check_like_direct({"BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE; INSERT INTO visits VALUES ({id}); "
                     "SELECT current_setting('transaction_isolation'); COMMIT"},
                    "repeatable read\n");
  check_like_direct({"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; INSERT INTO visits VALUES ({id}); "
                     "SELECT current_setting('transaction_isolation')"},
                    "serializable\n");
  check_like_direct({"SET default_transaction_read_only = on",
                     "BEGIN; SET TRANSACTION READ WRITE; INSERT INTO visits VALUES ({id}); "
                     "SELECT current_setting('transaction_read_only'); COMMIT"},
                    "off\n");
  CHECK(wait_for_conflicts(1, 1s).empty());
}

TEST_CASE_METHOD(WalMarkerTest, "wal mode: a Query that imports a snapshot with SET TRANSACTION SNAPSHOT, writes "
                                "and commits works as directly",
                 "[integration][wal_marker]") {
  start("wal_marker_snapshot", "CREATE TABLE visits (id int PRIMARY KEY); GRANT ALL ON visits TO app;");
  // A transaction on the primary exports its snapshot and stays open while others import it.
  const TempDir dir{"pgdual-marker-snapshot"};
  const auto snapshot_file = dir.path() / "snapshot";
  const auto script = dir.path() / "export.sql";
  write_file(script, "BEGIN ISOLATION LEVEL REPEATABLE READ;\n\\o " + snapshot_file.string() +
                         "\nSELECT pg_export_snapshot();\n\\o\nSELECT pg_sleep(60);\n");
  ProcessOptions as_app;
  as_app.env = direct(database()).libpq_env();
  Subprocess exporter{{pg_program("psql"), "-X", "-q", "-A", "-t", "-f", script.string()}, as_app,
                      dir.path() / "export.log", dir.path() / "export.log"};
  std::string snapshot;
  REQUIRE(wait_until(
      [&] {
        std::ifstream in{snapshot_file};
        return static_cast<bool>(std::getline(in, snapshot)) && !snapshot.empty();
      },
      20s));
  check_like_direct({"BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '" + snapshot +
                     "'; INSERT INTO visits VALUES ({id}); SELECT count(*) FROM visits; COMMIT"},
                    "1\n");  // the snapshot is older than the direct run's row: the transaction sees its own alone
  exporter.send_signal(SIGTERM);
  static_cast<void>(exporter.wait_for(10s));
}

TEST_CASE_METHOD(WalMarkerTest, "wal mode: an extended-protocol pipeline that opens a SERIALIZABLE transaction, "
                                "writes and commits before one Sync works, and the mirror has its row once it is done",
                 "[integration][wal_marker]") {
  start("wal_marker_pipeline", "CREATE TABLE visits (id int PRIMARY KEY); GRANT ALL ON visits TO app;");
  // pgbench sends a pipeline's statements as Parse, Bind, Describe and Execute, with one Sync at its end.
  const TempDir dir{"pgdual-marker-pipeline"};
  const auto script = dir.path() / "pipeline.sql";
  write_file(script, "\\startpipeline\nBEGIN ISOLATION LEVEL SERIALIZABLE;\nSET TRANSACTION READ WRITE;\n"
                     "INSERT INTO visits VALUES (7);\nCOMMIT;\n\\endpipeline\n");
  const auto run = run_client({pg_program("pgbench"), "-n", "-M", "extended", "-t", "1", "-f", script.string()},
                              endpoint(), kClientTimeout);
  INFO(run.describe());
  CHECK(run.exit_code == 0);
  CHECK(on_mirror("SELECT count(*) FROM visits WHERE id = 7") == "1\n");
}

TEST_CASE_METHOD(WalMarkerTest, "wal mode: a READ ONLY transaction in one Query reads as directly, and an error "
                                "after the marker in a Query's text points where it would directly",
                 "[integration][wal_marker]") {
  start("wal_marker_read_only",
        "CREATE TABLE visits (id int PRIMARY KEY); INSERT INTO visits VALUES (-1); GRANT ALL ON visits TO app;");
  const std::vector<std::string> queries{
      "BEGIN READ ONLY; SELECT count(*) FROM visits; COMMIT",
      "BEGIN READ ONLY; INSERT INTO visits VALUES (-2); COMMIT",
      "BEGIN ISOLATION LEVEL SERIALIZABLE; INSERT INTO visits VALUES (-3); SELECT missing FROM visits; COMMIT"};
  for (const auto& query : queries) {
    const auto direct_run = psql_queries(direct(database()), {query});
    const auto proxied = psql_queries(endpoint(), {query});
    INFO("direct: " << direct_run.describe() << "\nthrough pgdual: " << proxied.describe());
    check_same_output(direct_run, proxied);
  }
}

TEST_CASE_METHOD(WalMarkerTest, "wal mode: a DDL through pgdual leaves the session's lastval() as it was, and one "
                                "in a read-only transaction fails with the primary's own error about it",
                 "[integration][wal_marker]") {
  start("wal_marker_ddl_session",
        "CREATE TABLE counters (id int GENERATED ALWAYS AS IDENTITY (START WITH 1000) PRIMARY KEY); "
        "GRANT ALL ON counters TO app; GRANT USAGE, SELECT ON SEQUENCE counters_id_seq TO app;");
  const auto lastval = psql_script(endpoint(), "INSERT INTO counters DEFAULT VALUES;\nCREATE TABLE extra_a ();\n"
                                               "SELECT lastval();\n");
  INFO(lastval.describe());
  CHECK(lastval.out == "1000\n");
  CHECK(on_mirror("SELECT count(*) FROM pg_tables WHERE tablename = 'extra_a'") == "1\n");

  const std::vector<std::vector<std::string>> read_only{
      {"BEGIN READ ONLY", "CREATE TABLE ro_a ()"},
      {"SET default_transaction_read_only = on", "CREATE TABLE ro_b ()"},
      {"BEGIN", "SET TRANSACTION READ ONLY", "ALTER TABLE counters ADD COLUMN note text"}};
  for (const auto& queries : read_only) {
    const auto direct_run = psql_queries(direct(database()), queries);
    const auto proxied = psql_queries(endpoint(), queries);
    INFO("direct: " << direct_run.describe() << "\nthrough pgdual: " << proxied.describe());
    check_same_output(direct_run, proxied);
    CHECK(proxied.err.find("25006") != std::string::npos);
  }
  CHECK(wait_for_conflicts(1, 1s).empty());
}

TEST_CASE_METHOD(WalMarkerTest, "wal mode: a schema change after the statements that open and set up its "
                                "transaction, in one Query, reaches the mirror with the rows written after it",
                 "[integration][wal_marker]") {
  start("wal_marker_ddl_after_begin", "CREATE SCHEMA ward; GRANT ALL ON SCHEMA ward TO app;");
  const auto created = psql_queries(
      endpoint(), {"BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL search_path = ward; "
                   "CREATE TABLE beds (id int PRIMARY KEY); INSERT INTO beds VALUES (1), (2); COMMIT",
                   "SET search_path = ward; ALTER TABLE beds ADD COLUMN note text; INSERT INTO beds VALUES (3, 'x')"});
  INFO(created.describe());
  check_succeeded(created);
  CHECK(on_mirror("SELECT string_agg(id || ':' || coalesce(note, '-'), ',' ORDER BY id) FROM ward.beds") ==
        "1:-,2:-,3:x\n");
  CHECK(wait_for_conflicts(1, 1s).empty());
}

TEST_CASE_METHOD(WalMarkerTest, "wal mode: two SERIALIZABLE transactions carrying DDL at the same time both commit, "
                                "as directly",
                 "[integration][wal_marker]") {
  start("wal_marker_serializable_ddl", "CREATE TABLE visits (id int PRIMARY KEY); GRANT ALL ON visits TO app;");
  const auto script = [](const std::string& name) {
    return "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE " + name + "_1 ();\nSELECT pg_sleep(0.6);\n" +
           "CREATE TABLE " + name + "_2 ();\nSELECT pg_sleep(1);\nCOMMIT;\n";
  };
  auto first = std::async(std::launch::async, [&] { return psql_script(endpoint(), script("ser_a")); });
  std::this_thread::sleep_for(300ms);
  auto second = std::async(std::launch::async, [&] { return psql_script(endpoint(), script("ser_b")); });
  const auto first_run = first.get();
  const auto second_run = second.get();
  INFO("first: " << first_run.describe() << "\nsecond: " << second_run.describe());
  check_succeeded(first_run);
  check_succeeded(second_run);
  CHECK(on_mirror("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'ser\\_%'") == "4\n");
}

/// `line`, `times` times over.
std::string repeated(const std::string& line, int times) {
  std::string lines;
  for (int i = 0; i < times; ++i) lines += line + "\n";
  return lines;
}

TEST_CASE_METHOD(WalMarkerTest, "wal mode: DISCARD ALL, as a pooler sends it, lets the mirror serve the session's "
                                "reads again, under the settings it reset, and after the session's own writes",
                 "[integration][wal_marker][read_state]") {
  constexpr int kReads = 60;
  auto settings = wal_settings();
  settings.routing = "read_percent = 100\n";
  start("wal_marker_discard",
        "CREATE SCHEMA ward; CREATE TABLE ward.beds (id int PRIMARY KEY); INSERT INTO ward.beds VALUES (1), (2); "
        "CREATE TABLE public.beds (id int PRIMARY KEY); INSERT INTO public.beds VALUES (1), (2), (3), (4), (5); "
        "GRANT USAGE ON SCHEMA ward TO app; GRANT SELECT ON ward.beds TO app; GRANT ALL ON public.beds TO app;",
        settings);
  // Every state of the session's that keeps its reads on the primary, then DISCARD ALL.
  const auto script = "SELECT pg_sleep(0.5);\nSET search_path = ward, public;\nLISTEN ward_changes;\n"
                      "CREATE TEMP TABLE scratch (id int);\nPREPARE counted AS SELECT count(*) FROM beds;\n"
                      "EXECUTE counted;\nDISCARD ALL;\n" +
                      repeated("SELECT count(*) FROM beds;", kReads) +
                      "INSERT INTO beds VALUES (6);\nSELECT count(*) FROM beds;\n";
  const auto result = psql_script(endpoint(), script);
  check_succeeded(result);
  CHECK(result.out == "\n2\n" + repeated("5", kReads) + "6\n");
  const auto scans = wait_for_mirror_scans("beds", kReads / 2, 10s);
  INFO(scans << " of " << kReads << " reads answered by the mirror");
  CHECK(scans >= kReads / 2);
  CHECK(wait_for_conflicts(1, 1s).empty());
}

}  // namespace
}  // namespace pgdual::test
