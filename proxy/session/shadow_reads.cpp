#include "proxy/session/shadow_reads.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "protocol/message_tags.h"
#include "proxy/idempotency_key.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"
#include "proxy/route/statement_latencies.h"

namespace pgdual::proxy {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

/// How long after the mirror's first answer disagreed it is asked again: time to apply what the
/// primary had committed just before its answer, which a mirror a few milliseconds behind lacked.
constexpr auto kSecondAskPause = std::chrono::milliseconds{250};

conflict::RowsOrder rows_order_of(const sql::Classification& statement) {
  return statement.orders_rows ? conflict::RowsOrder::kept : conflict::RowsOrder::ignored;
}

/// Whether `frame` prepares or closes a named statement: the mirror's first run did that already.
bool handles_named_statement(const protocol::Frame& frame) {
  namespace tags = protocol::frontend_tag;
  if (frame.tag == tags::kParse) return !frame.body.empty() && frame.body.front() != std::byte{0};
  if (frame.tag != tags::kClose || frame.body.size() < 2) return false;
  return frame.body[0] == std::byte{'S'} && frame.body[1] != std::byte{0};
}

/// What was sent, less the Parse and Close messages of named statements, for a second run.
std::vector<std::byte> without_named_statements(protocol::Bytes sent) {
  std::vector<std::byte> again;
  for (const auto& frame : protocol::split_frames(sent)) {
    if (!handles_named_statement(frame)) protocol::append_frame(frame, again);
  }
  return again;
}

}  // namespace

ShadowReads::ShadowReads(const SessionContext& context, std::uint64_t session_id,
                         const conflict::SessionInfo& session, MirrorLink& link, MirrorReads& reads,
                         UnitPlanner& planner, ConflictRecorder& recorder, asio::any_io_executor executor)
    : context_{context},
      id_{session_id},
      session_{session},
      link_{link},
      reads_{reads},
      planner_{planner},
      recorder_{recorder},
      sent_{executor},
      primary_in_{executor},
      leg_released_{executor} {}

bool ShadowReads::draw() {
  if (context_.wal_mirrors == nullptr || pending_ || !link_.connected() || !link_.leg().idle()) return false;
  const double percent = context_.steering.shadow_percent();
  if (percent <= 0.0 || !to_mirror_for_draw(random_draw(), percent)) return false;
  const auto& statement = planner_.summary().representative;
  if (!statement || statement->volatile_answer || statement->plan_dependent ||
      context_.shadows.excluded(statement->fingerprint)) {
    return false;
  }
  if (!context_.shadows.try_start()) return false;
  pending_.emplace();
  pending_->place.reset(&context_.shadows);
  pending_->statement = statement;
  return true;
}

conflict::RowsOrder ShadowReads::rows_order() const noexcept {
  return pending_ ? rows_order_of(*pending_->statement) : conflict::RowsOrder::kept;
}

Awaitable<void> ShadowReads::send(std::span<const protocol::Frame> frames) {
  if (!pending_ || !link_.connected()) {
    planner_.sent_to_primary_only(frames);
    pending_.reset();
    co_return;
  }
  auto& pending = *pending_;
  planner_.copy_for_mirror(frames, pending.sent);
  link_.queue_catch_up();
  auto& leg = link_.leg();
  leg.set_rows_order(rows_order());
  leg.queue_client(pending.sent);
  pending.sent_at = Clock::now();
  pending.connection = link_.connections();
  leg_taken_ = true;
  std::optional<MirrorFailure> failure;
  try {
    co_await leg.flush(pending.sent_at + context_.config->routing.shadow_timeout);
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (failure) {
    link_.drop(*failure);
    release_leg();
    pending_.reset();
    co_return;
  }
  sent_.notify();
}

void ShadowReads::primary_answered(conflict::Outcome primary, microseconds latency) {
  if (!pending_) return;
  pending_->primary = std::move(primary);
  pending_->primary_latency = latency;
  primary_in_.notify();
}

Awaitable<void> ShadowReads::leg_free() {
  while (leg_taken_) co_await leg_released_.async_wait(asio::as_tuple(use_awaitable));
}

void ShadowReads::stop() {
  stopping_ = true;
  sent_.notify();
  primary_in_.notify();
}

Awaitable<void> ShadowReads::run() {
  for (;;) {
    while (!pending_ || !leg_taken_) {
      if (stopping_) co_return;
      co_await sent_.async_wait(asio::as_tuple(use_awaitable));
    }
    const auto first = co_await mirror_answer(pending_->sent_at + context_.config->routing.shadow_timeout);
    const auto mirror_latency = std::chrono::duration_cast<microseconds>(Clock::now() - pending_->sent_at);
    const auto given = planner_.take_given_to_mirror();
    if (first.outcome && first.outcome->error) planner_.mirror_may_lack(given);
    release_leg();
    co_await wait_for_primary();
    if (!pending_->primary) {
      pending_.reset();  // the primary never answered: its connection was lost
      continue;
    }
    if (!first.outcome) {
      abandon(first.timed_out);
      continue;
    }
    std::optional<conflict::Outcome> second;
    if (!answers_agree(*pending_->primary, *first.outcome)) second = co_await ask_again(first.outcome->error.has_value());
    conclude(judge_shadow(*pending_->primary, *first.outcome, second), *first.outcome, mirror_latency);
    pending_.reset();
  }
}

Awaitable<ShadowReads::Answer> ShadowReads::mirror_answer(Clock::time_point deadline) {
  Answer answer;
  std::optional<MirrorFailure> failure;
  try {
    answer.outcome = co_await link_.leg().finish(deadline);
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (failure) {
    answer.timed_out = failure->reachability() == conflict::Reachability::timed_out;
    link_.drop(*failure);
    co_return answer;
  }
  link_.leg().set_rows_order(conflict::RowsOrder::kept);
  // A setting passed on with the request that the mirror refused: its answers are not the session's.
  if (link_.leg().injected_outcome().error) {
    reads_.keep_on_primary("the mirror refused a setting the session made");
    answer.outcome.reset();
  }
  co_return answer;
}

Awaitable<void> ShadowReads::wait_for_primary() {
  while (!pending_->primary && !stopping_) co_await primary_in_.async_wait(asio::as_tuple(use_awaitable));
}

// Only on the connection that ran the first ask, and only while the session does not use it.
Awaitable<std::optional<conflict::Outcome>> ShadowReads::ask_again(bool first_failed) {
  asio::steady_timer pause{sent_.get_executor()};
  pause.expires_after(kSecondAskPause);
  co_await pause.async_wait(asio::as_tuple(use_awaitable));
  if (!link_.connected() || link_.connections() != pending_->connection || held_by_session_ || leg_taken_ ||
      !link_.leg().idle()) {
    co_return std::nullopt;
  }
  // A named statement the first ask prepared is there now, unless the first ask failed.
  const auto again = first_failed ? pending_->sent : without_named_statements(pending_->sent);
  link_.leg().set_rows_order(rows_order());
  link_.leg().queue_client(again);
  leg_taken_ = true;
  const auto answer = co_await mirror_answer(Clock::now() + context_.config->routing.shadow_timeout);
  static_cast<void>(planner_.take_given_to_mirror());
  release_leg();
  co_return answer.outcome;
}

// A mirror that did not answer in time is slower than the primary by at least that much.
void ShadowReads::abandon(bool timed_out) {
  const auto& pending = *pending_;
  if (timed_out) {
    const auto timeout = std::chrono::duration_cast<microseconds>(context_.config->routing.shadow_timeout);
    context_.brake.record_relative(Clock::now(), latency_ratio(timeout, pending.primary_latency));
  }
  context_.shadows.count(pending.statement->fingerprint, pending.statement->normalized, ShadowFinding::abandoned);
  context_.log->debug("session={} shadow read abandoned{}", id_, timed_out ? ": the mirror did not answer in time" : "");
  pending_.reset();
}

// Matched, settled and mismatched reads are the brake's evidence on the mirror, as if it had
// served them; varied ones prove nothing either way. A mismatch is recorded when it repeats the
// statement's last verdict: a row committed on the primary between the two servers' snapshots
// can make one, and will not make the next.
void ShadowReads::conclude(ShadowFinding finding, const conflict::Outcome& first, microseconds mirror_latency) {
  const auto& pending = *pending_;
  const auto& statement = *pending.statement;
  const bool repeated = context_.shadows.count(statement.fingerprint, statement.normalized, finding);
  context_.log->debug("session={} shadow read {} in {} us (primary {} us)", id_, to_string(finding),
                      mirror_latency.count(), pending.primary_latency.count());
  if (finding == ShadowFinding::varied || finding == ShadowFinding::abandoned) return;
  const auto now = Clock::now();
  const bool warm = link_.connected() && link_.connections() == pending.connection && link_.read_answered_warm();
  if (warm) context_.brake.record_relative(now, latency_ratio(mirror_latency, pending.primary_latency));
  if (finding != ShadowFinding::mismatched) {
    context_.brake.record(Backend::mirror, now, mirror_latency, ReadResult::ok());
    return;
  }
  if (!repeated) return;  // the first of a statement's mismatches may be a race: no evidence yet
  const std::string sqlstate = first.error ? first.error->sqlstate : std::string{};
  context_.brake.record(Backend::mirror, now, mirror_latency, ReadResult::mirror_fault(sqlstate));
  record_mismatch(first);
}

void ShadowReads::record_mismatch(const conflict::Outcome& mirror) {
  const auto& pending = *pending_;
  conflict::ConflictRecord record;
  record.idempotency_key = next_unit_key();
  record.session = session_;
  record.statement_fingerprint = pending.statement->fingerprint;
  record.statement_normalized = pending.statement->normalized;
  record.tables = pending.statement->tables;
  record.kind = conflict::ConflictKind::read_mismatch;
  record.primary = *pending.primary;
  record.mirror = mirror;
  recorder_.submit_read(std::move(record));
}

void ShadowReads::release_leg() {
  leg_taken_ = false;
  leg_released_.notify();
}

}  // namespace pgdual::proxy
