#include "proxy/session/conflict_recorder.h"

#include <algorithm>
#include <string>

#include "proxy/admin/metrics.h"
#include "proxy/conflict_sink.h"
#include "proxy/idempotency_key.h"

namespace pgdual::proxy {
namespace {

/// How many units with an unknown mirror commit a session remembers to look up.
constexpr std::size_t kMaxUnknownCommits = 1024;

IdempotencyKeyGenerator& thread_ids() {
  thread_local IdempotencyKeyGenerator ids;
  return ids;
}

}  // namespace

void ConflictRecorder::submit(conflict::ConflictRecord record, bool commit_in_flight) {
  if (commit_in_flight && record.mirror.reachability != conflict::Reachability::reached &&
      unknown_commits_.size() < kMaxUnknownCommits) {
    record.id = thread_ids().next();
    unknown_commits_.push_back(record);
  }
  reads_.keep_on_primary_for_good("a conflict was recorded");
  hand_on(std::move(record));
}

void ConflictRecorder::submit_read(conflict::ConflictRecord record) { hand_on(std::move(record)); }

void ConflictRecorder::hand_on(conflict::ConflictRecord record) {
  context_.metrics.count_conflict(record.kind);
  context_.log->warn("session={} conflict kind={} key={} statement={}", id_, conflict::to_string(record.kind),
                     record.idempotency_key, record.statement_fingerprint);
  context_.conflicts.submit(std::move(record));
}

Awaitable<void> ConflictRecorder::resolve_unknown_commits(MirrorLink& link) {
  if (unknown_commits_.empty() || !link.connected()) co_return;
  std::string keys;
  for (const auto& record : unknown_commits_) keys += (keys.empty() ? "'" : ", '") + record.idempotency_key + "'";
  link.leg().queue_injected("SELECT idempotency_key::text FROM pgdual.ledger WHERE idempotency_key IN (" + keys +
                            ")");
  const bool settled = co_await link.read_owed_answers();
  if (!settled || link.leg().injected_outcome().error) co_return;
  for (const auto& row : link.leg().injected_rows()) {
    if (row.columns.empty() || !row.columns[0]) continue;
    const auto found = std::ranges::find(unknown_commits_, *row.columns[0], &conflict::ConflictRecord::idempotency_key);
    if (found == unknown_commits_.end()) continue;
    context_.log->info("session={} the mirror did commit {}: conflict {} resolved", id_, found->idempotency_key,
                       found->id);
    auto resolved = *found;
    resolved.time.clear();
    resolved.resolution = conflict::Resolution::resolved;
    resolved.resolved_by = "pgdual serve";
    resolved.resolution_note = "the mirror's ledger holds the unit's key: its COMMIT did reach the mirror";
    context_.conflicts.submit(std::move(resolved));
  }
  unknown_commits_.clear();
}

}  // namespace pgdual::proxy
