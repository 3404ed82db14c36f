#pragma once

// The read brake (issue 5): watches the reads each backend serves over a sliding window and says
// when the mirror's have become too unreliable or too slow to keep steering reads to it, slow
// measured against the primary on the same statements (issue 20). Pure: no I/O, no clock reads
// (callers pass the time), no logging; the caller acts on a trip.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"

namespace pgdual::proxy {

enum class Backend { primary, mirror };

enum class ReadOutcome {
  ok,                ///< the backend answered the read
  connection_error,  ///< the connection failed before the answer was complete
  sql_error,         ///< the backend answered with an ErrorResponse
  /// The mirror failed a read that the primary, asked again, answered otherwise (read_failover.h):
  /// the mirror's fault whatever its SQLSTATE's class.
  mirror_fault,
};

/// How one read ended, as ReadBrake::record() takes it.
struct ReadResult {
  ReadOutcome outcome = ReadOutcome::ok;
  std::string_view sqlstate = {};  ///< with sql_error: the five-character code; read during record() only

  [[nodiscard]] static ReadResult ok() noexcept { return {}; }
  [[nodiscard]] static ReadResult connection_error() noexcept { return {.outcome = ReadOutcome::connection_error}; }
  [[nodiscard]] static ReadResult sql_error(std::string_view code) noexcept {
    return {.outcome = ReadOutcome::sql_error, .sqlstate = code};
  }
  [[nodiscard]] static ReadResult mirror_fault(std::string_view code) noexcept {
    return {.outcome = ReadOutcome::mirror_fault, .sqlstate = code};
  }
};

/// A window's reads, as the admin console and the metrics show them.
struct ReadWindowSnapshot {
  std::uint64_t reads = 0;
  std::uint64_t errors = 0;          ///< reads that failed, not counting the client's own errors
  double error_rate_percent = 0.0;   ///< 0 when there were no reads
  std::chrono::microseconds p50{0};  ///< within about 5%; 0 when there were no reads
  std::chrono::microseconds p99{0};
};

/// The outcomes and latencies of one backend's reads over the last `span` seconds, in one-second
/// buckets. Each bucket keeps a count, an error count and a latency histogram with 188 classes
/// growing by 10% from 1 µs to 60 s, so percentiles come without keeping samples: a percentile is
/// reported as the middle of its class, within 5% of the true value (latencies past 60 s count as
/// 60 s). Memory is fixed: about 770 bytes per second of span.
///
/// A read belongs to the second its time falls in, and leaves the window `span` seconds after that
/// second began. Reads recorded with a time older than the window (a thread that was slow to
/// report) are dropped.
///
/// Thread safety: every member function may be called from any thread.
class ReadWindow {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kLatencyClasses = 188;  ///< ceil(ln(60 s / 1 µs) / ln(1.1))

  /// Precondition: `span` is at least one second.
  explicit ReadWindow(std::chrono::seconds span);

  void record(Clock::time_point now, std::chrono::microseconds latency, bool error);
  /// The reads in the window that ends at `now`.
  [[nodiscard]] ReadWindowSnapshot snapshot(Clock::time_point now);
  /// Forgets every read.
  void clear();

 private:
  using Histogram = std::array<std::uint32_t, kLatencyClasses>;

  struct Second {
    std::int64_t second = 0;  ///< which second of the clock this bucket holds
    std::uint32_t reads = 0;
    std::uint32_t errors = 0;
    Histogram latencies{};
  };

  Second& bucket_for(std::int64_t second);
  void advance_to(std::int64_t second);
  void forget(Second& bucket);

  std::mutex mutex_;
  std::vector<Second> seconds_;  ///< a ring: second s lives at s mod span
  std::int64_t latest_;          ///< the newest second the ring holds
  // The sums over the ring, kept as reads come and go, so a snapshot reads no buckets.
  std::uint64_t reads_ = 0;
  std::uint64_t errors_ = 0;
  std::array<std::uint64_t, kLatencyClasses> latencies_{};
};

/// Ratios over a window, as RatioWindow::snapshot() gives them.
struct RatioWindowSnapshot {
  std::uint64_t samples = 0;
  double p99 = 0.0;  ///< within about 5%; 0 when there were no samples
};

/// Ratios (the mirror's latency for a read over the primary's for the same statement) over the
/// last `span` seconds: a ReadWindow whose latency histogram holds each ratio scaled by kScale, so
/// that its classes, 1 µs to 60 s, cover ratios from 0.001 to 60000 within 5% as they cover
/// latencies. A ratio below 0.001 counts as 0.001, one above 60000 (an infinity too) as 60000; a
/// NaN or a negative ratio, which no pair of latencies gives, is dropped.
///
/// Thread safety: every member function may be called from any thread.
class RatioWindow {
 public:
  using Clock = ReadWindow::Clock;
  /// A ratio of 1 is stored as 1000 "microseconds".
  static constexpr double kScale = 1000.0;

  /// Precondition: `span` is at least one second.
  explicit RatioWindow(std::chrono::seconds span) : window_{span} {}

  void record(Clock::time_point now, double ratio);
  /// The ratios in the window that ends at `now`.
  [[nodiscard]] RatioWindowSnapshot snapshot(Clock::time_point now);
  /// Forgets every ratio.
  void clear() { window_.clear(); }

 private:
  ReadWindow window_;  ///< "latencies" in units of 1/kScale; never an error
};

/// Why the brake tripped.
struct BrakeTrip {
  enum class Cause {
    error_rate,        ///< too many of the mirror's reads failed
    relative_latency,  ///< the mirror was too slow against the primary on the same statements
    p99_latency,       ///< the mirror's reads were too slow, however slow on the primary
  };
  Cause cause = Cause::error_rate;
  /// For the log, e.g. "error rate 3.1% over 60 s > 2%", "p99 of the mirror's latency over the
  /// primary's 7.5x > 4x" or "p99 latency 1250 ms > 1000 ms".
  std::string reason;
};

/// The automatic brake on read steering: a ReadWindow per backend, a RatioWindow of the mirror's
/// latencies relative to the primary's, and the judgement over the mirror's. Sessions record each
/// eligible read on the backend that served it, and each ratio they can measure; a caller checks,
/// and on a trip sets read steering to 0 (ReadSteering::brake) and logs the reason.
///
/// Thread safety: every member function may be called from any thread; record() takes one
/// backend's lock for a few hundred nanoseconds.
class ReadBrake {
 public:
  using Clock = ReadWindow::Clock;

  /// Precondition: `config` passed validation (config/validate.cpp).
  explicit ReadBrake(const config::BrakeConfig& config);

  /// Counts one read `backend` served, ending at `now` after `latency`. A connection error or a
  /// mirror fault counts as an error, and so does an SQL error unless it is the client's own doing
  /// (conflict::ErrorClass::client_fault); its latency counts either way.
  void record(Backend backend, Clock::time_point now, std::chrono::microseconds latency, ReadResult result);

  /// Counts one read's latency on the mirror divided by the primary's for the same statement,
  /// ending at `now`: from a shadow read, both latencies of the same read; from a read the mirror
  /// served, its latency over PrimaryLatencies::typical() (statement_latencies.h). A NaN or negative
  /// ratio is dropped (RatioWindow).
  void record_relative(Clock::time_point now, double mirror_over_primary);

  /// Judges the mirror's windows ending at `now`, in this order, and trips on the first that fails:
  /// - the mirror's reads, when there are at least min_reads: their error rate above
  ///   error_rate_percent;
  /// - the ratios, when there are at least min_reads and latency_ratio is not 0: their p99 above
  ///   latency_ratio;
  /// - the mirror's reads, when there are at least min_reads and p99_latency is not 0: their p99
  ///   latency above p99_latency.
  /// A trip is returned once, to one caller; after that check() returns nullopt until reset().
  [[nodiscard]] std::optional<BrakeTrip> check(Clock::time_point now);

  /// Whether check() has returned a trip since construction or the last reset().
  [[nodiscard]] bool tripped() const noexcept { return tripped_.load(); }

  /// Arms the brake again, for when the operator steers reads to the mirror again. Forgets the
  /// mirror's window and the ratios too, so the reads that tripped the brake cannot trip it a
  /// second time.
  void reset();

  /// `backend`'s reads in the window ending at `now`.
  [[nodiscard]] ReadWindowSnapshot snapshot(Backend backend, Clock::time_point now);

  /// The p99 of the ratios in the window ending at `now` (record_relative), within about 5%; 0
  /// without any.
  [[nodiscard]] double relative_p99(Clock::time_point now);

 private:
  ReadWindow& window_of(Backend backend) noexcept { return backend == Backend::primary ? primary_ : mirror_; }
  [[nodiscard]] std::optional<BrakeTrip> judge(const ReadWindowSnapshot& mirror,
                                               const RatioWindowSnapshot& relative) const;

  const config::BrakeConfig config_;
  ReadWindow primary_;
  ReadWindow mirror_;
  RatioWindow relative_;  ///< the mirror's latency over the primary's, per read
  std::atomic<bool> tripped_{false};
};

}  // namespace pgdual::proxy
