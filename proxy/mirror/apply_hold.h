#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "protocol/expected.h"
#include "protocol/pgoutput.h"
#include "protocol/replication.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// Where a message of the stream starts a unit the apply commits on its own: a transaction, at its
/// Begin, by its commit LSN (Begin.final_lsn); or a non-transactional message met between
/// transactions, by its LSN. std::nullopt for every other message, which belongs to the unit under
/// way. `in_transaction`: the apply is between a Begin and its Commit. Pure.
[[nodiscard]] std::optional<protocol::XLogRecPtr> unit_position(
    const protocol::logicalrep::LogicalReplicationMessage& message, bool in_transaction);

/// Why a hold at `target` can no longer be had, or std::nullopt when it can: the apply has already
/// fed the unit at `fed` (the highest it fed), at or after `target`, to the mirror. Target 0 (the
/// next unit, whatever it is) can always be had. Pure.
[[nodiscard]] std::optional<std::string> hold_refusal(protocol::XLogRecPtr target, protocol::XLogRecPtr fed);

/// The apply of one database held at one point of the primary's WAL for `pgdual verify` (docs/verify.md,
/// "At one point in time"), asked for by an admin console session (its `owner` number).
///
/// A hold at `target` stops the apply before the first unit at or after `target` (unit_position()):
/// every transaction the primary committed before that unit is committed on the mirror, and none
/// after, until the hold is released. The mirror then looks exactly as the primary did at that
/// point. While held at a position, clients' COMMITs that wait for the mirror wait too: so a hold
/// ends by itself kLimit after it was asked for, and when its console session ends.
///
/// Everything here runs on the applier's executor: the console hands its requests over with
/// co_spawn (WalMirrors::hold_apply).
class ApplyHold {
 public:
  /// How long a hold stopped the apply, measured where it stood.
  struct Times {
    std::chrono::microseconds stood_still{0};  ///< from the apply's first stop to its release
    /// Of which, the apply stood at a position: sessions' COMMITs waited for it (at_next_unit()).
    std::chrono::microseconds commits_waited{0};
  };

  /// How long one hold may last, from the console's first request to its release.
  static constexpr std::chrono::milliseconds kLimit{3'000};

  explicit ApplyHold(std::chrono::milliseconds limit = kLimit) noexcept : limit_{limit} {}

  /// Console side. Holds the apply for `owner` before the first unit at or after `target` (0: the
  /// next unit), or moves `owner`'s hold on to `target`. Answers once the apply stopped there, with
  /// the position of the unit it stopped before; or why not (held by another session, past the
  /// target already, not reached within the limit, released meanwhile).
  Awaitable<Expected<protocol::XLogRecPtr, std::string>> hold(std::uint64_t owner, protocol::XLogRecPtr target);
  /// Console side. Ends `owner`'s hold: how long the apply stood still; std::nullopt when `owner`
  /// held nothing.
  std::optional<Times> release(std::uint64_t owner);

  /// Applier side: whether a hold stops the apply before the unit at `unit`.
  [[nodiscard]] bool stops_before(protocol::XLogRecPtr unit) const noexcept;
  /// Applier side: whether the hold is one before the next unit, whatever it is (target 0), as
  /// verify asks before it makes its slot: the sessions do not wait for the apply meanwhile
  /// (AppliedUnits::set_held). A hold at a position is verify's last, a few round trips long.
  [[nodiscard]] bool at_next_unit() const noexcept { return request_ && request_->target == 0; }
  /// Applier side: the unit at `unit` goes to the mirror now.
  void fed(protocol::XLogRecPtr unit) noexcept;
  /// Applier side, once every unit before `unit` is committed on the mirror: says so to the console,
  /// and waits while the hold stops the apply before `unit` (until it is released, moved past
  /// `unit`, or expires). True when it expired: nobody released it in time.
  Awaitable<bool> stop_at(protocol::XLogRecPtr unit);
  /// The applier stops for good: any hold ends.
  void end() noexcept;

 private:
  using Clock = std::chrono::steady_clock;
  struct Request {
    std::uint64_t owner = 0;
    protocol::XLogRecPtr target = 0;
    Clock::time_point deadline{};
    std::optional<protocol::XLogRecPtr> stopped_before{};  ///< the apply stands before this unit for `target`
    std::optional<Clock::time_point> stopped_since{};      ///< the apply's first stop for this hold
    std::optional<Clock::time_point> waited_since{};       ///< its first stop at a position
  };

  /// Wakes whoever waits on `timer`: the timers stand for the two sides' conditions.
  static void wake(const std::shared_ptr<asio::steady_timer>& timer);
  /// Waits on `timer` until `deadline`, or until wake().
  static Awaitable<void> sleep(std::shared_ptr<asio::steady_timer>& timer, Clock::time_point deadline);

  std::chrono::milliseconds limit_;
  std::optional<Request> request_;
  protocol::XLogRecPtr fed_ = 0;
  std::shared_ptr<asio::steady_timer> console_wait_;  ///< the console waits for the apply to stop
  std::shared_ptr<asio::steady_timer> apply_wait_;    ///< the apply waits for the hold to end or move
};

}  // namespace pgdual::proxy
