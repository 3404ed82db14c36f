#include "proxy/route/statement_latencies.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace pgdual::proxy {
namespace {

// The moving average's weight for a new latency, as a divisor: 1/16 weighs the last few dozen runs,
// enough to ride out one slow run yet follow a statement whose plan or data changed within minutes.
constexpr std::uint32_t kAverageOver = 16;

double log_of(std::chrono::microseconds latency) {
  return std::log(static_cast<double>(std::max<std::int64_t>(latency.count(), 1)));
}

}  // namespace

PrimaryLatencies::Place PrimaryLatencies::place_of(std::string_view fingerprint) noexcept {
  const std::uint64_t hash = std::hash<std::string_view>{}(fingerprint);
  const std::size_t set = static_cast<std::size_t>(hash % kSets);
  // Key 0 marks a free slot; a hash of 0 shares a key with a hash of 1 (in its set only).
  return {.key = hash == 0 ? 1 : hash, .shard = set % kShards, .set = set / kShards};
}

void PrimaryLatencies::record(std::string_view fingerprint, std::chrono::microseconds latency) {
  const auto place = place_of(fingerprint);
  const double value = log_of(latency);
  Shard& shard = shards_[place.shard];
  const std::scoped_lock lock(shard.mutex);
  Set& set = shard.sets[place.set];
  // The fingerprint's slot, else a free one, else the least recently recorded: a free slot's
  // last_used is 0, below every used one's, so one minimum finds both.
  Slot* slot = std::ranges::find(set, place.key, &Slot::key);
  if (slot == set.end()) {
    slot = std::ranges::min_element(set, {}, &Slot::last_used);
    *slot = Slot{.key = place.key};
  }
  slot->last_used = ++shard.records;
  if (slot->samples < std::numeric_limits<std::uint32_t>::max()) ++slot->samples;
  // Until kAverageOver samples this is the plain mean; from then on an exponential average.
  slot->mean_log += (value - slot->mean_log) / static_cast<double>(std::min(slot->samples, kAverageOver));
}

std::optional<std::chrono::microseconds> PrimaryLatencies::typical(std::string_view fingerprint) const {
  const auto place = place_of(fingerprint);
  const Shard& shard = shards_[place.shard];
  double mean_log = 0.0;
  {
    const std::scoped_lock lock(shard.mutex);
    const Set& set = shard.sets[place.set];
    const Slot* slot = std::ranges::find(set, place.key, &Slot::key);
    if (slot == set.end() || slot->samples < kMinSamples) return std::nullopt;
    mean_log = slot->mean_log;
  }
  return std::chrono::microseconds{std::max<std::int64_t>(std::llround(std::exp(mean_log)), 1)};
}

double latency_ratio(std::chrono::microseconds mirror, std::chrono::microseconds primary) noexcept {
  const auto floored = [](std::chrono::microseconds latency) {
    return static_cast<double>(std::max(latency, kLatencyRatioFloor).count());
  };
  return floored(mirror) / floored(primary);
}

}  // namespace pgdual::proxy
