// Session, continued: units of client messages, routed and settled with the mirror.

#include <algorithm>
#include <array>

#include "conflict/compare.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sql/pin_values.h"
#include "protocol/writer.h"
#include "proxy/conflict_sink.h"
#include "proxy/idempotency_key.h"
#include "proxy/metrics.h"
#include "proxy/session.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

/// The values sql::pin_times() replaces, as Classification::nondeterministic names them.
constexpr std::array<std::string_view, 8> kPinnable = {
    "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
    "now",          "statement_timestamp", "transaction_timestamp"};

bool pinnable(std::string_view name) { return std::ranges::find(kPinnable, name) != kPinnable.end(); }

/// How many SET/PREPARE statements a session keeps for replay on a new mirror connection.
constexpr std::size_t kMaxSessionStatements = 256;

/// How many units' mirror answers a session leaves unread at most (Session::answer_later).
constexpr std::size_t kMaxPendingAnswers = 16;

/// Past this many bytes for the mirror, the answers it owes are read first (Session::make_room_for).
constexpr std::size_t kLargeForMirror = 64 * 1024;

/// How many units with an unknown mirror commit a session remembers to look up.
constexpr std::size_t kMaxUnknownCommits = 1024;

IdempotencyKeyGenerator& thread_keys() {
  thread_local IdempotencyKeyGenerator keys;
  return keys;
}

/// Cancelled (by the client, or statement_timeout), a serialization failure or deadlock victim, a
/// lock not obtained in time, or a statement of a transaction already aborted.
bool failed_by_chance(std::string_view sqlstate) {
  return sqlstate == "57014" || sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" ||
         sqlstate == "25P02";
}

bool succeeded(const conflict::Outcome& outcome) {
  return outcome.reachability == conflict::Reachability::reached && !outcome.error;
}

std::string ledger_insert(std::string_view key) {
  return "INSERT INTO pgdual.ledger (idempotency_key) VALUES ('" + std::string{key} + "')";
}

/// For every table with a column default that differs between two executions,
/// its name (qualified and bare) and those functions. Identity columns draw
/// from a sequence, as serial ones do.
constexpr std::string_view kVolatileDefaultsQuery = R"SQL(
SELECT t.name, string_agg(DISTINCT f.fn, ',' ORDER BY f.fn)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
CROSS JOIN LATERAL (VALUES (CASE WHEN a.attidentity <> '' THEN 'nextval' ELSE lower(substring(
  pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM
  '(nextval|random|gen_random_uuid|uuid_generate_\w+|clock_timestamp|now|statement_timestamp|transaction_timestamp|timeofday|CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME)'
)) END)) f(fn)
CROSS JOIN LATERAL (VALUES (n.nspname || '.' || c.relname), (c.relname)) t(name)
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND f.fn IS NOT NULL
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdual')
GROUP BY t.name)SQL";

/// Commands that add rows, and so draw column defaults.
bool draws_defaults(std::string_view command_tag) {
  return command_tag.starts_with("INSERT") || command_tag.starts_with("COPY") || command_tag.starts_with("MERGE");
}

bool changes_schema(std::string_view command_tag) {
  return command_tag.starts_with("CREATE") || command_tag.starts_with("ALTER") || command_tag.starts_with("DROP");
}

void add_names(std::string_view names, std::vector<std::string>& to) {
  for (std::size_t start = 0; start <= names.size();) {
    const auto end = std::min(names.find(',', start), names.size());
    const auto name = std::string{names.substr(start, end - start)};
    if (!name.empty() && std::ranges::find(to, name) == to.end()) to.push_back(name);
    start = end + 1;
  }
}

conflict::Outcome unanswered(conflict::Reachability reachability) {
  conflict::Outcome outcome;
  outcome.reachability = reachability;
  return outcome;
}

}  // namespace

Awaitable<void> Session::dispatch_segment(Stream& primary) {
  auto frames = protocol::split_frames(segment_);
  StatementPins pins;
  // A unit that began with messages that run nothing (Parse, Describe, Flush)
  // is routed again once it runs something.
  const bool runs_at_last = unit_.open && !unit_.runs && planner_.summary().executes;
  if (!unit_.open || runs_at_last) pins = open_unit(frames);
  protocol::Bytes to_primary = segment_;
  std::vector<std::byte> pinned;
  if (!pins.empty()) {
    apply_pins(pins, frames, pinned);
    to_primary = pinned;
  }
  // The unnamed statement the mirror prepared while serving a read goes to the primary first.
  auto restored = planner_.unnamed_parse_for_primary(frames);
  const unsigned own_answers = pins.answers + (restored.empty() ? 0U : 1U);
  if (!restored.empty()) {
    restored.insert(restored.end(), to_primary.begin(), to_primary.end());
    to_primary = restored;
  }
  if (own_answers > 0) own_answers_.expect(own_answers);
  for (const auto& frame : protocol::split_frames(to_primary)) tracker_.on_frontend(frame.tag);
  co_await send_all(primary, to_primary);
  co_await send_to_mirror(frames, pins);
  segment_.clear();
}

StatementPins Session::open_unit(std::vector<protocol::Frame>& frames) {
  const auto status = primary_tap_.transaction_status();
  unit_ = Unit{};
  unit_.open = true;
  unit_.plan = planner_.plan(status);
  unit_.runs = planner_.summary().executes;
  unit_.started = ReadBrake::Clock::now();
  steer_transaction(status);
  primary_done_ = false;
  const auto& plan = unit_.plan;
  if (plan.mirror == MirrorMode::wrapped) {
    unit_.key = thread_keys().next();
  } else if (plan.writes || plan.mirror == MirrorMode::after_primary) {
    if (transaction_key_.empty()) transaction_key_ = thread_keys().next();
    unit_.key = transaction_key_;
    transaction_writes_ = transaction_writes_ || plan.writes;
  }
  auto pins = plan.mirror == MirrorMode::none ? StatementPins{} : pin_values(frames);
  const auto& summary = planner_.summary();
  if (summary.listens) keep_reads_on_primary("LISTEN");
  if (summary.kind == sql::StatementKind::session_state && status == TransactionStatus::idle && frames.size() == 1 &&
      frames.front().tag == protocol::frontend_tag::kQuery) {
    if (const auto query = protocol::decode_query(frames.front().body)) unit_.session_statement = query->query;
  }
  primary_tap_.set_recording(plan.mirror != MirrorMode::none || plan.unclassified);
  context_.log->debug("session={} unit kind={} mirror={} key={}", id_, sql::to_string(summary.kind),
                      to_string(plan.mirror), unit_.key);
  return pins;
}

// now() and its kin become literals, the same on both backends; one
// transaction keeps one value, as PostgreSQL's now() does. A simple Query's
// text is rewritten; the statements an extended-protocol unit binds get
// pinned copies (StatementPins).
StatementPins Session::pin_values(std::vector<protocol::Frame>& frames) {
  const auto& representative = planner_.summary().representative;
  if (!representative) return {};
  unit_.unpinned = representative->nondeterministic;
  if (std::ranges::none_of(unit_.unpinned, pinnable)) return {};
  const auto statement_time = postgres_timestamptz_utc(std::chrono::system_clock::now());
  if (transaction_time_.empty()) transaction_time_ = statement_time;
  const sql::PinnedTimes times{transaction_time_, statement_time};
  if (frames.size() == 1 && frames.front().tag == protocol::frontend_tag::kQuery) {
    pin_query(frames, times);
    return {};
  }
  auto pins = pin_statements(
      frames, times, [this](std::string_view statement) { return planner_.parse_body(statement); },
      [this](std::string_view text) {
        return std::ranges::any_of(planner_.classifier().classify(text).nondeterministic, pinnable);
      });
  if (!pins.empty()) std::erase_if(unit_.unpinned, pinnable);
  return pins;
}

void Session::pin_query(std::vector<protocol::Frame>& frames, const sql::PinnedTimes& times) {
  const auto query = protocol::decode_query(frames.front().body);
  if (!query) return;
  const auto pinned = sql::pin_times(query->query, times);
  if (!pinned) return;
  std::erase_if(unit_.unpinned, pinnable);
  std::vector<std::byte> rewritten;
  protocol::Writer out{rewritten};
  protocol::encode(protocol::Query{pinned->text}, out);
  segment_ = std::move(rewritten);
  frames = protocol::split_frames(segment_);
}

Awaitable<void> Session::send_to_mirror(std::span<const protocol::Frame> frames, const StatementPins& pins) {
  const auto mode = unit_.plan.mirror;
  if (mode == MirrorMode::after_primary) {
    unit_.mirror_copy.insert(unit_.mirror_copy.end(), segment_.begin(), segment_.end());
    co_return;
  }
  if (mode == MirrorMode::none || !mirror_) {
    planner_.sent_to_primary_only(frames);
    co_return;
  }
  const bool copy_data = std::ranges::any_of(frames, [](const auto& frame) {
    return frame.tag == protocol::frontend_tag::kCopyData;
  });
  // A write goes to the mirror once the primary has answered it (release_deferred_writes). Sent
  // to both at once, two sessions could take the same row locks in opposite orders on the two
  // servers: a deadlock that neither server can see, which only the mirror timeout ended. COPY
  // data goes on at once: held back, it would pile up in memory.
  if (unit_.plan.writes && !copy_data) {
    unit_.deferred.push_back({std::vector<std::byte>(segment_.begin(), segment_.end()), pins});
    co_return;
  }
  co_await make_room_for(copy_data ? kLargeForMirror + 1 : segment_.size());
  // COPY FROM STDIN data: the primary has taken the COPY that it follows, which goes first.
  for (const auto& segment : std::exchange(unit_.deferred, {})) {
    queue_for_mirror(protocol::split_frames(segment.bytes), segment.pins, false);
  }
  queue_for_mirror(frames, pins, copy_data);
  std::optional<MirrorFailure> failure;
  try {
    co_await mirror_->flush(mirror_deadline());
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (!failure) co_return;
  unit_.mirror_lost = failure->reachability();
  drop_mirror(*failure);
}

void Session::queue_for_mirror(std::span<const protocol::Frame> frames, const StatementPins& pins, bool copy_data) {
  const auto mode = unit_.plan.mirror;
  std::vector<std::byte> copy;
  planner_.copy_for_mirror(frames, copy);
  if (!pins.empty()) {
    std::vector<std::byte> pinned;
    apply_pins(pins, protocol::split_frames(copy), pinned);
    copy = std::move(pinned);
  }
  if (mode == MirrorMode::wrapped && !unit_.mirror_began) {
    mirror_->queue_injected("BEGIN");
    unit_.mirror_began = true;
  }
  mirror_->queue_client(copy);
  if (mode == MirrorMode::wrapped && !copy_data) {
    unit_.mirror_copy.insert(unit_.mirror_copy.end(), copy.begin(), copy.end());
  }
}

// A write the primary refused still runs on the mirror, whose different answer tells of data that
// differs (error_primary_only). Not one that failed for this run only, on the primary's own locks
// or timing, or after an earlier failure in its transaction: the mirror would likely run it, and
// make a conflict of nothing.
bool Session::release_deferred_writes(const conflict::Outcome& primary) {
  const auto deferred = std::exchange(unit_.deferred, {});
  if (deferred.empty()) return true;
  const bool send = !primary.error || !failed_by_chance(primary.error->sqlstate);
  for (const auto& segment : deferred) {
    const auto frames = protocol::split_frames(segment.bytes);
    if (send && mirror_) {
      queue_for_mirror(frames, segment.pins, false);
    } else {
      planner_.sent_to_primary_only(frames);
    }
  }
  return send;
}

std::size_t Session::deferred_bytes() const {
  std::size_t bytes = 0;
  for (const auto& segment : unit_.deferred) bytes += segment.bytes.size();
  return bytes;
}

// A mirror still writing answers nobody reads stops reading what it is sent: a large send on
// top of them would wait for the mirror timeout.
Awaitable<void> Session::make_room_for(std::size_t bytes) {
  if (bytes > kLargeForMirror) co_await settle_pending();
}

Awaitable<void> Session::wait_for_primary() {
  while (tracker_.pending_syncs() > 0 && !tracker_.awaiting_copy_data() && !primary_done_) {
    co_await primary_progress_.async_wait(asio::as_tuple(use_awaitable));
  }
}

Awaitable<void> Session::finish_unit() {
  const auto primary = std::exchange(primary_outcome_, {});
  // Noted as the primary answers, before any unit after it may be left to settle later.
  if (changes_schema(primary.command_tag)) volatile_defaults_known_ = false;
  switch (unit_.plan.mirror) {
    case MirrorMode::none:
      if (unit_.plan.unclassified && succeeded(primary)) {
        record(conflict::ConflictKind::unclassified, primary, unanswered(conflict::Reachability::reached));
      }
      break;
    case MirrorMode::parallel: {
      co_await make_room_for(deferred_bytes());
      if (!release_deferred_writes(primary)) break;
      if (answer_may_wait(primary)) {
        PendingAnswer pending{unit_record(conflict::ConflictKind::mirror_error, primary, {}), PendingAnswer::Of::unit,
                              planner_.summary().kind, unit_.plan.writes};
        pending.record.nondeterministic = unit_.unpinned;
        co_await answer_later(std::move(pending));
        break;
      }
      const auto mirror = co_await mirror_answer(mirror_deadline());
      co_await note_unit_defaults(primary);
      compare_and_record(primary, mirror);
      break;
    }
    case MirrorMode::wrapped: {
      if (!release_deferred_writes(primary)) break;
      const auto mirror = co_await finish_wrapped(primary);
      co_await note_unit_defaults(primary);
      compare_and_record(primary, mirror);
      break;
    }
    case MirrorMode::after_primary:
      if (auto mirror = co_await finish_after_primary(primary)) compare_and_record(primary, *mirror);
      break;
  }
  count_primary_answer();
  end_unit(primary);
}

// The mirror ran the unit inside BEGIN; it commits, with the unit's key in
// its ledger, only if the primary succeeded. A statement that cannot run in
// a transaction block (VACUUM, CREATE DATABASE...) runs again on its own.
Awaitable<conflict::Outcome> Session::finish_wrapped(const conflict::Outcome& primary) {
  const auto deadline = mirror_deadline();
  auto mirror = co_await mirror_answer(deadline);
  if (!mirror_) co_return mirror;
  if (mirror.error && mirror.error->sqlstate == "25001") {
    mirror_->queue_injected("ROLLBACK");
    mirror_->queue_client(unit_.mirror_copy);
    co_return co_await mirror_answer(deadline);
  }
  mirror.transaction_status = primary.transaction_status;  // the mirror's BEGIN is pgdual's own
  if (!succeeded(primary)) {
    mirror_->queue_injected("ROLLBACK");
    const auto rolled_back = co_await mirror_answer(deadline);
    co_return mirror_ ? mirror : rolled_back;
  }
  mirror_->queue_injected(ledger_insert(unit_.key));
  mirror_->queue_injected("COMMIT");
  // Built first: GCC 12 destroys temporaries of a braced list inside co_await twice.
  PendingAnswer pending{unit_record(conflict::ConflictKind::mirror_error, primary, mirror), PendingAnswer::Of::own_commit,
                        planner_.summary().kind, true};
  co_await answer_later(std::move(pending));
  co_return mirror;
}

// A unit both ran at once (BEGIN, a write, SAVEPOINT...) inside a transaction that goes on: the
// primary runs the client's next statement while the mirror runs this one, instead of one after
// the other. Not while the transaction's reads go to the mirror, whose state they need settled,
// nor while the mirror's catalog must first say which column defaults the write drew.
bool Session::answer_may_wait(const conflict::Outcome& primary) const {
  return mirror_ && !transaction_reads_on_mirror_ && primary.transaction_status == TransactionStatus::in_transaction &&
         !needs_column_defaults(primary);
}

// What the mirror was sent goes out now; its answer is read later (settle_pending): before a unit
// whose mirror answer is read at once, before the client's COMMIT, before a read the mirror
// serves, at the session's end, and once more than kMaxPendingAnswers wait. The session's one
// connection keeps the order: whatever the mirror runs next, it runs after this. So the mirror
// commits a transaction while the primary runs the next one.
Awaitable<void> Session::answer_later(PendingAnswer pending) {
  pending.mark = mirror_->answers_queued();
  pending_.push_back(std::move(pending));
  std::optional<MirrorFailure> failure;
  try {
    co_await mirror_->flush(mirror_deadline());
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (failure) co_return drop_mirror(*failure);
  co_await settle_pending(kMaxPendingAnswers);
}

// The mirror's deadline counts from here: it had the time since it was sent besides.
Awaitable<void> Session::settle_pending(std::size_t keep) {
  while (mirror_ && pending_.size() > keep) {
    std::optional<MirrorFailure> failure;
    conflict::Outcome answer;
    try {
      answer = co_await mirror_->finish_through(pending_.front().mark, mirror_deadline());
    } catch (const MirrorFailure& error) {
      failure = error;
    }
    if (failure) co_return drop_mirror(*failure);
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
void Session::settle_pending_unit(PendingAnswer pending, const conflict::Outcome& mirror) {
  auto& record = pending.record;
  count_mirror_answer(mirror, pending.kind);
  if (pending.writes) add_column_defaults(record.primary.command_tag, record.tables, record.nondeterministic);
  auto kind = conflict::compare(record.primary, mirror);
  if (!kind && pending.writes && !record.nondeterministic.empty()) kind = conflict::ConflictKind::nondeterministic;
  if (!kind) return;
  if (*kind != conflict::ConflictKind::nondeterministic) record.nondeterministic.clear();
  record.kind = *kind;
  record.mirror = mirror;
  submit(std::move(record), false);
}

void Session::settle_pending_commit(PendingAnswer pending, const conflict::Outcome& answer) {
  auto& mirror = pending.record.mirror;
  const auto& injected = mirror_->injected_outcome();
  if (injected.error && (injected.error->sqlstate == "42P01" || injected.error->sqlstate == "3F000")) {
    context_.log->error("session={} the mirror has no pgdual.ledger table: run `pgdual init` against it", id_);
  }
  if (pending.of == PendingAnswer::Of::own_commit) {
    // The unit's own answer was compared already; only a failed commit is news.
    if (!injected.error || mirror.error) return;
    mirror.error = injected.error;
    submit(std::move(pending.record), false);
    return;
  }
  mirror = answer;
  if (injected.error && !mirror.error) mirror.error = injected.error;
  const auto kind = conflict::compare(pending.record.primary, mirror);
  if (!kind) return;
  pending.record.kind = *kind;
  submit(std::move(pending.record), false);
}

// The mirror commits after the primary has; if the primary rolled back, so does the mirror.
Awaitable<std::optional<conflict::Outcome>> Session::finish_after_primary(const conflict::Outcome& primary) {
  co_await settle_pending();
  const bool committed = succeeded(primary) && primary.command_tag != "ROLLBACK";
  if (!mirror_ || !committed) planner_.sent_to_primary_only(protocol::split_frames(unit_.mirror_copy));
  if (!mirror_) {
    if (!transaction_writes_) co_return std::nullopt;
    co_return unanswered(unit_.mirror_lost.value_or(conflict::Reachability::unreachable));
  }
  const auto deadline = mirror_deadline();
  if (!committed) {
    if (mirror_->transaction_status() != TransactionStatus::idle) {
      mirror_->queue_injected("ROLLBACK");
      co_await mirror_answer(deadline);
    }
    co_return std::nullopt;
  }
  if (transaction_writes_ && mirror_->transaction_status() == TransactionStatus::in_transaction) {
    mirror_->queue_injected(ledger_insert(unit_.key));
  }
  std::vector<std::byte> copy;
  planner_.copy_for_mirror(protocol::split_frames(unit_.mirror_copy), copy);
  mirror_->queue_client(copy);
  PendingAnswer pending{unit_record(conflict::ConflictKind::unclassified, primary, {}),
                        PendingAnswer::Of::clients_commit, planner_.summary().kind, transaction_writes_};
  co_await answer_later(std::move(pending));
  co_return std::nullopt;
}

Awaitable<conflict::Outcome> Session::mirror_answer(MirrorLeg::Clock::time_point deadline) {
  co_await settle_pending();
  if (!mirror_) co_return unanswered(unit_.mirror_lost.value_or(conflict::Reachability::unreachable));
  std::optional<MirrorFailure> failure;
  try {
    co_return co_await mirror_->finish(deadline);
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  unit_.mirror_lost = failure->reachability();
  drop_mirror(*failure);
  co_return unanswered(failure->reachability());
}

// Column defaults are invisible in the statement's text: a serial key or a
// DEFAULT now() draws a different value on each backend. Which tables have
// them, the mirror's catalog says: asked once, and again after DDL.
const std::vector<std::string>& Session::unit_tables() const {
  static const std::vector<std::string> kNoTables;
  const auto& statement = planner_.summary().representative;
  return unit_.plan.writes && statement ? statement->tables : kNoTables;
}

bool Session::needs_column_defaults(const conflict::Outcome& primary) const {
  return !volatile_defaults_known_ && draws_defaults(primary.command_tag) && !unit_tables().empty();
}

void Session::add_column_defaults(std::string_view command_tag, const std::vector<std::string>& tables,
                                  std::vector<std::string>& unpinned) const {
  if (!draws_defaults(command_tag)) return;
  for (const auto& table : tables) {
    if (const auto found = volatile_defaults_.find(table); found != volatile_defaults_.end()) {
      add_names(found->second, unpinned);
    }
  }
}

Awaitable<void> Session::note_unit_defaults(const conflict::Outcome& primary) {
  if (needs_column_defaults(primary)) {
    const bool known = co_await read_column_defaults();
    if (!known) co_return;
  }
  add_column_defaults(primary.command_tag, unit_tables(), unit_.unpinned);
}

Awaitable<bool> Session::read_column_defaults() {
  co_await settle_pending();
  if (!mirror_ || mirror_->transaction_status() == TransactionStatus::failed) co_return false;
  mirror_->queue_injected(kVolatileDefaultsQuery);
  // Apart from the ||: GCC 12 miscompiles co_await in a condition's short-circuit operands.
  const bool settled = co_await settle_mirror();
  if (!settled || mirror_->injected_outcome().error) co_return false;
  volatile_defaults_.clear();
  for (const auto& row : mirror_->injected_rows()) {
    if (row.columns.size() == 2 && row.columns[0] && row.columns[1]) volatile_defaults_[*row.columns[0]] = *row.columns[1];
  }
  volatile_defaults_known_ = true;
  co_return true;
}

void Session::compare_and_record(const conflict::Outcome& primary, const conflict::Outcome& mirror) {
  // Without data changes, a missing mirror misses nothing: session state is
  // replayed on the next connection.
  if (!unit_.plan.writes && mirror.reachability != conflict::Reachability::reached) return;
  count_mirror_answer(mirror, planner_.summary().kind);
  auto kind = conflict::compare(primary, mirror);
  if (!kind && unit_.plan.writes && !unit_.unpinned.empty()) kind = conflict::ConflictKind::nondeterministic;
  if (kind) record(*kind, primary, mirror);
}

conflict::ConflictRecord Session::unit_record(conflict::ConflictKind kind, const conflict::Outcome& primary,
                                              const conflict::Outcome& mirror) const {
  conflict::ConflictRecord record;
  record.idempotency_key = unit_.key;
  record.session = session_info_;
  if (const auto& statement = planner_.summary().representative) {
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

void Session::record(conflict::ConflictKind kind, const conflict::Outcome& primary, const conflict::Outcome& mirror) {
  submit(unit_record(kind, primary, mirror), false);
}

// A conflict whose mirror COMMIT was in flight when the mirror broke off is
// kept, to be resolved from the mirror's ledger on its next connection.
void Session::submit(conflict::ConflictRecord record, bool commit_in_flight) {
  if (commit_in_flight && record.mirror.reachability != conflict::Reachability::reached &&
      unknown_commits_.size() < kMaxUnknownCommits) {
    record.id = thread_keys().next();
    unknown_commits_.push_back(record);
  }
  keep_reads_on_primary("a conflict was recorded");
  context_.metrics.count_conflict(record.kind);
  context_.log->warn("session={} conflict kind={} key={} statement={}", id_, conflict::to_string(record.kind),
                     record.idempotency_key, record.statement_fingerprint);
  context_.conflicts.submit(std::move(record));
}

// The primary went away in the middle of a unit: whether it applied it is
// unknown. The mirror, whose connection closes with the session, rolls back
// what it had not committed.
void Session::record_primary_lost() {
  if (!unit_.open || !(unit_.plan.writes || unit_.plan.mirror == MirrorMode::after_primary)) return;
  record(conflict::ConflictKind::primary_unavailable, unanswered(conflict::Reachability::unreachable),
         unanswered(conflict::Reachability::reached));
}

void Session::end_unit(const conflict::Outcome& primary) {
  if (!unit_.session_statement.empty() && succeeded(primary) &&
      session_statements_.size() < kMaxSessionStatements) {
    session_statements_.push_back(std::move(unit_.session_statement));
  }
  if (primary_tap_.transaction_status() == TransactionStatus::idle) {
    transaction_reads_on_mirror_ = false;
    transaction_key_.clear();
    transaction_writes_ = false;
    transaction_time_.clear();
  }
  unit_ = Unit{};
  planner_.start_unit();
  primary_done_ = false;
  primary_tap_.set_recording(false);
}

MirrorLeg::Clock::time_point Session::mirror_deadline() const {
  return MirrorLeg::Clock::now() + context_.config->mirror.timeout;
}

}  // namespace pgdual::proxy
