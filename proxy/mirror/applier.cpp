#include "proxy/mirror/applier.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>
#include <variant>

#include "conflict/redact.h"
#include "protocol/error_response.h"
#include "protocol/pgoutput.h"
#include "proxy/backend/mirror_leg.h"

namespace pgdual::proxy {
namespace {

namespace logicalrep = protocol::logicalrep;

/// How often a quiet stream's apply asks the mirror whether its last transactions are durable:
/// about as often as the mirror's WAL writer flushes them (wal_writer_delay, 200 ms by default).
constexpr std::chrono::milliseconds kDurablePoll{100};
/// How often the apply reads pgdual sync's record while the database waits for a sync or a sync copies it.
constexpr std::chrono::milliseconds kSyncPoll{250};

/// What a refused change looked like from the mirror, as a conflict record keeps it: the SQLSTATE
/// and the message redacted, never a value.
conflict::Outcome refused(const FailedChange& change) {
  const protocol::ErrorFields fields{{{protocol::error_field::kSqlState, change.sqlstate},
                                      {protocol::error_field::kMessage, change.message}}};
  conflict::Outcome outcome;
  outcome.error = conflict::BackendError{change.sqlstate, {}, conflict::redact_error_message(fields)};
  return outcome;
}

}  // namespace

MirrorApplier::MirrorApplier(config::BackendConfig primary, std::shared_ptr<ssl::context> primary_tls,
                             config::BackendConfig mirror, std::shared_ptr<ssl::context> mirror_tls, Options options,
                             AppliedUnits& units, Recorder recorder, std::shared_ptr<spdlog::logger> log)
    : primary_{std::move(primary)},
      primary_tls_{std::move(primary_tls)},
      mirror_{std::move(mirror)},
      mirror_tls_{std::move(mirror_tls)},
      options_{std::move(options)},
      units_{units},
      recorder_{std::move(recorder)},
      log_{std::move(log)} {}

// A round's failure is an outcome, not an error: it is logged, shown in progress(), and the next
// round goes on from the slot after a pause that grows while rounds keep failing at once.
Awaitable<void> MirrorApplier::run() {
  auto delay = options_.retry_min;
  while (!stop_.requested()) {
    std::optional<std::string> failure;
    const auto started = std::chrono::steady_clock::now();
    try {
      const auto sync = co_await read_sync();
      if (sync.stands_still()) {
        co_await stop_.pause(kSyncPoll);
        continue;
      }
      co_await round();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    {
      // The round's connection, and the lease with it, is gone.
      const std::lock_guard lock{progress_mutex_};
      progress_.applying = false;
    }
    if (stop_.requested()) break;
    const bool refused_transaction = careful_at_ != 0 && !failure;
    if (failure) {
      log_->warn("mirror apply of {}: {}; resuming from the slot", options_.slot.database, *failure);
      const std::lock_guard lock{progress_mutex_};
      progress_.last_error = *failure;
    }
    if (refused_transaction) continue;  // read it again at once, to apply it carefully
    const bool lasted = std::chrono::steady_clock::now() - started > options_.retry_max;
    delay = lasted ? options_.retry_min : std::min(delay * 2, options_.retry_max);
    co_await stop_.pause(delay);
  }
}

void MirrorApplier::stop() noexcept {
  stop_.request();
  hold_.end();
}

ApplierProgress MirrorApplier::progress() const {
  const std::lock_guard lock{progress_mutex_};
  return progress_;
}

Awaitable<void> MirrorApplier::round() {
  {
    const std::lock_guard lock{progress_mutex_};
    ++progress_.rounds;
  }
  auto connection = co_await BackendConnection::open(mirror_, mirror_tls_, options_.mirror_login,
                                                     options_.slot.max_message_length);
  const bool leased = co_await take_lease(connection);
  if (!leased) co_return;
  auto stream = co_await open_stream();
  units_.slot_ready();
  source_ = source_name(options_.slot.slot, stream.system_identifier());
  auto apply_options = options_.apply;
  apply_options.source_encoding = stream.server_encoding();
  // A key no session of this instance waits for may be another instance's.
  apply_options.others_may_wait = [this](std::string_view key) { return !units_.expects(key); };
  auto apply = co_await ApplyConnection::open(std::move(connection), source_, apply_options);
  undurable_.clear();  // what the last round left undurable, the slot sends again
  check_mirror_kept(apply.applied_through());
  bool going_on = true;
  while (going_on && !stop_.requested()) {
    auto item = co_await next_message(stream, apply);
    if (const auto unit = unit_position(item.message, apply.in_transaction())) {
      if (hold_.stops_before(*unit)) {
        going_on = co_await stand_still(stream, apply, *unit);
        if (!going_on || stop_.requested()) break;
      }
      hold_.fed(*unit);
    }
    if (const auto* begin = std::get_if<logicalrep::Begin>(&item.message)) {
      apply.set_mode(begin->final_lsn == careful_at_ ? ApplyMode::careful : ApplyMode::fast);
    }
    // A transaction at hand lets the one just read wait for it, to share its COMMIT.
    const auto results = co_await apply.feed(item.message, stream.change_buffered());
    going_on = take(results);
    confirm_durable(stream, apply.mirror_flushed());
    if (going_on && caught_up(stream, apply)) co_await finish_catch_up();
  }
  co_await stream.close();
  co_await apply.terminate();
}

Awaitable<SlotItem> MirrorApplier::next_message(SlotStream& stream, ApplyConnection& apply) {
  while (!undurable_.empty() && apply.idle()) {
    auto item = co_await stream.next_within(kDurablePoll);
    if (item) co_return std::move(*item);
    const auto flushed = co_await apply.read_mirror_flushed();
    confirm_durable(stream, flushed);
  }
  auto item = co_await stream.next();
  co_return item;
}

void MirrorApplier::check_mirror_kept(std::optional<protocol::XLogRecPtr> ledger) {
  if (last_commit_applied_ <= ledger.value_or(0) || lost_through_ != 0) return;
  lost_through_ = last_commit_applied_;
  units_.set_mirror_recovering(true);
  log_->warn("mirror apply of {}: the mirror lost the transactions applied after {} up to {} (it stopped before they "
             "were durable there); they come again from the slot, and reads of sessions that wrote stay on the "
             "primary meanwhile",
             options_.slot.database, protocol::format_lsn(ledger.value_or(0)), protocol::format_lsn(lost_through_));
  const std::lock_guard lock{progress_mutex_};
  ++progress_.mirror_losses;
}

void MirrorApplier::confirm_durable(SlotStream& stream, protocol::XLogRecPtr flushed) {
  protocol::XLogRecPtr confirmed = 0;
  while (!undurable_.empty() && undurable_.front().mirror_lsn <= flushed) {
    confirmed = undurable_.front().end_lsn;
    undurable_.pop_front();
  }
  if (confirmed == 0) return;
  stream.confirm(confirmed);
  const std::lock_guard lock{progress_mutex_};
  progress_.durable = std::max(progress_.durable, confirmed);
}

bool MirrorApplier::take(const std::vector<TransactionResult>& results) {
  for (const auto& result : results) {
    if (result.status != TransactionResult::Status::failed) {
      settle(result);
      continue;
    }
    // Nothing of it (nor of the transactions that shared its COMMIT) stayed on the mirror; the
    // slot sends them again to the next round.
    if (careful_at_ == result.commit_lsn) throw ApplyError{"the mirror refused a transaction's own statements"};
    careful_at_ = result.commit_lsn;
    log_->warn("mirror apply of {}: the mirror refused a change of the transaction committed at {} ({}); "
               "applying it change by change",
               options_.slot.database, protocol::format_lsn(result.commit_lsn),
               result.failure ? result.failure->sqlstate : std::string{});
    return false;
  }
  return true;
}

// The mirror then holds every transaction committed before `unit` and none after: what a snapshot
// of the primary taken at that point shows.
Awaitable<bool> MirrorApplier::stand_still(SlotStream& stream, ApplyConnection& apply, protocol::XLogRecPtr unit) {
  const auto flushed = co_await apply.flush();
  if (!take(flushed)) co_return false;
  confirm_durable(stream, apply.mirror_flushed());
  log_->info("mirror apply of {}: held before the transaction committed at {}", options_.slot.database,
             protocol::format_lsn(unit));
  // Before the next transaction, the sessions do not wait meanwhile: what verify waits for then
  // (its slot) may wait for them.
  units_.set_held(hold_.at_next_unit());
  const bool expired = co_await hold_.stop_at(unit);
  units_.set_held(false);
  if (expired) {
    log_->warn("mirror apply of {}: a hold was not released within {} ms; the apply goes on", options_.slot.database,
               ApplyHold::kLimit.count());
  }
  co_return true;
}

// The mirror's COMMIT is in: the session waiting for the transaction may answer its client, whose
// next reads find it on the mirror. The slot forgets it only once the mirror's WAL holds it
// durably (confirm_durable()): a mirror that crashes before loses it, and the slot sends it again.
void MirrorApplier::settle(const TransactionResult& result) {
  undurable_.push_back(Undurable{.mirror_lsn = result.mirror_lsn, .end_lsn = result.end_lsn});
  // Only a transaction's ledger row stands at its commit LSN: a statement run alone is recorded
  // just before its message, an announced key not at all.
  if (result.status == TransactionResult::Status::applied) {
    last_commit_applied_ = std::max(last_commit_applied_, result.commit_lsn);
  }
  if (lost_through_ != 0 && result.commit_lsn >= lost_through_) {
    lost_through_ = 0;
    units_.set_mirror_recovering(false);
  }
  if (result.unit_key) units_.applied(*result.unit_key);
  for (const auto& change : result.skipped) record_skipped(result, change);
  if (careful_at_ == result.commit_lsn) careful_at_ = 0;
  const std::lock_guard lock{progress_mutex_};
  progress_.applied = std::max(progress_.applied, result.end_lsn);
  if (result.status == TransactionResult::Status::applied) ++progress_.transactions;
  progress_.skipped_changes += result.skipped.size();
}

void MirrorApplier::record_skipped(const TransactionResult& result, const FailedChange& change) {
  conflict::ConflictRecord record;
  record.idempotency_key = result.unit_key.value_or(source_ + "/" + protocol::format_lsn(result.commit_lsn));
  record.session.database = options_.slot.database;
  // A DDL names no relation the stream knows of, and carries its normalized text.
  if (!change.relation.empty()) record.tables = {change.relation};
  record.kind = conflict::ConflictKind::mirror_error;
  record.statement_normalized = change.statement.empty() ? std::string{to_string(change.kind)} : change.statement;
  record.mirror = refused(change);
  log_->warn("mirror apply of {}: change {} ({} on {}) refused with {}, left out and recorded",
             options_.slot.database, change.change_number, to_string(change.kind), change.relation, change.sqlstate);
  if (recorder_) recorder_(std::move(record));
}

}  // namespace pgdual::proxy
