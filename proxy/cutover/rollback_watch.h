#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "proxy/cutover/role_swap.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// The automatic rollback (docs/cutover.md, "Automatic rollback"; cutover.auto_rollback): after a
/// swap an operator made, judges the new primary's answers every second for cutover.watch_seconds
/// (rollback_reason()), and when they fail too often swaps the roles back by itself: PAUSE WRITES,
/// SWAP ROLES, RESUME WRITES, each logged as an error and written to the audit trail. Once per
/// swap, and never after its own.
///
/// run() and stop() on one executor.
class RollbackWatch {
 public:
  RollbackWatch(asio::any_io_executor executor, config::CutoverConfig config, SwapParts parts);

  /// Watches until stop().
  Awaitable<void> run();
  void stop() { tick_.cancel(); }

 private:
  /// Whether the swap counted `swaps` is to be rolled back now; std::nullopt leaves it watched.
  /// Once its watch is over, or it was the rollback's own, it is marked judged.
  [[nodiscard]] std::optional<std::string> due(std::uint64_t swaps);
  Awaitable<void> roll_back(const std::string& reason);

  config::CutoverConfig config_;
  SwapParts parts_;
  asio::steady_timer tick_;
  std::uint64_t judged_ = 0;  ///< the last swap (RunningRoles::swaps()) done with
};

}  // namespace pgdual::proxy
