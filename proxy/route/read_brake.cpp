#include "proxy/route/read_brake.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "conflict/error_class.h"

namespace pgdual::proxy {
namespace {

using std::chrono::microseconds;

// Latency class i holds [1.1^i, 1.1^(i+1)) µs: ~10% wide, so its middle is within 5% of any member.
constexpr double kClassGrowth = 1.1;
const double kLogGrowth = std::log(kClassGrowth);

std::size_t latency_class(microseconds latency) {
  if (latency.count() <= 1) return 0;
  const auto index = static_cast<std::size_t>(std::log(static_cast<double>(latency.count())) / kLogGrowth);
  return std::min(index, ReadWindow::kLatencyClasses - 1);
}

microseconds class_middle(std::size_t index) {
  return microseconds{std::llround(std::pow(kClassGrowth, static_cast<double>(index) + 0.5))};
}

// The latency below which `fraction` of the reads fall: the middle of the class holding the read
// of rank ceil(fraction * reads).
microseconds percentile(const std::array<std::uint64_t, ReadWindow::kLatencyClasses>& latencies,
                        std::uint64_t reads, double fraction) {
  if (reads == 0) return microseconds{0};
  const auto wanted = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(reads)));
  const std::uint64_t rank = std::max<std::uint64_t>(wanted, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < latencies.size(); ++i) {
    seen += latencies[i];
    if (seen >= rank) return class_middle(i);
  }
  return class_middle(latencies.size() - 1);
}

std::int64_t second_of(ReadWindow::Clock::time_point time) {
  return std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count();
}

// "2" and "0.5", not "2.000000".
std::string number_text(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

// Whole milliseconds from 10 ms up; one decimal below, so a 1 ms threshold reads sensibly.
std::string milliseconds_text(microseconds latency) {
  std::ostringstream text;
  const double ms = static_cast<double>(latency.count()) / 1000.0;
  text << std::fixed << std::setprecision(ms < 10.0 ? 1 : 0) << ms << " ms";
  return text.str();
}

}  // namespace

ReadWindow::ReadWindow(std::chrono::seconds span)
    : seconds_(static_cast<std::size_t>(std::max<std::int64_t>(span.count(), 1))),
      latest_{std::numeric_limits<std::int64_t>::min()} {}

ReadWindow::Second& ReadWindow::bucket_for(std::int64_t second) {
  const auto span = static_cast<std::int64_t>(seconds_.size());
  return seconds_[static_cast<std::size_t>(((second % span) + span) % span)];
}

void ReadWindow::forget(Second& bucket) {
  reads_ -= bucket.reads;
  errors_ -= bucket.errors;
  for (std::size_t i = 0; i < kLatencyClasses; ++i) latencies_[i] -= bucket.latencies[i];
  bucket = Second{};
}

// Moves the window's end to `second`. The buckets of the seconds that enter reuse the slots of the
// seconds that leave; after a gap longer than the span, that is every slot.
void ReadWindow::advance_to(std::int64_t second) {
  if (second <= latest_) return;
  const auto span = static_cast<std::int64_t>(seconds_.size());
  const std::int64_t first = latest_ < second - span ? second - span + 1 : latest_ + 1;
  for (std::int64_t entering = first; entering <= second; ++entering) {
    Second& bucket = bucket_for(entering);
    forget(bucket);
    bucket.second = entering;
  }
  latest_ = second;
}

void ReadWindow::record(Clock::time_point now, microseconds latency, bool error) {
  const std::int64_t second = second_of(now);
  const std::size_t latency_index = latency_class(latency);
  const std::scoped_lock lock(mutex_);
  advance_to(second);
  Second& bucket = bucket_for(second);
  if (bucket.second != second) return;  // older than the window
  ++bucket.reads;
  ++reads_;
  if (error) {
    ++bucket.errors;
    ++errors_;
  }
  ++bucket.latencies[latency_index];
  ++latencies_[latency_index];
}

ReadWindowSnapshot ReadWindow::snapshot(Clock::time_point now) {
  const std::scoped_lock lock(mutex_);
  advance_to(second_of(now));
  ReadWindowSnapshot snapshot;
  snapshot.reads = reads_;
  snapshot.errors = errors_;
  if (reads_ == 0) return snapshot;
  snapshot.error_rate_percent = 100.0 * static_cast<double>(errors_) / static_cast<double>(reads_);
  snapshot.p50 = percentile(latencies_, reads_, 0.50);
  snapshot.p99 = percentile(latencies_, reads_, 0.99);
  return snapshot;
}

void ReadWindow::clear() {
  const std::scoped_lock lock(mutex_);
  for (Second& bucket : seconds_) forget(bucket);
  latest_ = std::numeric_limits<std::int64_t>::min();
}

void RatioWindow::record(Clock::time_point now, double ratio) {
  if (std::isnan(ratio) || ratio < 0.0) return;
  // Clamped before scaling, so that an infinity or a huge ratio cannot overflow the conversion;
  // ReadWindow counts anything past its last class in that class.
  constexpr double kMaxScaled = 60e6;  // 60 s in µs: the histogram's top
  const double scaled = std::min(ratio * kScale, kMaxScaled);
  window_.record(now, microseconds{std::llround(scaled)}, false);
}

RatioWindowSnapshot RatioWindow::snapshot(Clock::time_point now) {
  const auto window = window_.snapshot(now);
  return {.samples = window.reads, .p99 = static_cast<double>(window.p99.count()) / kScale};
}

ReadBrake::ReadBrake(const config::BrakeConfig& config)
    : config_{config}, primary_{config.window}, mirror_{config.window}, relative_{config.window} {}

void ReadBrake::record(Backend backend, Clock::time_point now, microseconds latency, ReadResult result) {
  // An error the client caused, any backend would have returned: it says nothing of this one.
  const bool clients_own = result.outcome == ReadOutcome::sql_error &&
                           conflict::classify_sqlstate(result.sqlstate).client_fault;
  const bool error = result.outcome == ReadOutcome::connection_error || result.outcome == ReadOutcome::mirror_fault ||
                     (result.outcome == ReadOutcome::sql_error && !clients_own);
  window_of(backend).record(now, latency, error);
}

void ReadBrake::record_relative(Clock::time_point now, double mirror_over_primary) {
  relative_.record(now, mirror_over_primary);
}

std::optional<BrakeTrip> ReadBrake::check(Clock::time_point now) {
  if (tripped_.load()) return std::nullopt;
  auto trip = judge(mirror_.snapshot(now), relative_.snapshot(now));
  if (!trip) return std::nullopt;
  // Two threads may judge the same window at once; only the one that flips the flag reports.
  bool expected = false;
  if (!tripped_.compare_exchange_strong(expected, true)) return std::nullopt;
  return trip;
}

// Each check judges only a window holding min_reads of its own samples: the ratios come from reads
// the mirror served and from shadow reads, so there may be enough of them while the mirror serves
// few reads itself (a ramp at 0% with shadow reads on), and the other way round.
std::optional<BrakeTrip> ReadBrake::judge(const ReadWindowSnapshot& mirror,
                                          const RatioWindowSnapshot& relative) const {
  const bool enough_reads = mirror.reads >= config_.min_reads;
  if (enough_reads && mirror.error_rate_percent > config_.error_rate_percent) {
    std::ostringstream reason;
    reason << "error rate " << std::fixed << std::setprecision(1) << mirror.error_rate_percent << "% over "
           << config_.window.count() << " s > " << number_text(config_.error_rate_percent) << "%";
    return BrakeTrip{.cause = BrakeTrip::Cause::error_rate, .reason = reason.str()};
  }
  if (config_.latency_ratio > 0.0 && relative.samples >= config_.min_reads && relative.p99 > config_.latency_ratio) {
    std::ostringstream reason;
    reason << "p99 of the mirror's latency over the primary's " << std::fixed << std::setprecision(1) << relative.p99
           << "x > " << number_text(config_.latency_ratio) << "x";
    return BrakeTrip{.cause = BrakeTrip::Cause::relative_latency, .reason = reason.str()};
  }
  const microseconds limit = config_.p99_latency;
  if (enough_reads && limit.count() > 0 && mirror.p99 > limit) {
    return BrakeTrip{.cause = BrakeTrip::Cause::p99_latency,
                     .reason = "p99 latency " + milliseconds_text(mirror.p99) + " > " + milliseconds_text(limit)};
  }
  return std::nullopt;
}

void ReadBrake::reset() {
  mirror_.clear();
  relative_.clear();
  tripped_.store(false);
}

ReadWindowSnapshot ReadBrake::snapshot(Backend backend, Clock::time_point now) {
  return window_of(backend).snapshot(now);
}

double ReadBrake::relative_p99(Clock::time_point now) { return relative_.snapshot(now).p99; }

}  // namespace pgdual::proxy
