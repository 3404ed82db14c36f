#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/proxy_config.h"

namespace pgdual::proxy {

/// Which backend is the primary now (docs/cutover.md): routing.primary as pgdual started, until
/// SWAP ROLES turns the roles round. Sessions that log in from then on take config(); open ones
/// follow at the start of their next transaction, when swaps() has moved past theirs.
///
/// Thread safety: every member function may be called from any thread.
class RunningRoles {
 public:
  /// A swap that took effect, for SHOW CUTOVER.
  struct Swap {
    std::string by;       ///< who ran SWAP ROLES: user@address, or kAutomaticRollback
    std::string at;       ///< RFC 3339, UTC
    std::string primary;  ///< the primary it made: "onprem" or "cloud"
    std::chrono::steady_clock::time_point when{};
  };
  /// Who the swaps of the automatic rollback are by.
  static constexpr std::string_view kAutomaticRollback = "pgdual automatic rollback";

  explicit RunningRoles(std::shared_ptr<const config::ProxyConfig> started);

  /// The configuration pgdual started with, its routing.primary the running one.
  [[nodiscard]] std::shared_ptr<const config::ProxyConfig> config() const;
  /// config() with the roles the other way round; in force once swapped() is told.
  [[nodiscard]] std::shared_ptr<const config::ProxyConfig> turned() const;
  /// Puts `turned` (from turned()) in force: `by` ran the swap.
  void swapped(std::shared_ptr<const config::ProxyConfig> turned, std::string by);

  /// Swaps since pgdual started: a session that saw fewer runs with the old roles.
  [[nodiscard]] std::uint64_t swaps() const noexcept { return swaps_; }
  [[nodiscard]] std::optional<Swap> last_swap() const;

  /// The primary answered a session's unit; `fault` when with an error that is not the client's
  /// own doing (conflict::classify_sqlstate). Counted from the last swap on, for the rollback watch.
  void count_answer(bool fault) noexcept;
  /// What count_answer() counted since the last swap: answers, and faults among them.
  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> answers_since_swap() const noexcept {
    return {answers_.load(std::memory_order_relaxed), faults_.load(std::memory_order_relaxed)};
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const config::ProxyConfig> config_;  ///< guarded by mutex_
  std::optional<Swap> last_swap_;                      ///< guarded by mutex_
  std::atomic<std::uint64_t> swaps_{0};
  std::atomic<std::uint64_t> answers_{0};
  std::atomic<std::uint64_t> faults_{0};
};

}  // namespace pgdual::proxy
