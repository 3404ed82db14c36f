#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conflict/conflict_record.h"
#include "conflict/outcome.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "proxy/backend/mirror_leg.h"
#include "proxy/net/asio.h"
#include "proxy/route/statement_pins.h"
#include "proxy/route/unit_planner.h"
#include "proxy/session/column_defaults.h"
#include "proxy/session/conflict_recorder.h"
#include "proxy/session/mirror_link.h"
#include "proxy/session/mirror_reads.h"
#include "proxy/session/session_context.h"
#include "proxy/session/write_mirror.h"

namespace pgdual::proxy {

/// Statement mirroring (docs/dual-write.md): each unit the client sends runs again on the
/// mirror as its plan says (MirrorMode: at once, wrapped in a transaction of pgdual's own that
/// commits only once the primary's succeeded, or after the primary's COMMIT), with now() and
/// its kin pinned to the primary's values. The mirror's answers, read at once or later, are
/// compared with the primary's, and each difference becomes a conflict record.
class DualWrite final : public WriteMirror {
 public:
  /// What the dual write works with, all owned by the session.
  struct Parts {
    const SessionContext& context;
    std::uint64_t session_id;
    const conflict::SessionInfo& session;
    UnitPlanner& planner;
    MirrorLink& link;
    MirrorReads& reads;
    ConflictRecorder& recorder;
  };
  explicit DualWrite(Parts parts);

  /// Gives the unit its idempotency key, and pins now() and its kin in its statements.
  [[nodiscard]] UnitPrefix open_unit(const UnitPlan& plan, std::vector<std::byte>& segment,
                                        std::vector<protocol::Frame>& frames) override;
  [[nodiscard]] const std::string& unit_key() const noexcept override { return unit_.key; }
  /// The mirror gets the messages now, once the primary has answered them (writes), or never.
  Awaitable<void> send(protocol::Bytes segment, std::span<const protocol::Frame> frames,
                       const UnitPrefix& pins) override;
  /// The mirror's answer is read now or left for later, and compared.
  Awaitable<void> finish_unit(const conflict::Outcome& primary) override;
  void end_unit(protocol::TransactionStatus status) override;
  void primary_lost() override;
  Awaitable<void> settle() override { co_await settle_pending(0); }
  /// The writes whose answers were pending become conflicts.
  bool mirror_lost(const MirrorFailure& failure) override;
  /// The client's answer goes at once; the mirror's is compared when it comes.
  [[nodiscard]] bool answer_waits_for_mirror() const noexcept override { return false; }
  /// A write the mirror failed becomes a conflict, which keeps the reads on the primary itself.
  [[nodiscard]] bool mirror_has_own_writes() const noexcept override { return true; }
  /// Reads the answers of the units left to settle later, oldest first, and compares them,
  /// until `keep` are left.
  Awaitable<void> settle_pending(std::size_t keep = 0);

 private:
  /// Client messages for the mirror, as they came, with the pins to apply to the mirror's copy.
  struct DeferredSegment {
    std::vector<std::byte> bytes{};
    UnitPrefix pins{};
  };

  /// The open unit, as far as the mirror is concerned.
  struct Unit {
    UnitPlan plan;
    std::string key;  ///< idempotency key, for a unit that writes
    /// The mirror's copy of the unit (for a retry outside a transaction
    /// block, or, after_primary, to send once the primary has committed).
    std::vector<std::byte> mirror_copy;
    bool mirror_began = false;  ///< the mirror's BEGIN of a wrapped unit is sent
    std::optional<conflict::Reachability> mirror_lost;  ///< the mirror broke off during the unit
    std::vector<std::string> unpinned;  ///< nondeterministic values left as they were
    /// A write's segments, held back until the primary has answered them.
    std::vector<DeferredSegment> deferred;
    /// The statements the mirror was given a Parse of: an error in its answer may mean it lacks them.
    std::vector<std::string> statements_given;
  };

  /// A unit the mirror was sent, whose answer is read later (settle_pending), so that the client
  /// goes on meanwhile.
  struct PendingAnswer {
    /// What the mirror's answer is.
    enum class Of : std::uint8_t {
      /// A unit both run at once, inside a transaction that goes on: its outcome, to compare.
      unit,
      /// The client's COMMIT (after_primary), run after the primary's: its outcome, to compare.
      clients_commit,
      /// pgdual's own COMMIT of a wrapped unit, whose answer was compared already: only its
      /// failure is a conflict.
      own_commit,
    };
    conflict::ConflictRecord record;  ///< the unit's, should the answer differ; for a unit, nondeterministic holds its unpinned values
    Of of = Of::unit;
    sql::StatementKind kind = sql::StatementKind::write;  ///< the unit's, for the metrics
    bool writes = false;  ///< the unit changes data: a mirror that does not answer it misses a write
    std::uint64_t mark = 0;  ///< MirrorLeg::answers_queued() once the unit was queued
    std::vector<std::string> statements_given{};  ///< the unit's, as Unit::statements_given
  };

  void queue_for_mirror(std::span<const protocol::Frame> frames, const UnitPrefix& pins, bool copy_data);
  /// The planner's copy of `frames` for the mirror, appended to `out`; notes the statements given.
  void copy_for_mirror(std::span<const protocol::Frame> frames, std::vector<std::byte>& out);
  /// After the mirror's answer to a unit: one with an error may have failed the statements it
  /// was given, which are then prepared again at their next use.
  void note_mirror_answer(const conflict::Outcome& mirror, std::span<const std::string> statements_given);
  /// Queues the unit's held-back writes for the mirror once the primary has answered them; drops
  /// them and returns false when the primary's error was one of chance (cancel, deadlock...): the
  /// mirror then has nothing to run, nor to compare.
  [[nodiscard]] bool release_deferred_writes(const conflict::Outcome& primary);
  /// Reads the answers the mirror owes before `bytes` more are sent to it, when they are many.
  Awaitable<void> make_room_for(std::size_t bytes);
  Awaitable<void> finish_parallel(const conflict::Outcome& primary);
  Awaitable<conflict::Outcome> finish_wrapped(const conflict::Outcome& primary);
  Awaitable<std::optional<conflict::Outcome>> finish_after_primary(const conflict::Outcome& primary);
  Awaitable<conflict::Outcome> mirror_answer(MirrorLeg::Clock::time_point deadline);
  /// The tables the open unit writes to; none for a unit that does not write.
  [[nodiscard]] const std::vector<std::string>& unit_tables() const;
  /// The open unit drew column defaults the session does not know yet: the mirror's catalog must be read.
  [[nodiscard]] bool needs_column_defaults(const conflict::Outcome& primary) const;
  /// The open unit's volatile column defaults into its unpinned values, read from the mirror's catalog if need be.
  Awaitable<void> note_unit_defaults(const conflict::Outcome& primary);
  void compare_and_record(const conflict::Outcome& primary, const conflict::Outcome& mirror);
  [[nodiscard]] conflict::ConflictRecord unit_record(conflict::ConflictKind kind, const conflict::Outcome& primary,
                                                    const conflict::Outcome& mirror) const;
  /// Whether the mirror's answer to the unit, which both ran at once, may be read later.
  [[nodiscard]] bool answer_may_wait(const conflict::Outcome& primary) const;
  Awaitable<void> answer_later(PendingAnswer pending);
  void settle_pending_unit(PendingAnswer pending, const conflict::Outcome& mirror);
  void settle_pending_commit(PendingAnswer pending, const conflict::Outcome& mirror);

  Parts parts_;
  Unit unit_;
  std::string transaction_key_;   ///< the idempotency key of the open client transaction
  bool transaction_writes_ = false;
  std::string transaction_time_;  ///< now() pinned for the open transaction
  ColumnDefaults defaults_;
  std::deque<PendingAnswer> pending_;
};

}  // namespace pgdual::proxy
