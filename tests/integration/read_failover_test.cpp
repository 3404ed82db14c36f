// A read the cloud fails is answered by the primary (issue 20, item 1): the client sees exactly what
// a direct connection to the primary shows, and the cloud is held to account only when the primary
// answered otherwise. Real clients: psql and psycopg (simple Query, the unnamed statement and a
// named prepared statement), at read_percent 100.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 120s;

/// Reads `sql` argv[2] times through psycopg 3, rotating over the unnamed statement, a named
/// prepared statement and the simple Query protocol (a client-side cursor). Prints each read's
/// rows or SQLSTATE, then how many failed.
constexpr const char* kPsycopgReads = R"py(
import sys
import psycopg

sql, reads = sys.argv[1], int(sys.argv[2])
conn = psycopg.connect("sslmode=disable", autocommit=True)
simple = psycopg.ClientCursor(conn)
failed = 0
for read in range(reads):
    try:
        if read % 3 == 0:
            rows = conn.execute(sql, prepare=False).fetchall()
        elif read % 3 == 1:
            rows = conn.execute(sql, prepare=True).fetchall()
        else:
            simple.execute(sql)
            rows = simple.fetchall()
        print(read, rows)
    except psycopg.Error as error:
        failed += 1
        print(read, "error", error.sqlstate)
print("failed", failed)
)py";

ProxySettings all_reads_to_cloud(const std::string& brake) {
  auto settings = IntegrationTest::default_settings();
  settings.routing = "read_percent = 100\n";
  settings.extra = "\n[brake]\n" + brake;
  return settings;
}

/// `statement` `times` times in one psql session, errors not stopping it.
RunResult psql_reads(const Endpoint& endpoint, const TempDir& dir, const std::string& statement, int times) {
  std::string script;
  for (int read = 0; read < times; ++read) script += statement + "\n";
  const auto file = dir.path() / "reads.sql";
  write_file(file, script);
  return run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=0", "-f", file.string()}, endpoint, kClientTimeout);
}

RunResult psycopg_reads(const Endpoint& endpoint, const TempDir& dir, const std::string& sql, int times) {
  const auto script = dir.path() / "reads.py";
  write_file(script, kPsycopgReads);
  // Debian's interpreter: python3-psycopg is installed for it only.
  return run_client({"/usr/bin/python3", script.string(), sql, std::to_string(times)}, endpoint, kClientTimeout);
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "Reads of a table the cloud lacks never fail for the client, and trip the brake",
                 "[integration][steering][read_failover]") {
  const auto database = distinguishable_database(*this, "failover_missing");
  static_cast<void>(
      backends().onprem.run_sql(database,
                                "CREATE TABLE charts (id int PRIMARY KEY, note text); GRANT SELECT ON charts TO app; "
                                "INSERT INTO charts SELECT g, 'zq-note-' || g FROM generate_series(1, 5) g"));
  constexpr int kPsqlReads = 150;
  constexpr int kPsycopgReads = 150;
  // The brake may judge once every read below reached the cloud, and not before.
  auto& proxy = start_proxy(
      all_reads_to_cloud("window_seconds = 300\nmin_reads = " + std::to_string(kPsqlReads + kPsycopgReads) + "\n"));
  TempDir dir{"pgdual-read-failover"};
  const std::string read = "SELECT id, note FROM charts ORDER BY id";

  const auto psql_direct = psql_reads(direct(database), dir, read + ";", kPsqlReads);
  const auto psql_proxied = psql_reads(through_proxy(database), dir, read + ";", kPsqlReads);
  INFO(psql_proxied.describe());
  CHECK(psql_proxied.err.empty());
  check_same_output(psql_direct, psql_proxied);

  const auto psycopg_direct = psycopg_reads(direct(database), dir, read, kPsycopgReads);
  const auto psycopg_proxied = psycopg_reads(through_proxy(database), dir, read, kPsycopgReads);
  INFO(psycopg_proxied.describe());
  CHECK(psycopg_proxied.out.find("failed 0\n") != std::string::npos);
  check_same_output(psycopg_direct, psycopg_proxied);

  // Every read went to the cloud first: each is a conflict the primary's answer exposed.
  const auto recorded = wait_for_conflicts(kPsqlReads + kPsycopgReads, 20s);
  CHECK(recorded.size() >= static_cast<std::size_t>(kPsqlReads + kPsycopgReads));
  for (const auto& conflict : recorded) {
    REQUIRE(conflict.kind == conflict::ConflictKind::mirror_error);
    REQUIRE(conflict.mirror.error);
    CHECK(conflict.mirror.error->sqlstate == "42P01");
  }
  INFO(proxy.log());
  CHECK(proxy.log_shows_within("read brake: error rate 100.0%", 10s));
  CHECK(proxy.log().find("zq-note") == std::string::npos);
  auto client = client_of(proxy, database);
  CHECK(client.query_value(kWhereAmI) == "onprem");
}

TEST_CASE_METHOD(IntegrationTest,
                 "A client's own error at read_percent 100 is the primary's, and never trips the brake",
                 "[integration][steering][read_failover]") {
  const auto database = distinguishable_database(*this, "failover_client_error");
  auto& proxy = start_proxy(all_reads_to_cloud("error_rate_percent = 2\nwindow_seconds = 5\nmin_reads = 5\n"));
  TempDir dir{"pgdual-read-failover"};
  constexpr int kReads = 60;
  // A division by zero, and a table no server has: 42P01 is no error the brake excuses by its
  // class, so only the primary's same answer shows it to be the client's.
  for (const std::string read : {"SELECT 1/0", "SELECT * FROM nowhere"}) {
    INFO(read);
    check_same_output(psql_reads(direct(database), dir, read + ";", kReads),
                      psql_reads(through_proxy(database), dir, read + ";", kReads));
    check_same_output(psycopg_reads(direct(database), dir, read, kReads),
                      psycopg_reads(through_proxy(database), dir, read, kReads));
  }
  INFO(proxy.log());
  CHECK_FALSE(proxy.log_shows_within("read brake:", 3s));
  CHECK(conflicts().empty());
  auto client = client_of(proxy, database);
  for (int read = 0; read < 10; ++read) CHECK(client.query_value(kWhereAmI) == "cloud");
}

}  // namespace pgdual::test

namespace pgdual::test {

TEST_CASE_METHOD(IntegrationTest, "A result past the held part streams on from the cloud, an error after it too",
                 "[integration][steering][read_failover]") {
  const auto database = distinguishable_database(*this, "failover_large");
  start_proxy(all_reads_to_cloud("min_reads = 1000\n"));
  TempDir dir{"pgdual-read-failover"};
  // About 600 KiB of rows; then rows past the 64 KiB held back, and a division by zero at the end.
  for (const std::string read : {"SELECT g, repeat('x', 100) FROM generate_series(1, 5000) AS g",
                                 "SELECT g, 1 / (g - 20000) FROM generate_series(1, 20000) AS g"}) {
    INFO(read);
    check_same_output(psql_reads(direct(database), dir, read + ";", 3),
                      psql_reads(through_proxy(database), dir, read + ";", 3));
  }
  CHECK(conflicts().empty());
}

}  // namespace pgdual::test
