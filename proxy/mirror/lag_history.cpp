#include "proxy/mirror/lag_history.h"

#include <algorithm>

namespace pgdual::proxy {

LagHistory::LagHistory(std::size_t capacity) : capacity_{std::max<std::size_t>(capacity, 2)} {}

void LagHistory::record(Clock::time_point at, protocol::XLogRecPtr lsn) {
  if (!samples_.empty() && lsn <= samples_.back().lsn) return;
  samples_.push_back({at, lsn});
  if (samples_.size() > capacity_) thin_out();
}

void LagHistory::confirmed_up_to(protocol::XLogRecPtr confirmed) {
  while (!samples_.empty() && samples_.front().lsn <= confirmed) samples_.pop_front();
}

LagHistory::Clock::duration LagHistory::oldest_wait(Clock::time_point now) const {
  if (samples_.empty()) return Clock::duration::zero();
  return std::max(now - samples_.front().at, Clock::duration::zero());
}

void LagHistory::thin_out() {
  std::deque<Sample> kept;
  for (std::size_t index = 0; index < samples_.size(); index += 2) kept.push_back(samples_[index]);
  samples_ = std::move(kept);
}

}  // namespace pgdual::proxy
