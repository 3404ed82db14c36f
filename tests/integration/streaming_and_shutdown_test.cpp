// pgdual under load it must not buffer, and while it shuts down.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <thread>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

/// The largest resident set the process has had, in KiB (VmHWM in /proc/PID/status).
long peak_resident_kib(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  }
  FAIL("no VmHWM in /proc/" << pid << "/status");
  return 0;
}

TEST_CASE_METHOD(IntegrationTest, "a result far larger than pgdual's buffers streams to a slow reader in bounded memory",
                 "[integration][pgdual]") {
  const auto database = fresh_database("large_result");
  start_proxy();
  // 500 MB of COPY data into a reader that starts only after two seconds: pgdual must stop reading
  // from the backend while the client does not read, instead of holding the result.
  constexpr long kRows = 500'000;
  const std::string copy = "COPY (SELECT repeat('x', 1000) FROM generate_series(1, " + std::to_string(kRows) +
                           ")) TO STDOUT";
  const auto result = run_client(
      {"sh", "-c", "\"$0\" -X -c \"$1\" | (sleep 2; wc -c)", pg_program("psql"), copy}, through_proxy(database), 120s);
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);
  CHECK(std::stol(result.out) == kRows * 1001);
  const auto peak_kib = peak_resident_kib(proxy().pid());
  INFO("pgdual's peak resident memory: " << peak_kib << " KiB");
  CHECK(peak_kib < 64 * 1024);
}

TEST_CASE_METHOD(IntegrationTest, "SIGTERM lets the running statement finish, then ends the session with 57P01",
                 "[integration][pgdual]") {
  const auto database = fresh_database("graceful");
  start_proxy();
  TempDir output{"pgdual-graceful"};
  ProcessOptions options;
  options.env = through_proxy(database).libpq_env();
  Subprocess psql{{pg_program("psql"), "-X", "-A", "-t", "-c", "SELECT 'slept' FROM pg_sleep(2)", "-c",
                   "SELECT 'never'"},
                  options, output.path() / "out", output.path() / "err"};

  const auto running = [&] {
    return primary().run_sql(database, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(2)' "
                                       "AND state = 'active' AND pid <> pg_backend_pid()") == "1\n";
  };
  for (int attempt = 0; attempt < 100 && !running(); ++attempt) std::this_thread::sleep_for(50ms);
  REQUIRE(running());

  CHECK(proxy().stop() == 0);
  CHECK(psql.wait_for(10s).has_value());
  const auto out = read_file(output.path() / "out");
  const auto err = read_file(output.path() / "err");
  INFO("psql stdout: " << out << "\npsql stderr: " << err);
  CHECK(out == "slept\n");
  CHECK(err.find("terminating connection due to administrator command") != std::string::npos);
}

}  // namespace
}  // namespace pgdual::test
