#pragma once

// The primary's typical latency per statement, for judging the mirror against it (issue 20): a read
// the mirror served took how many times what the same statement usually takes on the primary?
// Pure: no I/O, no clock reads (callers measure), no logging.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

namespace pgdual::proxy {

/// The primary's typical latency for each statement fingerprint: the geometric mean of the
/// latencies recorded for it, as an exponentially weighted moving average of their logarithms
/// (weight 1/16 for each new latency; the first 16 are averaged plainly). A mean of logarithms
/// follows the bulk of the latencies and gives one slow run (a lock wait, a cold cache) little
/// say, where a mean of the latencies themselves would follow the outliers.
///
/// Memory is fixed: kCapacity fingerprints, 32 bytes each, in sets of kWays slots; a fingerprint's
/// hash picks its set. A fingerprint not yet known takes a free slot of its set, else the slot of the
/// set's least recently recorded fingerprint, which is forgotten. A workload's few hundred
/// statements all fit; a flood of one-off statements churns the sets, costing the steady ones at
/// most a re-learning. Fingerprints are told apart by a 64-bit hash: two that collide share one
/// average, which among 4096 fingerprints happens with a probability below 10^-12.
///
/// Thread safety: every member function may be called from any thread. The sets are spread over
/// kShards mutexes; a call hashes the fingerprint before locking, and holds one shard's lock for a
/// few comparisons and one logarithm or exponential: tens of nanoseconds.
class PrimaryLatencies {
 public:
  static constexpr std::size_t kCapacity = 4096;  ///< fingerprints remembered at most
  static constexpr std::size_t kWays = 4;         ///< slots per set
  static constexpr std::size_t kShards = 64;      ///< mutexes the sets are spread over
  /// Recordings before typical() answers: a statement's first runs on the primary (planning, a
  /// cold cache) say little of its usual latency.
  static constexpr std::uint32_t kMinSamples = 4;

  /// Counts one run of the statement `fingerprint` on the primary, which took `latency` (under 1 µs
  /// counts as 1 µs).
  void record(std::string_view fingerprint, std::chrono::microseconds latency);

  /// The statement's typical latency on the primary (at least 1 µs), or nullopt while it has been
  /// recorded fewer than kMinSamples times since it last took a slot.
  [[nodiscard]] std::optional<std::chrono::microseconds> typical(std::string_view fingerprint) const;

 private:
  static constexpr std::size_t kSets = kCapacity / kWays;
  static constexpr std::size_t kSetsPerShard = kSets / kShards;
  static_assert(kCapacity % kWays == 0 && kSets % kShards == 0);

  struct Slot {
    std::uint64_t key = 0;         ///< the fingerprint's hash; 0: free
    std::uint64_t last_used = 0;   ///< the shard's record count when last recorded
    double mean_log = 0.0;         ///< the moving average of ln(latency in µs)
    std::uint32_t samples = 0;     ///< saturates; 0 with a free slot
  };
  using Set = std::array<Slot, kWays>;

  struct alignas(64) Shard {  // one cache line per lock, so shards do not contend through it
    mutable std::mutex mutex;
    std::uint64_t records = 0;  ///< guarded by mutex; orders the slots for eviction
    std::array<Set, kSetsPerShard> sets{};  ///< guarded by mutex
  };

  struct Place {
    std::uint64_t key;
    std::size_t shard;
    std::size_t set;
  };
  [[nodiscard]] static Place place_of(std::string_view fingerprint) noexcept;

  std::unique_ptr<Shard[]> shards_ = std::make_unique<Shard[]>(kShards);  ///< 140 KB: kept off the stack
};

/// Latencies below this count as this much in latency_ratio(): a difference under a millisecond
/// is not one a client feels, and between two fast answers it is mostly noise (a first run's
/// planning, a busy core).
inline constexpr std::chrono::microseconds kLatencyRatioFloor{1000};

/// The mirror's latency over the primary's for the same read, as the brake judges it, each at
/// least kLatencyRatioFloor.
[[nodiscard]] double latency_ratio(std::chrono::microseconds mirror, std::chrono::microseconds primary) noexcept;

}  // namespace pgdual::proxy
