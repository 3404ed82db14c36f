// PAUSE WRITES and RESUME WRITES (docs/cutover.md) under load, against real servers: held writers
// wait and go on without an error, running transactions and reads are not held, nothing is lost or
// applied twice, and a pause that cannot drain gives up and says why.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/cutover_fixture.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

}  // namespace

TEST_CASE_METHOD(CutoverTest, "PAUSE WRITES under pgbench holds new writes, lets running ones and reads finish, and "
                              "RESUME WRITES lets them go with no client error and nothing lost",
                 "[integration][cutover]") {
  start_with_console("cutover_pause");
  make_pgbench_tables();
  TempDir dir{"pgdual-cutover-pause"};
  auto simple = start_pgbench(dir, "simple", 3, 14s);
  auto prepared = start_pgbench(dir, "prepared", 2, 14s);
  std::this_thread::sleep_for(3s);

  // A transaction running when the pause begins: the pause waits for its COMMIT.
  std::jthread holder{[&] {
    auto session = client();
    session.execute("BEGIN");
    session.execute("INSERT INTO notes VALUES (1, 'running across the pause')");
    std::this_thread::sleep_for(1500ms);
    session.execute("COMMIT");
  }};
  // A long read, not held, not waited for.
  std::jthread long_read{[&] { static_cast<void>(client().query_value("SELECT count(*) FROM pg_sleep(3)")); }};
  std::this_thread::sleep_for(300ms);

  const auto paused = console("PAUSE WRITES TIMEOUT 20");
  INFO(paused.describe() << proxy().log());
  check_succeeded(paused);
  CHECK(says(paused, "paused|"));
  CHECK(on_primary("SELECT count(*) FROM notes") == "1\n");  // committed before the pause came about

  // Paused: nothing is written on the primary; reads and READ ONLY transactions go on.
  const auto history = on_primary("SELECT count(*) FROM pgbench_history");
  std::atomic<bool> held_write_done{false};
  std::jthread held_writer{[&] {
    client().execute("INSERT INTO notes VALUES (2, 'held at the gate')");
    held_write_done = true;
  }};
  auto reader = client();
  CHECK(reader.query_value("SELECT count(*) FROM notes") == "1");
  reader.execute("BEGIN READ ONLY");
  CHECK(reader.query_value("SELECT count(*) FROM pgbench_accounts") == "100000");
  reader.execute("COMMIT");
  std::this_thread::sleep_for(1500ms);
  CHECK(on_primary("SELECT count(*) FROM pgbench_history") == history);
  CHECK_FALSE(held_write_done);
  const auto shown = console("SHOW CUTOVER");
  INFO(shown.describe());
  CHECK(shown.out.starts_with("paused|0|"));

  const auto resumed = console("RESUME WRITES");
  INFO(resumed.describe());
  check_succeeded(resumed);
  CHECK(says(resumed, "open|"));
  held_writer.join();
  CHECK(held_write_done);

  const auto transactions = finish_pgbench(dir, {&simple, &prepared});
  // Every transaction pgbench counted wrote one history row: none lost, none applied twice.
  CHECK(on_primary("SELECT count(*) FROM pgbench_history") == std::to_string(transactions) + "\n");
  const auto converged = wait_until_identical(30s);
  CHECK(converged.has_value());
  CHECK(on_mirror("SELECT count(*) FROM notes") == "2\n");
}

TEST_CASE_METHOD(CutoverTest, "A pause that cannot drain within its timeout resumes by itself and names the "
                              "transaction it waited for",
                 "[integration][cutover]") {
  start_with_console("cutover_timeout");
  const auto not_paused = console("RESUME WRITES");
  CHECK(not_paused.exit_code != 0);
  CHECK(says(not_paused, "ERROR:  writes are not paused"));

  auto holder = client();
  holder.execute("BEGIN");
  holder.execute("INSERT INTO notes VALUES (1, 'held open')");
  const auto started = Clock::now();
  const auto gave_up = console("PAUSE WRITES TIMEOUT 1");
  INFO(gave_up.describe());
  CHECK(gave_up.exit_code != 0);
  CHECK(says(gave_up, "ERROR:  writes could not be paused within 1 s: 1 write transaction still running (session "));
  CHECK(says(gave_up, "writes go on"));
  CHECK(Clock::now() - started >= 1s);
  CHECK(console("SHOW CUTOVER").out.starts_with("open|1|0|"));

  // Writes go on at once, while the transaction is still open.
  client().execute("INSERT INTO notes VALUES (2, 'not held')");
  holder.execute("COMMIT");
  CHECK(wait_until_identical(30s).has_value());
  CHECK(on_mirror("SELECT count(*) FROM notes") == "2\n");
}

TEST_CASE_METHOD(IntegrationTest, "In mirror mode statement PAUSE WRITES holds a write on both servers until RESUME "
                                  "WRITES, SWAP ROLES is refused, and a held session that is KILLed ends at once",
                 "[integration][cutover]") {
  const auto database = fresh_database("cutover_statement");
  auto settings = default_settings();
  settings.extra = "\n[admin]\nusers = [\"app\"]\n";
  auto& proxy = start_proxy(settings);
  auto app = client_of(proxy, database);
  app.execute("CREATE TABLE notes (id int PRIMARY KEY, note text)");
  const auto console = [&](const std::string& command) {
    return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command},
                      through_proxy("pgdual"), kClientTimeout);
  };
  check_succeeded(console("PAUSE WRITES TIMEOUT 5"));
  // The mirror is fed session by session: there is no stream to turn round.
  const auto no_swap = console("SWAP ROLES");
  CHECK(no_swap.exit_code != 0);
  CHECK(says(no_swap, "ERROR:  SWAP ROLES needs mirror.mode = \"wal\": only a WAL mirror can be fed the other way"));

  std::atomic<bool> written{false};
  std::jthread writer{[&] {
    client_of(proxy, database).execute("INSERT INTO notes VALUES (1, 'held')");
    written = true;
  }};
  std::this_thread::sleep_for(1s);
  // Another held writer, KILLed while held: it ends at once with 57P01, having sent nothing.
  TempDir output{"pgdual-cutover-kill"};
  ProcessOptions options;
  options.env = through_proxy(database).libpq_env();
  options.env["PGAPPNAME"] = "held_writer";
  Subprocess victim{{pg_program("psql"), "-X", "-v", "VERBOSITY=verbose", "-c", "INSERT INTO notes VALUES (2, 'killed')"},
                    options, output.path() / "out", output.path() / "err"};
  std::string victim_id;
  REQUIRE(wait_until(
      [&] {
        std::istringstream rows{console("SHOW SESSIONS").out};
        for (std::string row; std::getline(rows, row);) {
          if (row.find("|held_writer|") != std::string::npos) victim_id = row.substr(0, row.find('|'));
        }
        return !victim_id.empty();
      },
      10s));
  std::this_thread::sleep_for(500ms);  // well into its wait at the gate
  check_succeeded(console("KILL " + victim_id));
  REQUIRE(victim.wait_for(10s).has_value());
  INFO(read_file(output.path() / "err"));
  CHECK(read_file(output.path() / "err").find("FATAL:  57P01: terminating connection due to administrator command") !=
        std::string::npos);

  CHECK_FALSE(written);
  CHECK(app.query_value("SELECT count(*) FROM notes") == "0");
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM notes") == "0\n");
  check_succeeded(console("RESUME WRITES"));
  writer.join();
  CHECK(written);
  CHECK(differing_tables(database).empty());
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM notes") == "1\n");
}

}  // namespace pgdual::test
