#include "proxy/session/wal_mirror.h"

#include "proxy/admin/metrics.h"
#include "proxy/idempotency_key.h"
#include "proxy/route/unit_marker.h"

namespace pgdual::proxy {

using protocol::TransactionStatus;

UnitPrefix WalMirror::open_unit(const UnitPlan& plan, std::vector<std::byte>& segment,
                                std::vector<protocol::Frame>& frames) {
  // A unit is opened a second time when its first messages ran nothing: it was not marked then.
  // A database given up sends the mirror nothing more: no unit waits for it.
  if (ticket_ || parts_.applied.given_up()) return {};
  const auto form = marker_form(MarkerFacts{.unit = parts_.planner.summary(),
                                            .frames = frames,
                                            .status = status_,
                                            .writes = plan.writes,
                                            .transaction_wrote = transaction_wrote_});
  if (plan.writes) transaction_wrote_ = true;
  if (form == MarkerForm::none) {
    if (plan.writes && status_ == TransactionStatus::idle) unmarked_write_ = true;
    return {};
  }
  key_ = next_unit_key();
  ticket_ = parts_.applied.expect(key_, parts_.executor);
  if (form == MarkerForm::query_text) return mark_query_text(key_, segment, frames);
  return marker_messages(key_);
}

Awaitable<void> WalMirror::finish_unit(const conflict::Outcome& primary) {
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
  const auto deadline = AppliedUnits::Clock::now() + parts_.context.config->mirror.timeout;
  const bool applied = co_await ticket.wait(deadline);
  parts_.context.metrics.count_wal_ack(applied);
  if (applied) {
    // Commit order: whatever the session committed before is on the mirror too.
    unapplied_.reset();
    unmarked_write_ = false;
    co_return;
  }
  parts_.context.log->warn("session={} key={}: the mirror has not applied the transaction within "
                           "mirror.timeout_ms; answered, and left to the apply as lag",
                           parts_.session_id, ticket.key());
  unapplied_ = std::move(ticket);
}

void WalMirror::end_unit(TransactionStatus status) {
  status_ = status;
  if (status == TransactionStatus::idle) transaction_wrote_ = false;
  key_.clear();
  ticket_.reset();
}

// Whether the primary committed the unit is unknown; the session ends with the primary.
void WalMirror::primary_lost() {
  ticket_.reset();
  unmarked_write_ = true;
}

bool WalMirror::mirror_has_own_writes() const noexcept {
  if (unmarked_write_ || parts_.applied.given_up()) return false;
  return !unapplied_ || unapplied_->applied();
}

}  // namespace pgdual::proxy
