#include "proxy/session/dual_write.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "conflict/compare.h"
#include "conflict/error_class.h"
#include "conflict/time_text.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sql/pin_values.h"
#include "protocol/writer.h"
#include "proxy/idempotency_key.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

/// The values sql::pin_times() replaces, as Classification::nondeterministic names them.
constexpr std::array<std::string_view, 8> kPinnable = {
    "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
    "now",          "statement_timestamp", "transaction_timestamp"};

bool pinnable(std::string_view name) { return std::ranges::find(kPinnable, name) != kPinnable.end(); }

/// Past this many bytes for the mirror, the answers it owes are read first (DualWrite::make_room_for).
constexpr std::size_t kLargeForMirror = 64 * 1024;

std::string ledger_insert(std::string_view key) {
  return "INSERT INTO pgdual.ledger (idempotency_key) VALUES ('" + std::string{key} + "')";
}

bool changes_schema(std::string_view command_tag) {
  return command_tag.starts_with("CREATE") || command_tag.starts_with("ALTER") || command_tag.starts_with("DROP");
}

conflict::Outcome unanswered(conflict::Reachability reachability) {
  conflict::Outcome outcome;
  outcome.reachability = reachability;
  return outcome;
}

std::size_t bytes_of(const auto& segments) {
  std::size_t bytes = 0;
  for (const auto& segment : segments) bytes += segment.bytes.size();
  return bytes;
}

/// The Syncs that end `messages` after the Execute that started a COPY FROM STDIN, left out of the
/// mirror's copy. The server reads them as COPY data, and ignores them, only if the COPY gets to read
/// its data; one that fails at its start (COPY FREEZE, a statement trigger) answers the first one
/// too, so that no count of ReadyForQuery fits every outcome. The Sync after the client's CopyDone
/// or CopyFail ends the COPY's batch alike in every outcome.
void drop_syncs_after_copy(std::vector<std::byte>& messages) {
  const auto frames = protocol::split_frames(messages);
  std::size_t kept = messages.size();
  for (auto frame = frames.rbegin(); frame != frames.rend() && frame->tag == protocol::frontend_tag::kSync; ++frame) {
    kept -= frame->wire_size();
  }
  messages.resize(kept);
}

/// A simple Query with its time values pinned, rewritten in `segment`; false when there was
/// nothing to pin.
bool pin_query(std::vector<std::byte>& segment, std::vector<protocol::Frame>& frames, const sql::PinnedTimes& times) {
  const auto query = protocol::decode_query(frames.front().body);
  if (!query) return false;
  const auto pinned = sql::pin_times(query->query, times);
  if (!pinned) return false;
  std::vector<std::byte> rewritten;
  protocol::Writer out{rewritten};
  protocol::encode(protocol::Query{pinned->text}, out);
  segment = std::move(rewritten);
  frames = protocol::split_frames(segment);
  return true;
}

}  // namespace

DualWrite::DualWrite(Parts parts) : parts_{parts} {}

UnitPrefix DualWrite::open_unit(const UnitPlan& plan, std::vector<std::byte>& segment,
                                   std::vector<protocol::Frame>& frames) {
  unit_ = Unit{};
  unit_.plan = plan;
  if (plan.mirror == MirrorMode::wrapped) {
    unit_.key = next_unit_key();
  } else if (plan.writes || plan.mirror == MirrorMode::after_primary) {
    if (transaction_key_.empty()) transaction_key_ = next_unit_key();
    unit_.key = transaction_key_;
    transaction_writes_ = transaction_writes_ || plan.writes;
  }
  if (plan.mirror == MirrorMode::none) return {};
  // now() and its kin become literals, the same on both backends; one transaction keeps one
  // value, as PostgreSQL's now() does.
  const auto& representative = parts_.planner.summary().representative;
  if (!representative) return {};
  unit_.unpinned = representative->nondeterministic;
  if (std::ranges::none_of(unit_.unpinned, pinnable)) return {};
  const auto statement_time = conflict::postgres_timestamptz_utc(std::chrono::system_clock::now());
  if (transaction_time_.empty()) transaction_time_ = statement_time;
  const sql::PinnedTimes times{transaction_time_, statement_time};
  if (frames.size() == 1 && frames.front().tag == protocol::frontend_tag::kQuery) {
    if (pin_query(segment, frames, times)) std::erase_if(unit_.unpinned, pinnable);
    return {};
  }
  auto& planner = parts_.planner;
  auto pins = pin_statements(
      frames, times, [&planner](std::string_view statement) { return planner.parse_body(statement); },
      [&planner](std::string_view text) {
        return std::ranges::any_of(planner.classifier().classify(text).nondeterministic, pinnable);
      });
  if (!pins.empty()) std::erase_if(unit_.unpinned, pinnable);
  return pins;
}

Awaitable<void> DualWrite::send(protocol::Bytes segment, std::span<const protocol::Frame> frames,
                                const UnitPrefix& pins) {
  const auto mode = unit_.plan.mirror;
  auto& link = parts_.link;
  if (mode == MirrorMode::after_primary) {
    unit_.mirror_copy.insert(unit_.mirror_copy.end(), segment.begin(), segment.end());
    co_return;
  }
  if (mode == MirrorMode::none || !link.connected()) {
    parts_.planner.sent_to_primary_only(frames);
    co_return;
  }
  // The client's COPY data, its end included: the primary has started the COPY.
  const bool copy_data = std::ranges::any_of(frames, [](const auto& frame) {
    namespace tags = protocol::frontend_tag;
    return frame.tag == tags::kCopyData || frame.tag == tags::kCopyDone || frame.tag == tags::kCopyFail;
  });
  // A write goes to the mirror once the primary has answered it (release_deferred_writes). Sent
  // to both at once, two sessions could take the same row locks in opposite orders on the two
  // servers: a deadlock that neither server can see, which only the mirror timeout ended. COPY
  // data goes on at once: held back, it would pile up in memory.
  if (unit_.plan.writes && !copy_data) {
    unit_.deferred.push_back({std::vector<std::byte>(segment.begin(), segment.end()), pins});
    co_return;
  }
  co_await make_room_for(copy_data ? kLargeForMirror + 1 : segment.size());
  // COPY FROM STDIN data: the primary has taken the COPY that it follows, which goes first.
  auto deferred = std::exchange(unit_.deferred, {});
  if (!deferred.empty()) drop_syncs_after_copy(deferred.back().bytes);
  for (const auto& held : deferred) queue_for_mirror(protocol::split_frames(held.bytes), held.pins, false);
  queue_for_mirror(frames, pins, copy_data);
  std::optional<MirrorFailure> failure;
  try {
    co_await link.leg().flush(link.deadline());
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (!failure) co_return;
  unit_.mirror_lost = failure->reachability();
  link.drop(*failure);
}

void DualWrite::queue_for_mirror(std::span<const protocol::Frame> frames, const UnitPrefix& pins, bool copy_data) {
  const auto mode = unit_.plan.mirror;
  auto& leg = parts_.link.leg();
  std::vector<std::byte> copy;
  copy_for_mirror(frames, copy);
  if (!pins.empty()) {
    std::vector<std::byte> pinned;
    apply_pins(pins, protocol::split_frames(copy), pinned);
    copy = std::move(pinned);
  }
  if (mode == MirrorMode::wrapped && !unit_.mirror_began) {
    leg.queue_injected("BEGIN");
    unit_.mirror_began = true;
  }
  leg.queue_client(copy);
  if (mode == MirrorMode::wrapped && !copy_data) {
    unit_.mirror_copy.insert(unit_.mirror_copy.end(), copy.begin(), copy.end());
  }
}

void DualWrite::copy_for_mirror(std::span<const protocol::Frame> frames, std::vector<std::byte>& out) {
  parts_.planner.copy_for_mirror(frames, out);
  for (auto& name : parts_.planner.take_given_to_mirror()) unit_.statements_given.push_back(std::move(name));
}

// A write the primary refused still runs on the mirror, whose different answer tells of data that
// differs (error_primary_only). Not one that failed for this run only, on the primary's own locks
// or timing, or after an earlier failure in its transaction: the mirror would likely run it, and
// make a conflict of nothing.
bool DualWrite::release_deferred_writes(const conflict::Outcome& primary) {
  const auto deferred = std::exchange(unit_.deferred, {});
  if (deferred.empty()) return true;
  const bool send = !primary.error || !conflict::classify_sqlstate(primary.error->sqlstate).failed_by_chance;
  for (const auto& segment : deferred) {
    const auto frames = protocol::split_frames(segment.bytes);
    if (send && parts_.link.connected()) {
      queue_for_mirror(frames, segment.pins, false);
    } else {
      parts_.planner.sent_to_primary_only(frames);
    }
  }
  return send;
}

// A mirror still writing answers nobody reads stops reading what it is sent: a large send on
// top of them would wait for the mirror timeout.
Awaitable<void> DualWrite::make_room_for(std::size_t bytes) {
  if (bytes > kLargeForMirror) co_await settle_pending();
}

Awaitable<void> DualWrite::finish_unit(const conflict::Outcome& primary) {
  // Noted as the primary answers, before any unit after it may be left to settle later.
  if (changes_schema(primary.command_tag)) defaults_.forget();
  switch (unit_.plan.mirror) {
    case MirrorMode::none:
      if (unit_.plan.unclassified && conflict::succeeded(primary)) {
        parts_.recorder.submit(unit_record(conflict::ConflictKind::unclassified, primary,
                                           unanswered(conflict::Reachability::reached)),
                               false);
      }
      break;
    case MirrorMode::parallel:
      co_await finish_parallel(primary);
      break;
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
}

Awaitable<void> DualWrite::finish_parallel(const conflict::Outcome& primary) {
  co_await make_room_for(bytes_of(unit_.deferred));
  if (!release_deferred_writes(primary)) co_return;
  if (answer_may_wait(primary)) {
    PendingAnswer pending{unit_record(conflict::ConflictKind::mirror_error, primary, {}), PendingAnswer::Of::unit,
                          parts_.planner.summary().kind, unit_.plan.writes};
    pending.record.nondeterministic = unit_.unpinned;
    pending.statements_given = std::move(unit_.statements_given);
    co_await answer_later(std::move(pending));
    co_return;
  }
  const auto mirror = co_await mirror_answer(parts_.link.deadline());
  co_await note_unit_defaults(primary);
  compare_and_record(primary, mirror);
}

// The mirror ran the unit inside BEGIN; it commits, with the unit's key in
// its ledger, only if the primary succeeded. A statement that cannot run in
// a transaction block (VACUUM, CREATE DATABASE...) runs again on its own.
Awaitable<conflict::Outcome> DualWrite::finish_wrapped(const conflict::Outcome& primary) {
  auto& link = parts_.link;
  const auto deadline = link.deadline();
  auto mirror = co_await mirror_answer(deadline);
  if (!link.connected()) co_return mirror;
  if (mirror.error && conflict::classify_sqlstate(mirror.error->sqlstate).needs_own_transaction) {
    link.leg().queue_injected("ROLLBACK");
    link.leg().queue_client(unit_.mirror_copy);
    co_return co_await mirror_answer(deadline);
  }
  mirror.transaction_status = primary.transaction_status;  // the mirror's BEGIN is pgdual's own
  if (!conflict::succeeded(primary)) {
    link.leg().queue_injected("ROLLBACK");
    const auto rolled_back = co_await mirror_answer(deadline);
    co_return link.connected() ? mirror : rolled_back;
  }
  link.leg().queue_injected(ledger_insert(unit_.key));
  link.leg().queue_injected("COMMIT");
  // Built first: GCC 12 destroys temporaries of a braced list inside co_await twice.
  PendingAnswer pending{unit_record(conflict::ConflictKind::mirror_error, primary, mirror),
                        PendingAnswer::Of::own_commit, parts_.planner.summary().kind, true};
  co_await answer_later(std::move(pending));
  co_return mirror;
}

// The mirror commits after the primary has; if the primary rolled back, so does the mirror.
Awaitable<std::optional<conflict::Outcome>> DualWrite::finish_after_primary(const conflict::Outcome& primary) {
  co_await settle_pending();
  auto& link = parts_.link;
  const bool committed = conflict::succeeded(primary) && primary.command_tag != "ROLLBACK";
  if (!link.connected() || !committed) parts_.planner.sent_to_primary_only(protocol::split_frames(unit_.mirror_copy));
  if (!link.connected()) {
    if (!transaction_writes_) co_return std::nullopt;
    co_return unanswered(unit_.mirror_lost.value_or(conflict::Reachability::unreachable));
  }
  const auto deadline = link.deadline();
  if (!committed) {
    if (link.leg().transaction_status() != TransactionStatus::idle) {
      link.leg().queue_injected("ROLLBACK");
      co_await mirror_answer(deadline);
    }
    co_return std::nullopt;
  }
  if (transaction_writes_ && link.leg().transaction_status() == TransactionStatus::in_transaction) {
    link.leg().queue_injected(ledger_insert(unit_.key));
  }
  std::vector<std::byte> copy;
  copy_for_mirror(protocol::split_frames(unit_.mirror_copy), copy);
  link.leg().queue_client(copy);
  PendingAnswer pending{unit_record(conflict::ConflictKind::unclassified, primary, {}),
                        PendingAnswer::Of::clients_commit, parts_.planner.summary().kind, transaction_writes_};
  pending.statements_given = std::move(unit_.statements_given);
  co_await answer_later(std::move(pending));
  co_return std::nullopt;
}

Awaitable<conflict::Outcome> DualWrite::mirror_answer(MirrorLeg::Clock::time_point deadline) {
  co_await settle_pending();
  auto& link = parts_.link;
  if (!link.connected()) co_return unanswered(unit_.mirror_lost.value_or(conflict::Reachability::unreachable));
  std::optional<MirrorFailure> failure;
  try {
    co_return co_await link.leg().finish(deadline);
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  unit_.mirror_lost = failure->reachability();
  link.drop(*failure);
  co_return unanswered(failure->reachability());
}

// The mirror, whose connection closes with the session, rolls back what it had not committed.
void DualWrite::primary_lost() {
  if (!(unit_.plan.writes || unit_.plan.mirror == MirrorMode::after_primary)) return;
  parts_.recorder.submit(unit_record(conflict::ConflictKind::primary_unavailable,
                                     unanswered(conflict::Reachability::unreachable),
                                     unanswered(conflict::Reachability::reached)),
                         false);
}

void DualWrite::end_unit(TransactionStatus status) {
  if (status == TransactionStatus::idle) {
    transaction_key_.clear();
    transaction_writes_ = false;
    transaction_time_.clear();
  }
  unit_ = Unit{};
}

}  // namespace pgdual::proxy
