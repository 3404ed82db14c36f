#include "proxy/session/wal_mirror.h"

#include "proxy/admin/metrics.h"
#include "proxy/idempotency_key.h"
#include "proxy/route/read_eligibility.h"
#include "proxy/route/uncarried_writes.h"
#include "proxy/route/unit_marker.h"

namespace pgdual::proxy {

using protocol::TransactionStatus;

// A schema change to the session's temporary relations alone stays on the primary: the mirror has
// none of them, and a permanent relation of the same name there must not take it instead.
const UnitSummary& WalMirror::carried_summary() {
  const auto& unit = parts_.planner.summary();
  if (unit.schema_change_text.empty() || !unit.representative || !temporary_.only_temporary(*unit.representative)) {
    return unit;
  }
  temporary_only_ = unit;
  temporary_only_.schema_change_text.clear();
  temporary_only_.schema_change_late = false;
  return temporary_only_;
}

UnitPrefix WalMirror::open_unit(const UnitPlan& plan, std::vector<std::byte>& segment,
                                std::vector<protocol::Frame>& frames) {
  const auto& unit = carried_summary();
  const auto refusal = plan_refusal(
      UncarriedFacts{.unit = unit, .frames = frames, .status = status_, .mirror = parts_.context.config->mirror});
  if (refusal.form != RefusalForm::none) {
    parts_.context.log->info("session={}: refused a unit the WAL mirror cannot carry ({} = \"refuse\")",
                             parts_.session_id, setting_name(refusal.what));
    return refuse_unit(refusal, segment, frames);
  }
  // A unit is opened a second time when its first messages ran nothing: it was not marked then.
  // A database given up sends the mirror nothing more: no unit waits for it.
  if (ticket_ || parts_.applied.given_up()) return {};
  if (const auto announcement = plan_announcement(unit, status_); announcement.announces) {
    announce_after(announcement);
    return {};
  }
  const auto marker = plan_marker(MarkerFacts{.unit = unit,
                                              .frames = frames,
                                              .status = status_,
                                              .writes = plan.writes,
                                              .transaction_wrote = transaction_wrote_});
  if (plan.writes) transaction_wrote_ = true;
  if (unit.schema_change_late || (!unit.schema_change_text.empty() && marker.schema_change.empty())) {
    left_out_ = "a change of schema the WAL mirror cannot carry (after other statements of its unit, or beside one "
                "that must run alone); run it on the mirror too";
  } else if (unit.fills_new_column) {
    // The WAL carries neither a table's rewrite nor a fast default's value: the mirror computes its own.
    left_out_ = "a column added with a value computed as it runs (a default that is no constant, serial, identity): "
                "the mirror filled the rows already there with its own values; compare and repair the table";
  }
  if (marker.form == MarkerForm::none) return {};
  if (marker.carries_key) {
    unit_marked_ = true;
    key_ = next_unit_key();
    ticket_ = parts_.applied.expect(key_, parts_.executor);
  }
  const auto statement = marker_statement(key_, marker.schema_change);
  if (marker.form == MarkerForm::query_text) return mark_query_text(statement, marker, segment, frames);
  return marker_messages(statement, marker, frames);
}

// COMMIT PREPARED and the statements that must run alone refuse to run in a transaction block, so
// no marker can share their transaction: the key, and the statement for the mirror, follow in a
// non-transactional message of their own once the primary has run the unit (announce()).
void WalMirror::announce_after(const AnnouncementPlan& plan) {
  unit_marked_ = true;
  key_ = next_unit_key();
  ticket_ = parts_.applied.expect(key_, parts_.executor);
  announcement_ = announcement_statement(key_, plan.schema_change);
}

Awaitable<bool> WalMirror::announce() {
  const auto announced = co_await parts_.run_on_primary(std::exchange(announcement_, {}));
  if (conflict::succeeded(announced)) co_return true;
  // A cancel or a terminated backend: the unit is on the primary; the mirror learns its rows from
  // the slot, but its statement to run alone, if any, is lost to it.
  parts_.context.log->warn("session={} key={}: the primary refused pgdual's announcement of the unit ({}); answered "
                           "without waiting for the mirror",
                           parts_.session_id, key_, announced.error ? announced.error->sqlstate : "no answer");
  co_return false;
}

Awaitable<void> WalMirror::finish_unit(const conflict::Outcome& primary) {
  // The whole unit is known by now, messages that came after its opening included.
  if (conflict::succeeded(primary)) {
    if (const auto& statement = parts_.planner.summary().representative) {
      temporary_.note(*statement);
      if (discards_temporary_relations(*statement)) temporary_ = {};
    }
    const auto uncarried = uncarried_note(parts_.planner.summary(), parts_.context.config->mirror);
    if (!uncarried.empty()) left_out_ += left_out_.empty() ? uncarried : "; and " + uncarried;
    if (!left_out_.empty()) record_left_out(primary);
  }
  if (!ticket_) co_return;
  auto ticket = std::move(*ticket_);
  ticket_.reset();
  const bool ended = primary.transaction_status == TransactionStatus::idle;
  if (!ended) co_return;  // the marker rides in the open transaction; its COMMIT gets one of its own
  if (!conflict::succeeded(primary)) {
    // A text of several transactions may have committed some before its error.
    if (parts_.planner.summary().transaction_control) unmarked_write_ = true;
    co_return;
  }
  if (!announcement_.empty()) {
    const bool announced = co_await announce();
    if (!announced) {
      unmarked_write_ = true;
      co_return;
    }
  }
  const auto waited_from = AppliedUnits::Clock::now();
  const auto deadline = waited_from + parts_.context.config->mirror.timeout;
  const bool applied = co_await ticket.wait(deadline);
  parts_.context.metrics.observe_wal_ack_wait(
      std::chrono::duration_cast<std::chrono::microseconds>(AppliedUnits::Clock::now() - waited_from));
  if (applied) {
    parts_.context.metrics.count_wal_ack(Metrics::WalAck::applied);
    // Commit order: whatever the session committed before is on the mirror too.
    unapplied_.reset();
    wrote_ = true;
    unmarked_write_ = false;
    co_return;
  }
  if (parts_.applied.syncing()) {
    // Not late: pgdual sync copies the database; the mirror is no copy yet (AppliedUnits::set_syncing).
    parts_.context.metrics.count_wal_ack(Metrics::WalAck::syncing);
  } else if (parts_.applied.held()) {
    // Not late: the apply stands still for a moment, for pgdual verify (AppliedUnits::set_held).
    parts_.context.metrics.count_wal_ack(Metrics::WalAck::held_for_verify);
    parts_.context.log->debug("session={} key={}: answered while the mirror's apply is held for verify; left to "
                              "the apply", parts_.session_id, ticket.key());
  } else {
    parts_.context.metrics.count_wal_ack(Metrics::WalAck::timed_out);
    parts_.context.log->warn("session={} key={}: the mirror has not applied the transaction within "
                             "mirror.timeout_ms; answered, and left to the apply as lag",
                             parts_.session_id, ticket.key());
  }
  unapplied_ = std::move(ticket);
}

// Statements that change the schema after others in one unit, or beside one that must run alone
// (CREATE INDEX CONCURRENTLY), cannot travel in the unit's transaction, and large objects (a
// catalog's rows) and unlogged tables' rows are never in logical decoding: the mirror lacks them
// until an operator copies them there, and later changes may fail to apply.
void WalMirror::record_left_out(const conflict::Outcome& primary) {
  conflict::ConflictRecord record;
  record.idempotency_key = key_.empty() ? next_unit_key() : key_;
  record.session = parts_.session;
  if (const auto& statement = parts_.planner.summary().representative) {
    record.statement_fingerprint = statement->fingerprint;
    record.statement_normalized = statement->normalized;
    record.tables = statement->tables;
  }
  record.kind = conflict::ConflictKind::unclassified;
  record.primary = primary;
  record.mirror.reachability = conflict::Reachability::unreachable;
  parts_.context.log->warn("session={} key={}: {}", parts_.session_id, record.idempotency_key, left_out_);
  parts_.recorder.submit(std::move(record), false);
}

// A transaction that wrote and ended in a unit without a marker (a statement that must run alone,
// a FunctionCall, "INSERT ...; COMMIT" in one Query) is on the mirror only once a later marked
// one is. One that rolled back left nothing to wait for.
void WalMirror::end_unit(TransactionStatus status) {
  const bool ended_unmarked = status == TransactionStatus::idle && transaction_wrote_ && !unit_marked_;
  if (ended_unmarked && !rolled_back()) unmarked_write_ = true;
  status_ = status;
  left_out_.clear();
  if (status == TransactionStatus::idle) transaction_wrote_ = false;
  unit_marked_ = false;
  key_.clear();
  ticket_.reset();
  announcement_.clear();
}

// The open transaction ends without a commit: it had failed (its COMMIT answers ROLLBACK), or the
// unit is one ROLLBACK.
bool WalMirror::rolled_back() const {
  if (status_ == TransactionStatus::failed) return true;
  const auto& unit = parts_.planner.summary();
  return unit.statements == 1 && unit.representative &&
         unit.representative->transaction == sql::TransactionControl::rollback;
}

// Whether the primary committed the unit is unknown; the session ends with the primary.
void WalMirror::primary_lost() {
  ticket_.reset();
  unmarked_write_ = true;
}

bool WalMirror::mirror_has_own_writes() const noexcept {
  if (unmarked_write_ || parts_.applied.given_up() || parts_.applied.syncing()) return false;
  if (wrote_ && parts_.applied.mirror_recovering()) return false;
  return !unapplied_ || unapplied_->applied();
}

}  // namespace pgdual::proxy
