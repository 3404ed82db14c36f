// `pgdual verify` at one point in time, against pgdual serve in wal mode with two real servers:
// identical every run under a pgbench load, with no re-check; a row changed on the mirror alone
// named by its key; and the apply's hold, which ends when its console session ends, or by itself.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "conflict/jobs/verify_command.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kClientTimeout = 60s;

/// A table pgbench never touches, where the test changes one row on the mirror alone.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE kept (id int PRIMARY KEY, note text);
INSERT INTO kept SELECT g, 'note ' || g FROM generate_series(1, 100) g;
GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
)sql";

struct VerifyRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string text_of(std::FILE* file) {
  std::string text;
  std::rewind(file);
  for (int c = std::fgetc(file); c != EOF; c = std::fgetc(file)) text.push_back(static_cast<char>(c));
  std::fclose(file);
  return text;
}

/// pgdual verify, in this process, with pgdual's own configuration file.
VerifyRun verify(const ProxyProcess& proxy, const std::string& database, std::vector<std::string> options) {
  std::vector<std::string> words{"--config", proxy.config_file().string(), "--database", database, "--no-progress"};
  words.insert(words.end(), options.begin(), options.end());
  std::vector<char*> args;
  for (auto& word : words) args.push_back(word.data());
  auto* out = std::tmpfile();
  auto* err = std::tmpfile();
  VerifyRun run;
  run.exit_code = jobs::run_verify_command(args, out, err);
  run.out = text_of(out);
  run.err = text_of(err);
  return run;
}

/// How long the mirror's apply held, and COMMITs waited, as verify's first line says it:
/// "held 1.234 ms, COMMITs waiting for it 0.321 ms of that".
std::string held_of(const std::string& out) {
  const auto from = out.find("apply held ");
  const auto to = out.find(" of that)");
  return from == std::string::npos || to == std::string::npos ? std::string{} : out.substr(from + 11, to - from - 11);
}

class VerifyPointTest : public WalModeTest {
 protected:
  static ProxySettings settings() {
    auto settings = wal_settings();
    settings.extra = "\n[admin]\nusers = [\"app\"]\n";
    return settings;
  }

  /// psql on the admin console, in the background, running `script`.
  Subprocess console(const std::string& script, const TempDir& dir, const std::string& name) {
    const auto file = dir.path() / (name + ".sql");
    write_file(file, script);
    ProcessOptions options;
    options.env = proxy_endpoint("pgdual").libpq_env();
    const auto log = dir.path() / (name + ".log");
    return Subprocess{{pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-f", file.string()}, options, log, log};
  }

  /// How long an insert through pgdual takes to be answered: it waits for the mirror's apply.
  std::chrono::milliseconds timed_insert(int id) const {
    const auto started = Clock::now();
    check_succeeded(run_client({pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c",
                                "INSERT INTO kept VALUES (" + std::to_string(id) + ", 'late')"},
                               endpoint(), kClientTimeout));
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  }

  [[nodiscard]] Endpoint proxy_endpoint(const std::string& name) {
    return proxy().endpoint(kAppUser, kAppPassword, name);
  }
};

TEST_CASE_METHOD(VerifyPointTest, "verify at one point says identical under pgbench load, every run, and names a "
                                  "row changed on the mirror alone",
                 "[integration][verify_point][pgbench]") {
  start("verify_point", std::string{kSchema}, settings());
  make_pgbench_tables();
  TempDir dir{"pgdual-verify-point"};
  ProcessOptions options;
  options.env = endpoint().libpq_env();
  const auto pgbench_log = dir.path() / "pgbench.log";
  Subprocess pgbench{{pg_program("pgbench"), "--no-vacuum", "--client=4", "--jobs=1", "--time=25"},
                     options,
                     pgbench_log,
                     pgbench_log};
  std::this_thread::sleep_for(1s);  // under way

  std::string held;
  for (int run = 1; run <= 5; ++run) {
    // Every other run with workers of their own, which import the same snapshots.
    const auto result = verify(proxy(), database(), {"--jobs", run % 2 == 0 ? "3" : "1"});
    INFO("run " << run << "\n" << result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.err.empty());  // the first attempt held the apply at its point
    CHECK(result.out.starts_with("at one point: primary WAL position "));
    CHECK(result.out.find("verify: identical\n") != std::string::npos);
    CHECK(result.out.find("re-checking") == std::string::npos);
    held += "\n  " + held_of(result.out);
  }
  std::fprintf(stderr, "verify at one point under pgbench -c 4: the apply held:%s\n", held.c_str());

  static_cast<void>(on_mirror("UPDATE kept SET note = 'changed on the mirror' WHERE id = 17"));
  const auto changed = verify(proxy(), database(), {"--at-one-point"});
  INFO(changed.out << changed.err);
  CHECK(changed.exit_code == 1);
  CHECK(changed.out.find("public.kept: differs, 100 rows, compared by key (id)\n"
                         "  differing rows: 1 key\n"
                         "    17\n") != std::string::npos);
  CHECK(changed.out.find("5 tables: 4 identical, 1 differs;") != std::string::npos);

  REQUIRE(pgbench.wait_for(60s) == 0);
  INFO(read_file(pgbench_log));
  CHECK(read_file(pgbench_log).find("number of failed transactions: 0") != std::string::npos);
}

TEST_CASE_METHOD(VerifyPointTest, "verify at one point on a quiet primary; without pgdual's apply or console it "
                                  "falls back, or fails when asked",
                 "[integration][verify_point]") {
  start("verify_point_quiet", std::string{kSchema}, settings());
  const auto before_any_client = verify(proxy(), database(), {});
  INFO(before_any_client.out << before_any_client.err);
  CHECK(before_any_client.exit_code == 0);
  CHECK(before_any_client.out.starts_with("not at one point: "));
  CHECK(before_any_client.out.find("no WAL mirror runs for database " + database()) != std::string::npos);

  check_succeeded(run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, endpoint(), kClientTimeout));
  // Nothing is written: the apply stops before verify's own tiny transactions.
  const auto quiet = verify(proxy(), database(), {"--at-one-point"});
  INFO(quiet.out << quiet.err);
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  CHECK(quiet.out.starts_with("at one point: primary WAL position "));
  CHECK(quiet.out.find("1 table: 1 identical, 0 differ;") != std::string::npos);

  static_cast<void>(proxy().stop());
  const auto fallback = verify(proxy(), database(), {});
  INFO(fallback.out << fallback.err);
  CHECK(fallback.exit_code == 0);
  CHECK(fallback.out.starts_with("not at one point: pgdual serve's admin console at 127.0.0.1:"));
  CHECK(fallback.out.find("; each table compared in its own snapshots\n") != std::string::npos);
  const auto asked = verify(proxy(), database(), {"--at-one-point"});
  CHECK(asked.exit_code == 2);
  CHECK(asked.err.starts_with("pgdual verify: --at-one-point: pgdual serve's admin console"));
  const auto opted_out = verify(proxy(), database(), {"--no-at-one-point"});
  CHECK(opted_out.exit_code == 0);
  CHECK(opted_out.out.starts_with("database \""));
}

TEST_CASE_METHOD(VerifyPointTest, "A hold of the apply ends when its console session ends, or by itself",
                 "[integration][verify_point][admin]") {
  start("verify_point_hold", std::string{kSchema}, settings());
  CHECK(timed_insert(1001) < 2s);  // the mirror runs
  TempDir dir{"pgdual-hold"};
  // Held at the primary's position now: the next insert is what the apply stops before, and its
  // COMMIT waits for the mirror, as every COMMIT does.
  const auto now = on_primary("SELECT pg_current_wal_lsn()");
  const auto hold_here = "HOLD APPLY " + database() + " AT '" + now.substr(0, now.find('\n')) + "';\n";

  SECTION("the session ends") {
    auto holder = console(hold_here, dir, "hold");
    std::this_thread::sleep_for(500ms);  // the hold is asked for
    const auto waited = timed_insert(1002);
    REQUIRE(holder.wait_for(10s) == 0);
    INFO(read_file(dir.path() / "hold.log"));
    CHECK(read_file(dir.path() / "hold.log").find("held_before") != std::string::npos);
    CHECK(waited < 2s);
    CHECK(proxy().log_shows_within("hold released: its console session ended", 5s));
  }
  SECTION("nobody releases it") {
    auto holder = console(hold_here + "\\! sleep 8\n", dir, "stuck");
    std::this_thread::sleep_for(500ms);
    const auto waited = timed_insert(1003);
    CHECK(waited >= 2s);
    CHECK(waited < 6s);
    CHECK(proxy().log_shows_within("a hold was not released within 3000 ms", 5s));
    REQUIRE(holder.wait_for(20s) == 0);
  }
  SECTION("held before the next transaction, no COMMIT waits for it") {
    auto holder = console("HOLD APPLY " + database() + ";\n\\! sleep 4\n", dir, "next");
    std::this_thread::sleep_for(500ms);
    CHECK(timed_insert(1005) < 1s);
    CHECK(on_mirror("SELECT count(*) FROM kept WHERE id = 1005") == "0\n");  // the apply stands before it
    REQUIRE(holder.wait_for(20s) == 0);
  }
  SECTION("a point the apply passed already is refused") {
    const auto refused = run_client({pg_program("psql"), "-X", "-c", "HOLD APPLY " + database() + " AT '0/10'"},
                                    proxy_endpoint("pgdual"), kClientTimeout);
    CHECK(refused.exit_code != 0);
    CHECK(refused.err.find("the mirror apply is already past 0/10") != std::string::npos);
  }
  CHECK(wait_until_identical(10s).has_value());
  CHECK(timed_insert(1004) < 2s);
  check_identical();
}

}  // namespace
}  // namespace pgdual::test
