#pragma once

// What the cutover tests share: a WAL-mode pgdual with the admin console, pgbench through it, and
// how to read pgbench's report.

#include <chrono>
#include <initializer_list>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/jobs/pg_client.h"
#include "tests/integration/wal_mode_fixture.h"
#include "tests/integration/whereami.h"

namespace pgdual::test {

using namespace std::chrono_literals;

inline constexpr auto kClientTimeout = 120s;

class CutoverTest : public WalModeTest {
 protected:
  void start_with_console(std::string_view label) {
    auto settings = wal_settings();
    settings.extra = "\n[admin]\nusers = [\"app\"]\n";
    start(label, "CREATE TABLE notes (id int PRIMARY KEY, note text); GRANT ALL ON notes TO app", settings);
  }

  /// psql on the console, as an operator types it.
  RunResult console(const std::string& command) {
    return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command},
                      through_proxy("pgdual"), kClientTimeout);
  }

  /// pgbench -N through pgdual, its report in `dir`/pgbench-<protocol>.out; with `log`, each
  /// transaction's latency in `dir`/<protocol>.<pid> too (pgbench --log).
  [[nodiscard]] Subprocess start_pgbench(const TempDir& dir, const std::string& protocol, int clients,
                                         std::chrono::seconds duration, bool log = false) const {
    ProcessOptions options;
    options.env = endpoint().libpq_env();
    options.working_dir = dir.path();
    const auto out = dir.path() / ("pgbench-" + protocol + ".out");
    std::vector<std::string> command{pg_program("pgbench"), "--no-vacuum", "-N", "--protocol=" + protocol,
                                     "--client=" + std::to_string(clients), "--jobs=1",
                                     "--time=" + std::to_string(duration.count())};
    if (log) command.insert(command.end(), {"--log", "--log-prefix=" + protocol});
    return Subprocess{command, options, out, out};
  }

  [[nodiscard]] jobs::PgClient client() { return client_of(proxy(), database()); }

  /// Waits for the pgbench runs start_pgbench() began in `dir` (simple first, then prepared) and
  /// checks that each ended well, with no failed transaction; how many they processed together.
  static long finish_pgbench(const TempDir& dir, std::initializer_list<Subprocess*> runs);
};

inline bool says(const RunResult& result, const std::string& text) {
  return result.out.find(text) != std::string::npos || result.err.find(text) != std::string::npos;
}

/// pgbench's "number of transactions actually processed: N"; -1 when absent.
inline long processed(const std::string& output) {
  std::smatch match;
  static const std::regex pattern{R"(number of transactions actually processed: (\d+))"};
  return std::regex_search(output, match, pattern) ? std::stol(match[1]) : -1;
}

inline long CutoverTest::finish_pgbench(const TempDir& dir, std::initializer_list<Subprocess*> runs) {
  for (auto* run : runs) {
    const auto exit_code = run->wait_for(60s);
    REQUIRE(exit_code.has_value());
    CHECK(*exit_code == 0);
  }
  long transactions = 0;
  for (const auto* name : {"pgbench-simple.out", "pgbench-prepared.out"}) {
    const auto output = read_file(dir.path() / name);
    INFO(output);
    CHECK(output.find("number of failed transactions: 0 ") != std::string::npos);
    CHECK(processed(output) > 0);
    transactions += processed(output);
  }
  return transactions;
}

}  // namespace pgdual::test
