// SWAP ROLES (docs/cutover.md) under load, against real servers: pause, swap, resume and back
// again, while pgbench writes, a transaction is open across the pause, a COPY is under way and a
// long read runs. No client sees an error, no session is dropped, nothing is lost or applied twice,
// and the servers end identical.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cutover_fixture.h"

namespace pgdual::test {
namespace {

using Clock = std::chrono::steady_clock;

/// pgbench's transaction latencies (its --log files in `dir`, the third field, microseconds).
std::vector<long> logged_latencies(const std::filesystem::path& dir) {
  std::vector<long> latencies;
  for (const auto& entry : std::filesystem::directory_iterator{dir}) {
    const auto name = entry.path().filename().string();
    if (!name.starts_with("simple.") && !name.starts_with("prepared.")) continue;
    std::ifstream file{entry.path()};
    for (std::string line; std::getline(file, line);) {
      std::istringstream fields{line};
      long client = 0;
      long transaction = 0;
      long latency = 0;
      if (fields >> client >> transaction >> latency) latencies.push_back(latency);
    }
  }
  std::ranges::sort(latencies);
  return latencies;
}

long percentile(const std::vector<long>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  return sorted[static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1))];
}

class SwapTest : public CutoverTest {
 protected:
  /// PAUSE WRITES, SWAP ROLES and RESUME WRITES, as an operator runs them; the swap's answer, and
  /// how long writes were held.
  std::string pause_swap_resume(std::chrono::milliseconds& held) {
    const auto started = Clock::now();
    const auto paused = console("PAUSE WRITES TIMEOUT 20");
    INFO(paused.describe() << proxy().log());
    check_succeeded(paused);
    const auto swapped = console("SWAP ROLES TIMEOUT 30");
    INFO(swapped.describe() << proxy().log());
    check_succeeded(swapped);
    const auto resumed = console("RESUME WRITES");
    INFO(resumed.describe());
    check_succeeded(resumed);
    held = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return swapped.out;
  }

  [[nodiscard]] std::string slots_on(const PgCluster& server) const {
    return server.run_sql(database(), "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()");
  }

  /// psql running COPY notes FROM STDIN whose data comes two seconds late: under way across a pause.
  [[nodiscard]] Subprocess start_slow_copy(const TempDir& dir) const {
    {
      std::ofstream rows{dir.path() / "rows.tsv"};
      for (int id = 100; id < 200; ++id) rows << id << "\tcopied\n";
    }
    ProcessOptions options;
    options.env = endpoint().libpq_env();
    const auto program = "sleep 2; cat " + (dir.path() / "rows.tsv").string();
    return Subprocess{{pg_program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c",
                       "\\copy notes from program '" + program + "'"},
                      options, dir.path() / "copy.out", dir.path() / "copy.err"};
  }
};

}  // namespace

TEST_CASE_METHOD(SwapTest, "SWAP ROLES under pgbench makes the cloud the primary with no client error, no session "
                           "dropped and nothing lost, and swapping back leaves both servers identical",
                 "[integration][cutover]") {
  start_with_console("cutover_swap");
  make_pgbench_tables();
  on_both("CREATE SEQUENCE tickets; GRANT ALL ON SEQUENCE tickets TO app");
  TempDir dir{"pgdual-cutover-swap"};
  auto simple = start_pgbench(dir, "simple", 3, 22s, true);
  auto prepared = start_pgbench(dir, "prepared", 2, 22s, true);
  auto app = client();  // one session, open across both swaps
  app.execute("INSERT INTO notes VALUES (1, 'before the swap')");
  const auto ticket_before = std::stol(app.query_value("SELECT nextval('tickets')"));
  std::this_thread::sleep_for(3s);

  std::jthread holder{[&] {
    auto session = client();
    session.execute("BEGIN");
    session.execute("INSERT INTO notes VALUES (2, 'open across the pause')");
    std::this_thread::sleep_for(1500ms);
    session.execute("COMMIT");
  }};
  auto copy = start_slow_copy(dir);
  std::jthread long_read{[&] { CHECK(client().query_value("SELECT count(*) FROM pg_sleep(4)") == "1"); }};
  std::this_thread::sleep_for(300ms);

  std::chrono::milliseconds first_held{0};
  const auto first = pause_swap_resume(first_held);
  CHECK(first.starts_with("cloud|onprem|1|"));
  holder.join();
  long_read.join();
  REQUIRE(copy.wait_for(30s).has_value());
  INFO(read_file(dir.path() / "copy.err"));
  CHECK(read_file(dir.path() / "copy.out").find("COPY 100") != std::string::npos);

  // The slot moved: the cloud feeds on-prem now, and the open session writes on the cloud.
  CHECK(slots_on(backends().onprem) == "0\n");
  CHECK(slots_on(backends().cloud) == "1\n");
  app.execute("INSERT INTO notes VALUES (3, 'written on the cloud')");
  CHECK(on_mirror("SELECT count(*) FROM notes WHERE id = 3") == "1\n");
  CHECK(std::stol(app.query_value("SELECT nextval('tickets')")) == ticket_before + 1);
  const auto shown = console("SHOW CUTOVER");
  INFO(shown.describe());
  CHECK(shown.out.find("|cloud|onprem|1|by app@") != std::string::npos);
  // The file still names on-prem: a reload keeps the running roles, and says so.
  const auto reloaded = console("RELOAD");
  INFO(reloaded.describe());
  check_succeeded(reloaded);
  CHECK(says(reloaded, "routing.primary is \"onprem\" in the file, but \"cloud\" stays the primary since SWAP ROLES"));
  CHECK(console("SHOW CUTOVER").out.find("|cloud|onprem|1|by app@") != std::string::npos);
  std::this_thread::sleep_for(4s);

  // The rollback as a script runs it: pgdual ctl, one console command each.
  const auto ctl = [&](const std::vector<std::string>& command) {
    std::vector<std::string> argv{PGDUAL_BINARY, "ctl", "--config", proxy().config_file().string()};
    argv.insert(argv.end(), command.begin(), command.end());
    return run(argv, {}, kClientTimeout);
  };
  const auto second_started = Clock::now();
  check_succeeded(ctl({"PAUSE", "WRITES", "TIMEOUT", "20"}));
  const auto second = ctl({"SWAP", "ROLES", "TIMEOUT", "30"});
  INFO(second.describe());
  check_succeeded(second);
  check_succeeded(ctl({"RESUME", "WRITES"}));
  const auto second_held = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - second_started);
  CHECK(second.out.starts_with("onprem|cloud|1|"));
  const auto not_paused = ctl({"RESUME", "WRITES"});
  CHECK(not_paused.exit_code == 1);
  CHECK(not_paused.err == "pgdual ctl: backend \"pgdual\": writes are not paused (SQLSTATE 55000)\n");
  CHECK(slots_on(backends().onprem) == "1\n");
  CHECK(slots_on(backends().cloud) == "0\n");
  app.execute("INSERT INTO notes VALUES (4, 'back on-prem')");
  CHECK(on_primary("SELECT count(*) FROM notes WHERE id = 4") == "1\n");
  CHECK(std::stol(app.query_value("SELECT nextval('tickets')")) == ticket_before + 2);

  const auto transactions = finish_pgbench(dir, {&simple, &prepared});
  // Every transaction pgbench counted wrote one history row, wherever the primary was.
  CHECK(on_primary("SELECT count(*) FROM pgbench_history") == std::to_string(transactions) + "\n");
  CHECK(wait_until_identical(30s).has_value());
  CHECK(on_mirror("SELECT count(*) FROM notes") == "104\n");

  // Every step is on the conflict log's chain, with who ran it; none is counted as a conflict.
  const auto conflicts = console("SHOW CONFLICTS");
  CHECK(conflicts.out.find("cutover") == std::string::npos);
  std::size_t swaps_audited = 0;
  REQUIRE(wait_until(
      [&] {
        const auto log = read_file(proxy().conflict_log());
        swaps_audited = 0;
        for (auto at = log.find("SWAP ROLES: "); at != std::string::npos; at = log.find("SWAP ROLES: ", at + 1)) {
          ++swaps_audited;
        }
        return swaps_audited == 2 && log.find("\"kind\":\"cutover\"") != std::string::npos &&
               log.find("RESUME WRITES: writes go on") != std::string::npos;
      },
      10s));
  CHECK(read_file(proxy().conflict_log()).find("\"resolved_by\":\"app@") != std::string::npos);

  const auto latencies = logged_latencies(dir.path());
  std::cerr << "SWAP ROLES under pgbench (5 clients): writes held " << first_held.count() << " ms and "
            << second_held.count() << " ms; " << latencies.size() << " transactions, latency p50 "
            << percentile(latencies, 0.5) / 1000.0 << " ms, p99 " << percentile(latencies, 0.99) / 1000.0
            << " ms, worst " << (latencies.empty() ? 0 : latencies.back()) / 1000.0 << " ms\n";
}

TEST_CASE_METHOD(SwapTest, "SWAP ROLES is refused while writes are not paused, and changes nothing",
                 "[integration][cutover]") {
  start_with_console("cutover_swap_refused");
  client().execute("INSERT INTO notes VALUES (1, 'the mirror runs')");
  const auto refused = console("SWAP ROLES");
  INFO(refused.describe());
  CHECK(refused.exit_code != 0);
  CHECK(says(refused, "ERROR:  writes are not paused: run PAUSE WRITES first"));
  CHECK(console("SHOW CUTOVER").out.find("|onprem|onprem|0|\n") != std::string::npos);
  client().execute("INSERT INTO notes VALUES (2, 'still on-prem')");
  CHECK(on_primary("SELECT count(*) FROM notes") == "2\n");
  CHECK(slots_on(backends().onprem) == "1\n");
  CHECK(wait_until_identical(30s).has_value());
}

TEST_CASE_METHOD(SwapTest, "With cutover.auto_rollback, a new primary whose answers fail too often is swapped back "
                           "by pgdual itself, and says so",
                 "[integration][cutover]") {
  auto settings = wal_settings();
  settings.extra = "\n[admin]\nusers = [\"app\"]\n[cutover]\nauto_rollback = true\nwatch_seconds = 120\n"
                   "rollback_error_rate_percent = 20\nrollback_min_answers = 20\n";
  start("cutover_auto_rollback", "CREATE TABLE notes (id int PRIMARY KEY, note text); GRANT ALL ON notes TO app",
        settings);
  auto app = client();
  app.execute("INSERT INTO notes VALUES (1, 'before the swap')");
  std::chrono::milliseconds held{0};
  CHECK(pause_swap_resume(held).starts_with("cloud|onprem|1|"));
  app.execute("INSERT INTO notes VALUES (2, 'on the cloud')");

  // The injected fault: the cloud loses the table, as a schema missing there would.
  static_cast<void>(backends().cloud.run_sql(database(), "ALTER TABLE notes RENAME TO notes_elsewhere"));
  int failed = 0;
  for (int i = 0; i < 30; ++i) {
    try {
      static_cast<void>(app.query_value("SELECT count(*) FROM notes"));
    } catch (const jobs::PgClientError& error) {
      ++failed;
    }
  }
  CHECK(failed >= 20);  // the rollback may come before the last of them
  REQUIRE(wait_until([&] { return console("SHOW CUTOVER").out.find("|onprem|onprem|2|by pgdual automatic rollback at ") !=
                                  std::string::npos; },
                     30s));
  CHECK(console("SHOW CUTOVER").out.starts_with("open|"));
  // The same session reads on-prem again, and writes there; the cloud, its table back, gets the write.
  CHECK(app.query_value("SELECT count(*) FROM notes") == "2");
  static_cast<void>(backends().cloud.run_sql(database(), "ALTER TABLE notes_elsewhere RENAME TO notes"));
  app.execute("INSERT INTO notes VALUES (3, 'back on-prem')");
  CHECK(slots_on(backends().onprem) == "1\n");
  CHECK(slots_on(backends().cloud) == "0\n");
  INFO(proxy().log());
  CHECK(proxy().log().find("AUTOMATIC ROLLBACK: ") != std::string::npos);
  CHECK(proxy().log().find("AUTOMATIC ROLLBACK done: onprem is the primary again") != std::string::npos);
  // Audited, with the figures it acted on (the watch judges once a second, so how many is not known here).
  const std::regex audited{R"re("resolution_note":"automatic rollback: [0-9.]+% of the new primary's [0-9]+ )re"
                           R"re(answers failed in the [0-9]+ s since the swap \(more than 20%\)")re"};
  REQUIRE(wait_until([&] { return std::regex_search(read_file(proxy().conflict_log()), audited); }, 10s));

  CHECK(wait_until_identical(30s).has_value());
}

TEST_CASE_METHOD(SwapTest, "A session holding a temporary table stands in the way of SWAP ROLES, named; with FORCE "
                           "it ends at its next statement, saying why, and the others go on",
                 "[integration][cutover]") {
  start_with_console("cutover_swap_unmovable");
  auto holder = client();
  holder.execute("CREATE TEMPORARY TABLE scratch (n int)");
  auto other = client();
  other.execute("INSERT INTO notes VALUES (1, 'a plain session')");
  check_succeeded(console("PAUSE WRITES TIMEOUT 10"));
  const auto refused = console("SWAP ROLES");
  INFO(refused.describe());
  CHECK(refused.exit_code != 0);
  CHECK(says(refused, "ERROR:  1 session holds state that cannot move to the new primary: session "));
  CHECK(says(refused, " (a temporary table, a cursor, or a setting changed inside a transaction); end it (KILL id), "
                      "or run SWAP ROLES FORCE, which ends it at its next statement"));
  CHECK(slots_on(backends().onprem) == "1\n");

  const auto forced = console("SWAP ROLES FORCE TIMEOUT 30");
  INFO(forced.describe() << proxy().log());
  check_succeeded(forced);
  check_succeeded(console("RESUME WRITES"));
  CHECK_THROWS_WITH(holder.execute("INSERT INTO scratch VALUES (1)"),
                    Catch::Contains("terminating connection: the roles were swapped (cloud is the primary now), and "
                                    "this session holds state that cannot move there: a temporary table"));
  other.execute("INSERT INTO notes VALUES (2, 'on the cloud')");
  CHECK(on_mirror("SELECT count(*) FROM notes") == "2\n");
  CHECK(wait_until_identical(30s).has_value());
}

}  // namespace pgdual::test
