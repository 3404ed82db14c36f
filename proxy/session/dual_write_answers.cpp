// DualWrite, continued: the mirror's answers, read now or later, compared with the primary's.

#include <algorithm>

#include "conflict/compare.h"
#include "conflict/error_class.h"
#include "proxy/admin/metrics.h"
#include "proxy/session/dual_write.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

/// How many units' mirror answers a session leaves unread at most (DualWrite::answer_later).
constexpr std::size_t kMaxPendingAnswers = 16;

void count_mirror_answer(Metrics& metrics, const conflict::Outcome& mirror, sql::StatementKind kind) {
  if (mirror.reachability != conflict::Reachability::reached) return;
  metrics.count_query(Backend::mirror, kind);
  if (mirror.error) metrics.count_error(Backend::mirror, mirror.error->sqlstate);
}

}  // namespace

// A unit both ran at once (BEGIN, a write, SAVEPOINT...) inside a transaction that goes on: the
// primary runs the client's next statement while the mirror runs this one, instead of one after
// the other. Not while the transaction's reads go to the mirror, whose state they need settled,
// nor while the mirror's catalog must first say which column defaults the write drew.
bool DualWrite::answer_may_wait(const conflict::Outcome& primary) const {
  return parts_.link.connected() && !parts_.reads.transaction_on_mirror() &&
         primary.transaction_status == TransactionStatus::in_transaction && !needs_column_defaults(primary);
}

// What the mirror was sent goes out now; its answer is read later (settle_pending): before a unit
// whose mirror answer is read at once, before the client's COMMIT, before a read the mirror
// serves, at the session's end, and once more than kMaxPendingAnswers wait. The session's one
// connection keeps the order: whatever the mirror runs next, it runs after this. So the mirror
// commits a transaction while the primary runs the next one.
Awaitable<void> DualWrite::answer_later(PendingAnswer pending) {
  auto& link = parts_.link;
  pending.mark = link.leg().answers_queued();
  pending_.push_back(std::move(pending));
  std::optional<MirrorFailure> failure;
  try {
    co_await link.leg().flush(link.deadline());
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (failure) co_return link.drop(*failure);
  co_await settle_pending(kMaxPendingAnswers);
}

// The mirror's deadline counts from here: it had the time since it was sent besides.
Awaitable<void> DualWrite::settle_pending(std::size_t keep) {
  auto& link = parts_.link;
  while (link.connected() && pending_.size() > keep) {
    std::optional<MirrorFailure> failure;
    conflict::Outcome answer;
    try {
      answer = co_await link.leg().finish_through(pending_.front().mark, link.deadline());
    } catch (const MirrorFailure& error) {
      failure = error;
    }
    if (failure) co_return link.drop(*failure);
    auto pending = std::move(pending_.front());
    pending_.pop_front();
    if (pending.of == PendingAnswer::Of::unit) {
      settle_pending_unit(std::move(pending), answer);
    } else {
      settle_pending_commit(std::move(pending), answer);
    }
  }
}

// The column defaults were known when the unit was left to settle later (answer_may_wait): no
// catalog query, which would read the answers of what the mirror was sent since.
void DualWrite::settle_pending_unit(PendingAnswer pending, const conflict::Outcome& mirror) {
  note_mirror_answer(mirror, pending.statements_given);
  auto& record = pending.record;
  count_mirror_answer(parts_.context.metrics, mirror, pending.kind);
  if (pending.writes) defaults_.add_drawn(record.primary.command_tag, record.tables, record.nondeterministic);
  auto kind = conflict::compare(record.primary, mirror);
  if (!kind && pending.writes && !record.nondeterministic.empty()) kind = conflict::ConflictKind::nondeterministic;
  if (!kind) return;
  if (*kind != conflict::ConflictKind::nondeterministic) record.nondeterministic.clear();
  record.kind = *kind;
  record.mirror = mirror;
  parts_.recorder.submit(std::move(record), false);
}

void DualWrite::settle_pending_commit(PendingAnswer pending, const conflict::Outcome& answer) {
  auto& mirror = pending.record.mirror;
  const auto& injected = parts_.link.leg().injected_outcome();
  if (injected.error && conflict::classify_sqlstate(injected.error->sqlstate).missing_table_or_schema) {
    parts_.context.log->error("session={} the mirror has no pgdual.ledger table: run `pgdual init` against it",
                              parts_.session_id);
  }
  if (pending.of == PendingAnswer::Of::own_commit) {
    // The unit's own answer was compared already; only a failed commit is news.
    if (!injected.error || mirror.error) return;
    mirror.error = injected.error;
    parts_.recorder.submit(std::move(pending.record), false);
    return;
  }
  note_mirror_answer(answer, pending.statements_given);
  mirror = answer;
  if (injected.error && !mirror.error) mirror.error = injected.error;
  const auto kind = conflict::compare(pending.record.primary, mirror);
  if (!kind) return;
  pending.record.kind = *kind;
  parts_.recorder.submit(std::move(pending.record), false);
}

// A COMMIT in flight is left to finish: the ledger tells later whether it did. Its conflict stands
// for its whole transaction, whose writes waiting for their answers are not recorded apart: the
// commit took them along or not.
bool DualWrite::mirror_lost(const MirrorFailure& failure) {
  std::vector<std::string> committing_keys;
  for (const auto& pending : pending_) {
    if (pending.of != PendingAnswer::Of::unit) committing_keys.push_back(pending.record.idempotency_key);
  }
  for (auto& pending : std::exchange(pending_, {})) {
    if (!pending.writes) continue;
    if (pending.of == PendingAnswer::Of::unit &&
        std::ranges::find(committing_keys, pending.record.idempotency_key) != committing_keys.end()) {
      continue;
    }
    auto& record = pending.record;
    record.kind = failure.reachability() == conflict::Reachability::timed_out
                      ? conflict::ConflictKind::mirror_timeout
                      : conflict::ConflictKind::mirror_unavailable;
    record.mirror.reachability = failure.reachability();
    record.nondeterministic.clear();
    parts_.recorder.submit(std::move(record), pending.of != PendingAnswer::Of::unit);
  }
  return !committing_keys.empty();
}

void DualWrite::note_mirror_answer(const conflict::Outcome& mirror, std::span<const std::string> statements_given) {
  if (mirror.error) parts_.planner.mirror_may_lack(statements_given);
}

const std::vector<std::string>& DualWrite::unit_tables() const {
  static const std::vector<std::string> kNoTables;
  const auto& statement = parts_.planner.summary().representative;
  return unit_.plan.writes && statement ? statement->tables : kNoTables;
}

bool DualWrite::needs_column_defaults(const conflict::Outcome& primary) const {
  return !defaults_.known() && draws_defaults(primary.command_tag) && !unit_tables().empty();
}

Awaitable<void> DualWrite::note_unit_defaults(const conflict::Outcome& primary) {
  if (needs_column_defaults(primary)) {
    co_await settle_pending();
    const bool known = co_await defaults_.read(parts_.link);
    if (!known) co_return;
  }
  defaults_.add_drawn(primary.command_tag, unit_tables(), unit_.unpinned);
}

void DualWrite::compare_and_record(const conflict::Outcome& primary, const conflict::Outcome& mirror) {
  // Without data changes, a missing mirror misses nothing: session state is
  // replayed on the next connection.
  note_mirror_answer(mirror, unit_.statements_given);
  if (!unit_.plan.writes && mirror.reachability != conflict::Reachability::reached) return;
  count_mirror_answer(parts_.context.metrics, mirror, parts_.planner.summary().kind);
  auto kind = conflict::compare(primary, mirror);
  if (!kind && unit_.plan.writes && !unit_.unpinned.empty()) kind = conflict::ConflictKind::nondeterministic;
  if (kind) parts_.recorder.submit(unit_record(*kind, primary, mirror), false);
}

conflict::ConflictRecord DualWrite::unit_record(conflict::ConflictKind kind, const conflict::Outcome& primary,
                                                const conflict::Outcome& mirror) const {
  conflict::ConflictRecord record;
  record.idempotency_key = unit_.key;
  record.session = parts_.session;
  if (const auto& statement = parts_.planner.summary().representative) {
    record.statement_fingerprint = statement->fingerprint;
    record.statement_normalized = statement->normalized;
    record.tables = statement->tables;
  }
  record.kind = kind;
  if (kind == conflict::ConflictKind::nondeterministic) record.nondeterministic = unit_.unpinned;
  record.primary = primary;
  record.mirror = mirror;
  return record;
}

}  // namespace pgdual::proxy
