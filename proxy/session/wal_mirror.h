#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conflict/conflict_record.h"
#include "conflict/outcome.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "proxy/mirror/applied_units.h"
#include "proxy/net/asio.h"
#include "proxy/route/statement_pins.h"
#include "proxy/route/temporary_relations.h"
#include "proxy/route/unit_marker.h"
#include "proxy/route/unit_planner.h"
#include "proxy/session/conflict_recorder.h"
#include "proxy/session/session_context.h"
#include "proxy/session/write_mirror.h"

namespace pgdual::proxy {

/// WAL mirroring (docs/wal-mirror.md): the mirror gets what the primary committed, from the
/// database's slot, applied by its MirrorApplier; the session sends the mirror nothing. It marks
/// each unit that ends a transaction that wrote with the unit's key (a transactional logical
/// message, UnitPrefix), and holds the client's answer until the apply has committed that
/// transaction on the mirror, or mirror.timeout_ms has passed: then the transaction is lag,
/// applied later from the slot, and the session's reads stay on the primary until the mirror
/// has it.
class WalMirror final : public WriteMirror {
 public:
  struct Parts {
    const SessionContext& context;
    std::uint64_t session_id;
    const conflict::SessionInfo& session;
    UnitPlanner& planner;  ///< told what went to the primary alone
    ConflictRecorder& recorder;
    AppliedUnits& applied;  ///< the session's database's
    asio::any_io_executor executor;
    /// Runs a statement of pgdual's own on the primary after the unit, before the client's
    /// answer is released; its answers never reach the client.
    std::function<Awaitable<conflict::Outcome>(std::string)> run_on_primary;
  };
  explicit WalMirror(Parts parts) : parts_{std::move(parts)} {}

  /// Marks the unit when it ends a transaction that wrote, or begins with statements that change
  /// the schema (plan_marker).
  [[nodiscard]] UnitPrefix open_unit(const UnitPlan& plan, std::vector<std::byte>& segment,
                                     std::vector<protocol::Frame>& frames) override;
  /// The marked unit's key; empty for any other.
  [[nodiscard]] const std::string& unit_key() const noexcept override { return key_; }
  /// The mirror learns the unit's writes from the slot.
  /// Nothing goes to the mirror; the planner hears so, to keep its count of the statements the
  /// mirror holds in step (a read steered there later is given the Parse it lacks).
  Awaitable<void> send(protocol::Bytes, std::span<const protocol::Frame> frames, const UnitPrefix&) override {
    parts_.planner.sent_to_primary_only(frames);
    co_return;
  }
  /// Waits until the mirror has the marked unit's transaction, when the primary committed it.
  Awaitable<void> finish_unit(const conflict::Outcome& primary) override;
  void end_unit(protocol::TransactionStatus status) override;
  void primary_lost() override;
  /// Nothing is owed: the mirror's reads wait for no answer of the session's.
  Awaitable<void> settle() override { co_return; }
  /// The session's mirror connection serves reads only.
  bool mirror_lost(const MirrorFailure&) override { return false; }
  [[nodiscard]] bool answer_waits_for_mirror() const noexcept override { return ticket_.has_value(); }
  [[nodiscard]] bool mirror_has_own_writes() const noexcept override;

 private:
  /// Expects the key of a unit that no marker may join, to be announced after it (plan_announcement).
  void announce_after(const AnnouncementPlan& plan);
  /// Runs the announcement on the primary; false when the primary refused it.
  Awaitable<bool> announce();
  void record_left_out(const conflict::Outcome& primary);
  /// At the end of a unit that ends the open transaction: it committed nothing.
  [[nodiscard]] bool rolled_back() const;
  /// The planner's summary of the open unit, less its schema change when that names only the
  /// session's temporary relations.
  [[nodiscard]] const UnitSummary& carried_summary();

  Parts parts_;
  protocol::TransactionStatus status_ = protocol::TransactionStatus::idle;  ///< the primary's, between units
  bool transaction_wrote_ = false;  ///< the open transaction changed data in an earlier unit
  std::string key_;                 ///< the open unit's marker key
  bool unit_marked_ = false;        ///< the open unit carries a key: the transaction it ends waits for the apply
  std::optional<AppliedUnits::Ticket> ticket_;  ///< the open unit's, while it may be waited for
  std::string announcement_;  ///< the open unit's announcement_statement(), run once the primary succeeded
  /// The last transaction answered before the mirror had it; while it is not applied, the
  /// session's reads stay on the primary.
  std::optional<AppliedUnits::Ticket> unapplied_;
  /// A write the session made went without a marker (a statement that needs its transaction to
  /// itself, a FunctionCall, text that could not be parsed): the mirror has it once a later
  /// marked transaction is applied, which commit order brings after it.
  bool unmarked_write_ = false;
  /// The mirror applied a transaction of the session's before its answer: one the mirror could lose
  /// if it stopped before that was durable there (AppliedUnits::mirror_recovering()).
  bool wrote_ = false;
  /// What of the open unit the WAL mirror cannot carry, for the log; empty when it carries it all.
  std::string left_out_;
  TemporaryRelations temporary_;  ///< the session's, whose schema changes stay on the primary
  UnitSummary temporary_only_;     ///< carried_summary()'s copy of a unit that changes only those
};

}  // namespace pgdual::proxy
