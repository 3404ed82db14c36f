// Issue 20, item 6: regression-style psql scripts through pgdual in wal mode at read_percent 50
// print exactly what they print on a plain PostgreSQL server, the brake stays off, the mirror
// takes its share of the eligible reads to the end, and both servers hold the same data after.
//
// The scripts (tests/integration/data/regress/*.sql) are our own, written in the style of
// PostgreSQL's src/test/regress: ordered reads, deliberate errors (undefined objects, bad casts,
// division by zero, constraint violations, syntax errors), transactions with savepoints,
// BEGIN READ ONLY blocks, PREPARE/EXECUTE, cursors, CTEs, window functions, views, plpgsql,
// COPY TO STDOUT, temporary tables and psql variables, and \gexec tails of many small reads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "conflict/compare.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kScriptTimeout = 25s;  // each takes well under a second

const std::filesystem::path kScripts = std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests/integration/data/regress";

/// The scripts, in name order, as pg_regress runs a schedule.
std::vector<std::filesystem::path> scripts() {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator{kScripts}) {
    if (entry.path().extension() == ".sql") found.push_back(entry.path());
  }
  std::ranges::sort(found);
  return found;
}

/// `script` run as pg_regress runs one: psql -X -a -q reading it from its standard input, with
/// no ON_ERROR_STOP, standard error merged into standard output.
RunResult run_script(const std::filesystem::path& script, const Endpoint& endpoint) {
  ProcessOptions options;
  options.env = endpoint.libpq_env();
  options.env["PGTZ"] = "UTC";
  options.env["PGDATESTYLE"] = "ISO, MDY";
  options.env["PGAPPNAME"] = "regress/" + script.stem().string();
  options.stdin_file = script;
  return run({"/bin/sh", "-c", "exec \"$0\" -X -a -q 2>&1", pg_program("psql")}, options, kScriptTimeout);
}

/// diff -u of the two outputs, for the failure message.
std::string unified_diff(const std::string& direct, const std::string& proxied) {
  TempDir dir{"pgdual-regress-diff"};
  write_file(dir.path() / "direct", direct);
  write_file(dir.path() / "through-pgdual", proxied);
  ProcessOptions options;
  options.working_dir = dir.path();
  return run({"diff", "-u", "direct", "through-pgdual"}, options, 30s).out;
}

/// The value of `series` (name and labels) in a /metrics text; 0 when absent.
double sample_of(const std::string& metrics, const std::string& series) {
  std::istringstream lines{metrics};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

/// The read counters of /metrics after a script.
struct ReadCounts {
  std::string after;
  double mirror = 0;     ///< eligible reads the mirror answered
  double primary = 0;    ///< eligible reads the primary answered (in the mirror's place too)
  double failovers = 0;  ///< reads steered to the mirror that the primary answered
  double brake_trips = 0;
  double braked = 0;

  /// Reads steering sent to the mirror: those it answered and those it failed (the primary answered
  /// them in its place, reads_total counting them as the primary's).
  [[nodiscard]] double steered() const { return mirror + failovers; }
  [[nodiscard]] double eligible() const { return mirror + primary; }

  [[nodiscard]] std::string describe() const {
    std::ostringstream text;
    text << after << ": mirror " << mirror << ", primary " << primary << ", failovers " << failovers
         << ", steered to the mirror " << steered() << " of " << eligible() << " ("
         << (eligible() > 0 ? 100 * steered() / eligible() : 0) << "%), brake trips " << brake_trips
         << (braked > 0 ? ", braked" : "");
    return text.str();
  }
};

ReadCounts read_counts(std::uint16_t metrics_port, const std::string& after) {
  const auto metrics = http_get(metrics_port, "/metrics");
  INFO(metrics.describe());
  REQUIRE(metrics.out.starts_with("200\n"));
  return ReadCounts{.after = after,
                    .mirror = sample_of(metrics.out, "pgdual_reads_total{served_by=\"mirror\"}"),
                    .primary = sample_of(metrics.out, "pgdual_reads_total{served_by=\"primary\"}"),
                    .failovers = sample_of(metrics.out, "pgdual_read_failovers_total"),
                    .brake_trips = sample_of(metrics.out, "pgdual_brake_trips_total"),
                    .braked = sample_of(metrics.out, "pgdual_read_brake_engaged")};
}

/// Whether `observed` of `trials` Bernoulli draws at `p` is within four standard deviations of
/// the mean: a false alarm about once in 16,000 runs.
bool within_four_sigma(double observed, double trials, double p) {
  return std::abs(observed - trials * p) <= 4 * std::sqrt(trials * p * (1 - p));
}

}  // namespace

TEST_CASE_METHOD(WalModeTest, "Regression-style scripts through pgdual at read_percent 50 print what they print on a "
                              "plain server, the brake stays off, and the mirror serves half the eligible reads",
                 "[integration][read_regress]") {
  // The direct run: a plain server, not one pgdual has prepared (no publication, no event trigger).
  PgCluster plain{"plain"};
  plain.create_role(kAppUser, kAppPassword);

  auto settings = wal_settings();
  const auto metrics_port = free_loopback_port();
  settings.routing = "read_percent = 50\n";
  settings.extra = "\n[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port) +
                   "\n\n[sql]\nread_only_functions = [\"daily_dose\", \"stock_level\"]\n";
  start("read_regress", "SELECT 1", settings);
  // As a superuser, init installs the event trigger that gives tables made later without a primary
  // key a replica identity: the primary must take their UPDATE and DELETE.
  run_pgdual_init(database(), settings, backends().onprem.superuser().user);
  plain.create_database(database(), kAppUser);
  const Endpoint straight{.host = "127.0.0.1", .port = plain.port(), .user = kAppUser, .password = kAppPassword,
                          .database = database()};

  const auto all = scripts();
  REQUIRE(all.size() >= 3);
  std::vector<ReadCounts> samples;
  for (const auto& script : all) {
    const auto name = script.filename().string();
    const auto direct = run_script(script, straight);
    const auto proxied = run_script(script, endpoint());
    samples.push_back(read_counts(metrics_port, name));
    INFO(name);
    {
      INFO("direct: " << direct.describe());
      REQUIRE_FALSE(direct.timed_out);
      REQUIRE(direct.exit_code == 0);
    }
    const bool same_output = proxied.out == direct.out;
    INFO("through pgdual, diff -u direct through-pgdual:\n"
         << (same_output ? std::string{"(none)"} : unified_diff(direct.out, proxied.out)));
    CHECK_FALSE(proxied.timed_out);
    CHECK(proxied.exit_code == direct.exit_code);
    CHECK(same_output);
  }

  std::string progress;
  for (const auto& sample : samples) progress += sample.describe() + "\n";
  INFO("reads after each script:\n" << progress);
  std::string recorded;
  const auto records = std::filesystem::exists(proxy().conflict_log()) ? conflicts()
                                                                      : std::vector<conflict::ConflictRecord>{};
  for (const auto& record : records) {
    recorded += std::string{conflict::to_string(record.kind)} + " " + record.statement_normalized + "\n";
  }
  INFO("conflicts on record:\n" << recorded);
  // Both servers hold the same data: a read the mirror fails where the primary succeeds is a
  // conflict pgdual should never have to record here.
  CHECK(records.empty());
  const auto& last = samples.back();
  CHECK(last.brake_trips == 0);
  CHECK(last.braked == 0);
  CHECK(proxy().log().find("read brake:") == std::string::npos);
  // Enough reads for 4 standard deviations to be a few points: about 7 at 700 reads.
  CHECK(last.eligible() >= 700);
  // Each eligible read is a draw at 50%: those steered to the mirror are the reads it answered and
  // those it failed over to the primary; all of them are pgdual_reads_total, which must count
  // eligible reads only (a read the primary alone may serve, a catalog query or a read inside a
  // transaction that writes, is no draw and would pull the fraction down).
  CHECK(within_four_sigma(last.steered(), last.eligible(), 0.5));

  // The mirror holds what the primary holds, and the proxied run wrote what the direct one did.
  const auto waited = wait_until_identical(20s);
  INFO("tables differing between onprem and cloud:\n" << lines(differing()));
  CHECK(waited);
  std::vector<std::string> others;
  for (int attempt = 0; attempt < 30; ++attempt) {  // sequences follow within mirror.sequence_sync_ms
    others = differing_sequences_and_large_objects(database(), backends().onprem, mirror());
    if (others.empty()) break;
    std::this_thread::sleep_for(200ms);
  }
  INFO("sequences differing between onprem and cloud:\n" << lines(others));
  CHECK(others.empty());
  const auto against_plain = differing_tables(database(), plain, backends().onprem);
  INFO("tables differing between the plain server's run and onprem's:\n" << lines(against_plain));
  CHECK(against_plain.empty());
}

}  // namespace pgdual::test
