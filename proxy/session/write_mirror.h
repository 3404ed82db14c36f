#pragma once

#include <span>
#include <string>
#include <vector>

#include "conflict/outcome.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "proxy/backend/mirror_leg.h"
#include "proxy/net/asio.h"
#include "proxy/route/statement_pins.h"
#include "proxy/route/unit_planner.h"

namespace pgdual::proxy {

/// How the mirror learns what a session writes: the mirror mode (DESIGN.md, "mirror mode").
/// The relay loop (Session) calls only these, for each unit: open_unit(), send() for each segment
/// of client messages the primary was sent, finish_unit() once the primary has answered, then
/// end_unit(). Statement mirroring (DualWrite) runs each unit again on the mirror; WAL mirroring
/// (WalMirror) marks the unit's transaction and waits for the apply.
class WriteMirror {
 public:
  virtual ~WriteMirror() = default;

  /// A unit opens with `plan`. `segment` holds its messages and `frames` views them; a mode may
  /// rewrite a simple Query there, for both backends, or return pins for pinned copies of
  /// extended-protocol statements.
  [[nodiscard]] virtual UnitPrefix open_unit(const UnitPlan& plan, std::vector<std::byte>& segment,
                                                std::vector<protocol::Frame>& frames) = 0;
  /// The open unit's idempotency key; empty for a unit that does not write.
  [[nodiscard]] virtual const std::string& unit_key() const noexcept = 0;
  /// Client messages of the open unit that the primary was sent (`frames` views `segment`).
  virtual Awaitable<void> send(protocol::Bytes segment, std::span<const protocol::Frame> frames,
                               const UnitPrefix& pins) = 0;
  /// The primary answered the unit with `primary`: the client's answer is released when this
  /// returns.
  virtual Awaitable<void> finish_unit(const conflict::Outcome& primary) = 0;
  /// The unit is over; the primary's transaction status is `status`.
  virtual void end_unit(protocol::TransactionStatus status) = 0;
  /// The primary went away in the middle of the open unit: whether it applied it is unknown.
  virtual void primary_lost() = 0;
  /// Whatever the mirror still owes for earlier units is settled: before a read the mirror
  /// serves, and at the session's end.
  virtual Awaitable<void> settle() = 0;
  /// The session's mirror connection is being dropped, for `failure`. Returns whether a COMMIT
  /// sent on it is in flight, which must then be left to finish rather than cancelled.
  virtual bool mirror_lost(const MirrorFailure& failure) = 0;
  /// The open unit's final ReadyForQuery is held back from the client until finish_unit()
  /// returns: the client's COMMIT is answered once the mirror has the transaction.
  [[nodiscard]] virtual bool answer_waits_for_mirror() const noexcept = 0;
  /// The mirror has every write the session committed, as far as the mode knows: its reads may
  /// go there.
  [[nodiscard]] virtual bool mirror_has_own_writes() const noexcept = 0;
};

}  // namespace pgdual::proxy
