// wal mode sends the mirror's connection nothing of the client's but the reads it serves: the
// session's own state (a SET, a temporary table) must still be what those reads run under.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 120s;
constexpr int kReads = 60;

/// `line`, `times` times over.
std::string repeated(const std::string& line, int times) {
  std::string lines;
  for (int i = 0; i < times; ++i) lines += line + "\n";
  return lines;
}

/// psql running `script` from a file: each statement a Query of its own, as an application sends them.
RunResult psql_script(const Endpoint& endpoint, const std::string& script) {
  const TempDir dir{"pgdual-read-state"};
  const auto file = dir.path() / "script.sql";
  write_file(file, script);
  return run_client({pg_program("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", file.string()},
                    endpoint, kClientTimeout);
}

TEST_CASE_METHOD(WalModeTest, "wal mode: after a SET the mirror serves the session's reads under the same "
                                      "setting, and a temporary table keeps them on the primary, with no conflict",
                 "[integration][wal_mode][read_state]") {
  auto settings = wal_settings();
  settings.routing = "read_percent = 100\n";
  start("wal_read_state",
        "CREATE SCHEMA ward; CREATE TABLE ward.beds (id int PRIMARY KEY); INSERT INTO ward.beds VALUES (1), (2); "
        "GRANT USAGE ON SCHEMA ward TO app; GRANT SELECT ON ward.beds TO app;",
        settings);
  // One session: the mirror's connection opens in the background, so the first reads may go to
  // the primary; a pause lets it in.
  const auto script = "SELECT pg_sleep(0.5);\nSET search_path = ward, public;\n" +
                      repeated("SELECT count(*) FROM beds;", kReads) +
                      "CREATE TEMP TABLE scratch (id int);\nINSERT INTO scratch VALUES (1), (2), (3);\n" +
                      repeated("SELECT count(*) FROM scratch;", 5);
  const auto result = psql_script(endpoint(), script);
  check_succeeded(result);
  CHECK(result.out == "\n" + repeated("2", kReads) + repeated("3", 5));
  const auto scans = wait_for_mirror_scans("beds", kReads / 2, 10s);
  INFO(scans << " of " << kReads << " reads answered by the mirror");
  CHECK(scans >= kReads / 2);  // under the session's SET: in the schema it named
  CHECK(wait_for_conflicts(1, 2s).empty());
}

TEST_CASE_METHOD(WalModeTest, "wal mode: a schema change to a temporary table stays on the primary, and a "
                                      "permanent table of the same name on the mirror keeps its rows",
                 "[integration][wal_mode][read_state][ddl]") {
  start("wal_temp_ddl",
        "CREATE TABLE cart (id int PRIMARY KEY); INSERT INTO cart VALUES (1), (2); GRANT ALL ON cart TO app;");
  const auto script = "CREATE TEMP TABLE cart (id int);\nINSERT INTO cart VALUES (7);\nCREATE INDEX ON cart (id);\n"
                      "ALTER TABLE cart ADD COLUMN note text;\nDROP TABLE cart;\nSELECT count(*) FROM cart;\n";
  const auto result = psql_script(endpoint(), script);
  check_succeeded(result);
  CHECK(result.out == "2\n");  // the permanent one, once the temporary one is gone
  CHECK(on_mirror("SELECT count(*) FROM cart") == "2\n");
  CHECK(wait_for_conflicts(1, 2s).empty());
  check_identical();
}

TEST_CASE_METHOD(WalModeTest, "wal mode: after a transaction that wrote and rolled back, the session's reads "
                                      "may go to the mirror at once: it committed nothing to wait for",
                 "[integration][wal_mode][read_state]") {
  auto settings = wal_settings();
  settings.routing = "read_percent = 100\n";
  start("wal_rollback_reads", "CREATE TABLE beds (id int PRIMARY KEY); GRANT ALL ON beds TO app;", settings);
  const auto script = "SELECT pg_sleep(0.5);\nBEGIN;\nINSERT INTO beds VALUES (1);\nROLLBACK;\n" +
                      repeated("SELECT count(*) FROM beds;", kReads);
  const auto result = psql_script(endpoint(), script);
  check_succeeded(result);
  const auto scans = wait_for_mirror_scans("beds", kReads / 2, 10s);
  INFO(scans << " of " << kReads << " reads answered by the mirror");
  CHECK(scans >= kReads / 2);
}

}  // namespace
}  // namespace pgdual::test
