// Shadow reads (docs/read-ramp.md, "Shadow reads") with two real servers in wal mode: reads the
// primary answers run on the cloud too, off the client's path, and what the cloud answers
// otherwise is recorded, without noise from answers that vary by themselves.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/route/shadow_judgement.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 180s;

constexpr std::string_view kBeds = R"sql(
CREATE TABLE beds (id int PRIMARY KEY, ward int NOT NULL, patient text NOT NULL);
INSERT INTO beds SELECT i, i % 4, 'patient-' || i FROM generate_series(1, 40) i;
CREATE VIEW lucky AS SELECT id, random() AS draw FROM beds;
GRANT SELECT, INSERT ON beds TO app;
GRANT SELECT ON lucky TO app;
)sql";

/// Reads through pgdual with psycopg (its extended protocol: after five runs a statement is
/// prepared by name), checking each answer against the primary's rows; prints the reads done.
constexpr std::string_view kReads = R"py(
import sys
import time
import psycopg

statements = sys.argv[1:]
with psycopg.connect("", autocommit=True) as conn:
    conn.execute("SELECT 1")
    time.sleep(0.5)  # pgdual opens the session's cloud connection in the background
    expected = {s: conn.execute(s, (1,)).fetchall() for s in statements}
    done = 0
    for round in range(60):
        time.sleep(0.05)  # a clinician's pace: the cloud's second look at a differing answer comes 250 ms on
        for s in statements:
            rows = conn.execute(s, (1,)).fetchall()
            if s.startswith("SELECT id, patient") and rows != expected[s]:
                print(f"read {done} of {s!r} answered otherwise", file=sys.stderr)
                sys.exit(1)
            done += 1
    print(done)
)py";

std::string read_file_text(const std::filesystem::path& file) {
  std::ifstream in{file};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class ShadowReadsTest : public WalModeTest {
 protected:
  /// Every eligible read shadowed, none served by the cloud, and a brake that judges 10 reads,
  /// whose latency check trips at `latency_ratio` (0: off).
  ProxySettings shadow_settings(std::string_view latency_ratio = "0") {
    auto settings = wal_settings();
    settings.routing = "read_percent = 0\nshadow_percent = 100\n";
    settings.extra = "[brake]\nmin_reads = 10\nlatency_ratio = " + std::string{latency_ratio} +
                     "\n\n[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port_) + "\n";
    return settings;
  }

  [[nodiscard]] std::string metrics_text() const { return http_get(metrics_port_, "/metrics").out; }

  /// The sum of pgdual_shadow_reads_total's samples with `result`, over every fingerprint.
  std::uint64_t shadow_reads(std::string_view result) const {
    const auto label = "result=\"" + std::string{result} + "\"} ";
    std::uint64_t sum = 0;
    std::istringstream lines{metrics_text()};
    for (std::string line; std::getline(lines, line);) {
      const auto at = line.find(label);
      if (line.starts_with("pgdual_shadow_reads_total{") && at != std::string::npos) {
        sum += std::stoull(line.substr(at + label.size()));
      }
    }
    return sum;
  }

  /// psql on the admin console, as an operator types it.
  RunResult console(const std::string& command) {
    return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command},
                      through_proxy("pgdual"), kClientTimeout);
  }

  RunResult reads(const std::vector<std::string>& statements) {
    std::vector<std::string> argv{"/usr/bin/python3", "-c", std::string{kReads}};
    argv.insert(argv.end(), statements.begin(), statements.end());
    return run_client(argv, endpoint(), kClientTimeout);
  }

 private:
  std::uint16_t metrics_port_ = free_loopback_port();
};

TEST_CASE_METHOD(ShadowReadsTest, "Shadow reads find a row the cloud lacks: the client gets the primary's answers, "
                                  "a read_mismatch is recorded without row data, and the brake trips",
                 "[integration][shadow]") {
  auto settings = shadow_settings();
  settings.routing = "read_percent = 0\nshadow_percent = 0\n";
  settings.extra += "\n[admin]\nusers = [\"app\"]\n";
  start("shadow_mismatch", std::string{kBeds}, settings);
  const auto set = console("SET shadow_percent = 100");
  check_succeeded(set);
  CHECK(set.err.find("shadow_percent 0 -> 100") != std::string::npos);
  static_cast<void>(on_mirror("DELETE FROM beds WHERE id = 5"));  // ward 1 lacks a bed on the cloud
  const auto result = reads({"SELECT id, patient FROM beds WHERE ward = %s ORDER BY id",
                             "SELECT id, patient FROM beds WHERE ward = %s + 1"});
  check_succeeded(result);
  const auto records = wait_for_conflicts(1, 10s);
  REQUIRE_FALSE(records.empty());
  const auto& record = records.front();
  CHECK(record.kind == conflict::ConflictKind::read_mismatch);
  CHECK(record.primary.rows_returned == 10);
  CHECK(record.mirror.rows_returned == 9);
  CHECK(record.tables == std::vector<std::string>{"beds"});
  // Ward 2's reads match: only ward 1's statement is recorded, and never a patient's name.
  for (const auto& each : records) CHECK(each.statement_fingerprint == record.statement_fingerprint);
  CHECK(read_file_text(proxy().conflict_log()).find("patient-") == std::string::npos);
  CHECK(proxy().log_shows_within("read brake:", 10s));
  // The console: the statement's shape, its findings, and the totals.
  const auto shadows = console("SHOW SHADOWS");
  check_succeeded(shadows);
  INFO(shadows.out);
  CHECK(shadows.out.find(record.statement_fingerprint + "|SELECT id, patient FROM beds WHERE ward = $1 ORDER BY id|") !=
        std::string::npos);
  const auto stats = console("SHOW STATS");
  INFO(stats.out);
  CHECK(stats.out.find("shadow_percent|100%\n") != std::string::npos);
  CHECK(stats.out.find("shadow_mismatched|") != std::string::npos);
  CHECK(stats.out.find("shadow_mismatched|0\n") == std::string::npos);
}

TEST_CASE_METHOD(ShadowReadsTest, "Shadow reads make no noise of answers that vary by themselves: volatile "
                                  "functions, a view over random(), rows written meanwhile",
                 "[integration][shadow]") {
  start("shadow_quiet", std::string{kBeds}, shadow_settings());
  // A session waits for the database's slot: what the writer commits from then on reaches the cloud.
  check_succeeded(run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, endpoint(), kClientTimeout));
  // A writer straight to the primary, all along, a statement at a time (the primary wakes its WAL
  // senders at the end of a statement): the cloud applies each row a moment later.
  std::thread writer{[this] {
    for (int id = 1000; id < 1010; ++id) {
      static_cast<void>(on_primary("INSERT INTO beds VALUES (" + std::to_string(id) + ", 1, 'patient-x')"));
      std::this_thread::sleep_for(300ms);
    }
  }};
  const auto result = reads({"SELECT count(*) FROM beds WHERE ward >= %s", "SELECT id, now() FROM beds WHERE id = %s",
                             "SELECT * FROM lucky WHERE id > %s"});
  writer.join();
  check_succeeded(result);
  CHECK(wait_until_identical(5s));
  CHECK(wait_for_conflicts(1, 3s).empty());
  CHECK_FALSE(proxy().log_shows_within("read brake:", 1s));
  // The view's answers varied until it was shadowed no more; now() was never shadowed; the count,
  // read while rows came in, was compared all along, its differences settled or varied.
  INFO(metrics_text());
  CHECK(shadow_reads("varied") >= proxy::ShadowLedger::kVariedToExclude);
  CHECK(shadow_reads("matched") + shadow_reads("settled") >= 10);
  // A lone mismatch, a row committed between the two servers' snapshots, may be counted; none
  // repeats, so none is recorded (above) or counted against the cloud.
  CHECK(shadow_reads("mismatched") <= 2);
}

TEST_CASE_METHOD(ShadowReadsTest, "Shadow reads trip the brake on a cloud slower than the primary for the same "
                                  "statements (an index it lacks), while no read goes there",
                 "[integration][shadow]") {
  start("shadow_slow",
        "CREATE TABLE visits (id int, ward int NOT NULL); "
        "INSERT INTO visits SELECT i, i % 50 FROM generate_series(1, 200000) i; "
        "CREATE UNIQUE INDEX visits_id ON visits (id); ANALYZE visits; GRANT SELECT ON visits TO app;",
        shadow_settings("4"));
  static_cast<void>(on_mirror("DROP INDEX visits_id"));  // every lookup scans the table there
  const auto result = reads({"SELECT id, ward FROM visits WHERE id = %s"});
  check_succeeded(result);
  CHECK(proxy().log_shows_within("read brake: p99 of the mirror's latency over the primary's", 10s));
  CHECK(wait_for_conflicts(1, 1s).empty());  // the answers agree: slow is not wrong
}

}  // namespace
}  // namespace pgdual::test
