#pragma once

#include <cstdint>

#include "protocol/backend_messages.h"
#include "proxy/route/unit_planner.h"

namespace pgdual::proxy {

/// What a unit about to go to the primary needs of the write gate (proxy/cutover/write_gate.h),
/// which holds write transactions while writes are paused.
enum class WritePass : std::uint8_t {
  none,   ///< it cannot write, or the session's pass already covers it
  /// It writes inside a transaction already running on the primary, which holds no pass (one that
  /// began read-only): it goes on, counted in flight, since it cannot be moved off the primary.
  join,
  /// It may begin a transaction that writes (a write outside a transaction block, or a BEGIN that
  /// is not READ ONLY): it waits while writes are paused.
  enter,
};

/// The unit summarized by `unit`, going to a primary in `primary_status`, from a session that holds
/// a pass when `holding`. Pure.
[[nodiscard]] WritePass write_pass_for(const UnitSummary& unit, protocol::TransactionStatus primary_status,
                                       bool holding) noexcept;

}  // namespace pgdual::proxy
