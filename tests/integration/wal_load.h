#pragma once

// A write load through pgdual for the WAL mirror's fault tests: clients that write one keyed write
// at a time and remember which were acknowledged (data/wal_write_load.py).

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>

#include "tests/integration/harness/endpoint.h"
#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {

/// What the load's clients reported once they stopped.
struct LoadReport {
  bool timed_out = false;
  int exit_code = -1;
  /// Its figures ("name value" lines), its first errors and its stderr, for failure messages.
  std::string output;
  /// The writes whose COMMIT was answered, as "client|seq".
  std::set<std::string> acknowledged;

  /// The clients ran to their end: every write was either answered or failed, none hung.
  [[nodiscard]] bool succeeded() const noexcept { return !timed_out && exit_code == 0; }
  /// The figure `name` of the output (acknowledged, acknowledged_transactions,
  /// answered_after_timeout, failed_writes, failed_connects, max_latency_ms, median_latency_ms,
  /// max_login_ms); -1 when it is not there.
  [[nodiscard]] long figure(std::string_view name) const;
  /// How many acknowledged writes `rows` (psql -A -t lines "client|seq") lacks.
  [[nodiscard]] std::size_t missing_from(const std::string& rows) const;
};

/// kClients clients writing through pgdual in the background, each for `duration`, each write
/// timed by its client against pgdual's `mirror_timeout`; the last client logs in for each write.
/// Destroying the load kills it.
class WriteLoad {
 public:
  static constexpr int kClients = 6;

  WriteLoad(const Endpoint& endpoint, std::chrono::seconds duration, std::chrono::milliseconds mirror_timeout);

  [[nodiscard]] std::chrono::steady_clock::time_point started() const noexcept { return started_; }

  /// Waits until the clients stop (a minute past their duration, for one stuck in a write, then it
  /// is killed) and reads what they reported.
  [[nodiscard]] LoadReport finish();

 private:
  TempDir dir_;
  std::chrono::seconds duration_;
  std::chrono::steady_clock::time_point started_;
  Subprocess process_;
};

}  // namespace pgdual::test
