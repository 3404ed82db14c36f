#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

#include "protocol/replication.h"

namespace pgdual::proxy {

/// How long the oldest change a slot has not confirmed has waited, estimated from samples of the
/// primary's WAL position: the WAL does not say when a position was written, and reading commit
/// timestamps would need track_commit_timestamp, which the primary may not have.
///
/// Each sample (t, L) says that every change at or below L was written by t. When the slot has
/// confirmed C, the oldest change not confirmed is just above C: written after the last sample at
/// or below C and by the first sample above it, at t_k. So now − t_k is a lower bound of its wait,
/// short by at most one interval between samples: the estimate's resolution. A mirror in step
/// shows 0; one that has confirmed nothing for a minute shows at least 59 s.
///
/// Samples at or below the confirmed position are forgotten, and so are samples that repeat the
/// position before them (nothing was written in between), so an idle primary keeps one. Past
/// `capacity` samples every other one is dropped, the oldest kept: a mirror far behind keeps its
/// age exact while the positions in between get coarser.
///
/// Pure; not thread safe.
class LagHistory {
 public:
  using Clock = std::chrono::steady_clock;
  /// An hour of samples a second.
  static constexpr std::size_t kDefaultCapacity = 3600;

  explicit LagHistory(std::size_t capacity = kDefaultCapacity);

  /// The primary's WAL position was `lsn` at `at`. Samples come in time order.
  void record(Clock::time_point at, protocol::XLogRecPtr lsn);
  /// The slot has confirmed every change up to `confirmed`.
  void confirmed_up_to(protocol::XLogRecPtr confirmed);
  /// How long the oldest change not confirmed has waited at `now` (at least); zero when every
  /// recorded position is confirmed.
  [[nodiscard]] Clock::duration oldest_wait(Clock::time_point now) const;
  [[nodiscard]] std::size_t size() const noexcept { return samples_.size(); }

 private:
  struct Sample {
    Clock::time_point at;
    protocol::XLogRecPtr lsn = 0;
  };
  void thin_out();

  std::size_t capacity_;
  std::deque<Sample> samples_;
};

}  // namespace pgdual::proxy
