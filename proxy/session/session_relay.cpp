// Session, continued: the relay between the client and the primary, cut into units.

#include <algorithm>
#include <utility>
#include <variant>

#include "conflict/error_class.h"
#include "protocol/frame_scanner.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/admin/metrics.h"
#include "proxy/cutover/running_roles.h"
#include "proxy/net/timeouts.h"
#include "proxy/route/read_eligibility.h"
#include "proxy/route/statement_latencies.h"
#include "proxy/route/write_pass.h"
#include "proxy/session/session.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

/// The backend-to-client relay buffer starts at kFirstRelayBufferSize, so that thousands of idle
/// sessions stay cheap, and doubles whenever a read fills it, up to kRelayBufferSize, so that a
/// big result moves in few system calls.
constexpr std::size_t kFirstRelayBufferSize = 4 * 1024;
constexpr std::size_t kRelayBufferSize = 32 * 1024;

/// Client messages held back until their segment ends: beyond this, a batch
/// without Sync or Flush goes on in parts, as PostgreSQL itself would run it.
constexpr std::size_t kMaxHeldSegment = 16 * 1024 * 1024;

/// Where the client's messages may pause for answers: a Query, Sync or
/// FunctionCall asks for ReadyForQuery, a Flush for what is pending; during
/// COPY data, CopyDone or CopyFail end it.
bool ends_segment(char tag, bool copy_data) {
  namespace tags = protocol::frontend_tag;
  if (copy_data) return tag == tags::kCopyDone || tag == tags::kCopyFail;
  return tag == tags::kQuery || tag == tags::kSync || tag == tags::kFunctionCall || tag == tags::kFlush;
}

}  // namespace

// The shadow reads go on beside the pumps, and finish the one under way once the pumps are done:
// a client that reads and leaves at once still has its reads compared. When the relay fails, the
// shadow reads are cancelled, and the relay's error is the session's.
Awaitable<void> Session::relay(BackendConnection& backend) {
  static_cast<void>(co_await (relay_client(backend) && settle(shadow_.run())));
  if (mirror_.connected()) co_await writes_->settle();
  co_await mirror_.terminate();
}

// The pumps reach the primary through backend_stream_, which follow_roles() may point elsewhere.
Awaitable<void> Session::relay_client(BackendConnection& backend) {
  backend_stream_ = &backend.stream();
  auto outcome = co_await (settle(pump_client_to_backend()) || settle(pump_backend_to_client(backend.unread())));
  auto& backend_stream = *backend_stream_;
  backend_stream_ = nullptr;
  const auto end = std::visit([](auto settled) { return std::move(settled).get(); }, std::move(outcome));
  if (end == RelayEnd::backend_closed && unit_.open) writes_->primary_lost();
  if (end == RelayEnd::shutdown) {
    co_await send_error("FATAL", protocol::sqlstate::kAdminShutdown,
                        "terminating connection due to administrator command");
  } else if (end == RelayEnd::idle_timeout) {
    co_await send_error("FATAL", protocol::sqlstate::kIdleSessionTimeout,
                        "terminating connection due to idle-session timeout");
  } else if (end == RelayEnd::idle_in_transaction_timeout) {
    co_await send_error("FATAL", protocol::sqlstate::kIdleInTransactionSessionTimeout,
                        "terminating connection due to idle-in-transaction timeout");
  }
  if (end != RelayEnd::backend_closed) {
    std::vector<std::byte> terminate;
    protocol::Writer out{terminate};
    protocol::encode(protocol::Terminate{}, out);
    co_await asio::async_write(backend_stream, asio::buffer(terminate), asio::as_tuple(use_awaitable));
  }
  shadow_.stop();
}

// Whole messages from the client, collected into segments: a segment ends
// where the client waits for answers (Query, Sync, FunctionCall, Flush), or
// at each read during COPY FROM STDIN data. After a segment that asks for
// ReadyForQuery the pump waits until the primary has answered it, then
// settles the unit with the mirror, or leaves the mirror's answer for later
// (WriteMirror::settle): one unit at a time on the primary.
Awaitable<Session::RelayEnd> Session::pump_client_to_backend() {
  for (;;) {
    if (!unit_.open && segment_.empty()) {
      if (shutdown_requested_) co_return RelayEnd::shutdown;
      // Only between transactions: a mirror connected in the middle of one would get its end
      // without its beginning.
      if (!mirror_.connected() && primary_tap_.transaction_status() == TransactionStatus::idle) {
        if (auto connection = mirror_.reconnected()) co_await adopt_mirror(std::move(*connection));
      }
    }
    FrameBatch batch;
    const auto limit = idle_limit();
    try {
      waiting_for_client_ = true;
      // Two statements: GCC 12 mishandles co_await in the arms of ?:.
      if (limit.count() > 0) {
        batch = co_await with_timeout(client_reader_.next_frames(client_), limit);
      } else {
        batch = co_await client_reader_.next_frames(client_);
      }
      waiting_for_client_ = false;
    } catch (const boost::system::system_error& error) {
      if (error.code() == asio::error::timed_out) {
        co_return primary_tap_.transaction_status() == TransactionStatus::idle
            ? RelayEnd::idle_timeout
            : RelayEnd::idle_in_transaction_timeout;
      }
      co_return shutdown_requested_ && !unit_.open ? RelayEnd::shutdown : RelayEnd::client_closed;
    }
    for (const auto& frame : batch.frames) {
      if (frame.tag == protocol::frontend_tag::kTerminate) co_return RelayEnd::client_closed;
      // Held in a segment, a message no server takes would wait for a Sync that never comes.
      if (!protocol::frontend_tag::allowed_after_login(frame.tag)) {
        throw SessionError{protocol::sqlstate::kProtocolViolation, "invalid frontend message type " +
                                        std::to_string(static_cast<unsigned char>(frame.tag))};
      }
      // The server answers a Flush with a body with an error and skips to the next Sync: a
      // skip the request tracker, which sees tags only, would not know of.
      if (frame.tag == protocol::frontend_tag::kFlush && !frame.body.empty()) {
        throw SessionError{protocol::sqlstate::kProtocolViolation, "invalid message format"};
      }
      const auto copy_step = client_copy_step(frame.tag);
      if (copy_step == ClientCopyStep::abandoned) co_await end_abandoned_copy();
      if (copy_step == ClientCopyStep::end) unit_.client_copying = false;
      const bool copy_data = copy_step == ClientCopyStep::data || copy_step == ClientCopyStep::end;
      protocol::append_frame(frame, segment_);
      if (!copy_data) planner_.observe(frame);
      if (!ends_segment(frame.tag, copy_data) && segment_.size() < kMaxHeldSegment) continue;
      if (!copy_data) {
        const bool served = co_await serve_read_from_mirror(frame.tag);
        if (served) continue;
        shadow_unit_ = eligible_read_ && !reads_.awaits_primary_answer() && shadow_.draw();
      }
      const bool sent = co_await dispatch_segment();
      if (!sent) co_return RelayEnd::shutdown;
      co_await wait_for_primary();
      if (unit_.open && primary_done_ && !unit_.client_copying) co_await finish_unit();
    }
    // COPY data moves on as it comes; anything else waits for its segment's end.
    // Its unit is open: no gate to wait at.
    if (unit_.client_copying && !segment_.empty()) static_cast<void>(co_await dispatch_segment());
  }
}

// The client's COPY data ends with its CopyDone or CopyFail, which it sends even when the primary
// has failed the COPY meanwhile (libpq reads the error only then): until it comes, whatever the
// primary answers, the unit is not over, and its data is no new unit's messages.
Session::ClientCopyStep Session::client_copy_step(char tag) const {
  namespace tags = protocol::frontend_tag;
  if (!unit_.client_copying) return ClientCopyStep::none;
  if (tag == tags::kCopyDone || tag == tags::kCopyFail) return ClientCopyStep::end;
  // A primary still reading data takes any message as the COPY's (and ends the session for a request).
  if (tag == tags::kCopyData || tracker_.awaiting_copy_data()) return ClientCopyStep::data;
  return ClientCopyStep::abandoned;
}

// The primary ignores CopyData and CopyFail outside COPY; a statement-mode mirror may still be in its
// copy of the COPY, which the CopyFail ends.
Awaitable<void> Session::end_abandoned_copy() {
  unit_.client_copying = false;
  std::vector<std::byte> copy_fail;
  protocol::Writer out{copy_fail};
  protocol::encode(protocol::CopyFail{.error_message = "the client went on without ending its COPY data"}, out);
  segment_.insert(segment_.end(), copy_fail.begin(), copy_fail.end());
  static_cast<void>(co_await dispatch_segment());  // its unit is open: no gate to wait at
  co_await wait_for_primary();
  if (unit_.open && primary_done_) co_await finish_unit();
}

Awaitable<Session::RelayEnd> Session::pump_backend_to_client(protocol::Bytes early) {
  protocol::FrameScanner scanner{protocol::kDefaultMaxMessageBody};
  std::vector<std::byte> buffer(std::max(kFirstRelayBufferSize, early.size()));
  RelayScratch scratch;
  std::copy(early.begin(), early.end(), buffer.begin());
  std::size_t size = early.size();
  // While answer_held_: the client's answer from the last byte of its final ReadyForQuery on, and
  // what follows it for the client (never empty then).
  std::vector<std::byte> held;
  for (;;) {
    if (size > 0) {
      const auto chunk = protocol::Bytes{buffer}.first(size);
      const bool holding = !held.empty();
      std::optional<std::size_t> held_from;
      const auto violation = scanner.scan(
          chunk,
          [this](const protocol::FrameHeader& header) {
            static_cast<void>(tracker_.on_backend(header.tag));
            if (primary_tap_.on_header(header)) on_primary_message_end();
          },
          [this, chunk, holding, &held_from](protocol::Bytes part) {
            if (!primary_tap_.on_body(part)) return;
            on_primary_message_end();
            // The unit's final ReadyForQuery ends with its status byte: without it, the client
            // cannot go on.
            if (answer_held_ && primary_done_ && !holding && !held_from) {
              held_from = static_cast<std::size_t>(part.data() - chunk.data()) + part.size() - 1;
            }
          });
      if (violation)
        throw SessionError{protocol::sqlstate::kProtocolViolation,
                           "backend protocol violation: invalid message length"};
      if (holding) {
        // Only run_own_statement() makes the primary answer while the client's answer is held.
        own_statement_answers_.filter(chunk, held);
      } else if (held_from) {
        co_await relay_to_client(chunk.first(*held_from), scratch);
        held.assign(chunk.begin() + static_cast<std::ptrdiff_t>(*held_from), chunk.end());
      } else {
        co_await relay_to_client(chunk, scratch);
      }
    }
    if (!held.empty()) {
      while (answer_held_ && !own_statement_running_) {
        co_await answer_released_.async_wait(asio::as_tuple(use_awaitable));
      }
      if (!answer_held_) {
        co_await relay_to_client(held, scratch);
        held.clear();
      }
    }
    if (size == buffer.size() && buffer.size() < kRelayBufferSize) buffer.resize(2 * buffer.size());
    if (primary_switching_) co_await stand_aside();
    auto [error, received] =
        co_await backend_stream_->async_read_some(asio::buffer(buffer), asio::as_tuple(use_awaitable));
    size = error ? 0 : received;
    if (error && !primary_switching_) co_return RelayEnd::backend_closed;
  }
}

Awaitable<void> Session::relay_to_client(protocol::Bytes chunk, RelayScratch& scratch) {
  if (own_answers_.active()) {
    scratch.filtered.clear();
    own_answers_.filter(chunk, scratch.filtered);
    chunk = scratch.filtered;
  }
  if (positions_.active()) {
    scratch.shifted.clear();
    positions_.filter(chunk, scratch.shifted);
    chunk = scratch.shifted;
  }
  co_await send_all(client_, chunk);
}

std::chrono::milliseconds Session::idle_limit() const {
  if (unit_.open || !segment_.empty()) return std::chrono::milliseconds{0};
  const auto& limits = context_.config->limits;
  return primary_tap_.transaction_status() == TransactionStatus::idle ? limits.idle_session_timeout
                                                                      : limits.idle_in_transaction_timeout;
}

// The client's pump waits for three things from the primary: the end of the
// unit, the start of COPY FROM STDIN (it then has data to pass on), and an
// error, after which the server skips up to the next Sync: the Query or
// FunctionCall the pump waits on may be skipped, never to be answered.
void Session::on_primary_message_end() {
  const char tag = primary_tap_.completed_tag();
  if (own_statement_running_) {
    if (tag == protocol::backend_tag::kReadyForQuery && tracker_.idle()) {
      own_statement_outcome_ = primary_tap_.finish();
      own_statement_running_ = false;
      primary_progress_.notify();
    }
    return;
  }
  if (tag == protocol::backend_tag::kReadyForQuery && unit_.open && tracker_.idle()) {
    if (primary_tap_.recording()) primary_outcome_ = primary_tap_.finish();
    primary_done_ = true;
    // The primary failed a COPY whose data the client still sends: a client may wait for this
    // answer before it ends its data, and the mirror has nothing of a failed unit to wait for.
    if (unit_.client_copying) answer_held_ = false;
    primary_progress_.notify();
  } else if (tag == protocol::backend_tag::kCopyInResponse || tag == protocol::backend_tag::kErrorResponse) {
    if (tag == protocol::backend_tag::kCopyInResponse && unit_.open) unit_.client_copying = true;
    primary_progress_.notify();
  }
}

void Session::request_shutdown() {
  shutdown_requested_ = true;
  // A unit held while writes are paused has sent nothing: the session may end at once.
  if (held_at_gate_) context_.write_gate.withdraw(id_);
  // An idle session waits for its client; wake it to see the request. A busy
  // one notices after its current unit.
  if (backend_stream_ == nullptr || (waiting_for_client_ && !unit_.open && segment_.empty())) {
    client_.lowest_layer().cancel();
  }
}

void Session::close_now() {
  boost::system::error_code ignored;
  if (backend_stream_ != nullptr) backend_stream_->lowest_layer().close(ignored);
  mirror_.close();
  client_.lowest_layer().close(ignored);
}

Awaitable<bool> Session::serve_read_from_mirror(char last_tag) {
  eligible_read_ = read_may_go_to_mirror(last_tag);
  if (!eligible_read_) co_return false;
  const auto status = primary_tap_.transaction_status();
  if (!reads_.picks_mirror(status != TransactionStatus::idle)) co_return false;
  // The mirror runs what it is sent in order: a write's COMMIT still unanswered is applied before
  // the read. If it failed, the conflict it records keeps the read on the primary.
  co_await writes_->settle();
  if (!reads_.primary_only_reason().empty()) co_return false;
  co_await shadow_.leg_free();
  shadow_.hold_leg(true);
  const bool served = co_await serve_on_mirror(status);
  shadow_.hold_leg(false);
  if (!served) co_return false;
  eligible_read_ = false;
  planner_.start_unit();
  segment_.clear();
  co_return true;
}

Awaitable<bool> Session::serve_on_mirror(TransactionStatus status) {
  const bool caught_up = co_await mirror_.catch_up();
  if (!caught_up) {
    reads_.keep_on_primary("the mirror refused a setting the session made");
    co_return false;
  }
  co_return co_await reads_.serve(segment_, status);
}

bool Session::read_may_go_to_mirror(char last_tag) const {
  namespace tags = protocol::frontend_tag;
  std::optional<TransactionStatus> mirror_status;
  if (mirror_.connected()) mirror_status = mirror_.leg().transaction_status();
  const ReadFacts facts{.whole_unit = !unit_.open && (last_tag == tags::kQuery || last_tag == tags::kSync),
                        .primary_status = primary_tap_.transaction_status(),
                        .transaction_reads_on_mirror = reads_.transaction_on_mirror(),
                        .mirror_status = mirror_status,
                        .reads_on_primary_only = reads_.primary_only_reason(),
                        .unknown_commits_pending = recorder_.commits_unknown(),
                        .own_writes_unapplied = !writes_->mirror_has_own_writes(),
                        .own_answers_filtered = own_answers_.active(),
                        .mirror_serves_reads = serves_steered_reads(context_.config->mirror_backend()),
                        .planner_allows = planner_.may_read_from_mirror()};
  return read_eligibility(facts) == ReadVerdict::eligible;
}

Awaitable<bool> Session::dispatch_segment() {
  auto frames = protocol::split_frames(segment_);
  UnitPrefix pins;
  // A unit that began with messages that run nothing (Parse, Describe, Flush)
  // is routed again once it runs something.
  const bool runs_at_last = unit_.open && !unit_.runs && planner_.summary().executes;
  if (!unit_.open || runs_at_last) {
    // Coroutines only when there is something to wait for: this runs for every unit.
    if (take_write_pass() == WritePass::enter) {
      const bool passed = co_await wait_at_write_gate();
      if (!passed) co_return false;
    }
    if (context_.roles.swaps() != roles_seen_) co_await follow_roles();
    pins = open_unit(frames);
  }
  if (pins.text_shift > 0) positions_.start(pins.text_shift);
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
  if (own_answers > 0) own_answers_.expect(own_answers, pins.client_answers_first);
  for (const auto& frame : protocol::split_frames(to_primary)) tracker_.on_frontend(frame.tag);
  // A shadow read goes to the mirror first, so that its snapshot there is, if anything, older than
  // the primary's: a mirror behind is asked again, a mirror ahead would look like a mismatch.
  if (shadow_unit_) co_await shadow_.send(frames);
  co_await send_all(*backend_stream_, to_primary);
  if (!shadow_unit_) co_await writes_->send(segment_, frames, pins);
  segment_.clear();
  co_return true;
}

WritePass Session::take_write_pass() {
  const auto needed = write_pass_for(planner_.summary(), primary_tap_.transaction_status(), write_pass_.held());
  if (needed == WritePass::join) write_pass_ = context_.write_gate.join(id_);
  return needed;
}

Awaitable<bool> Session::wait_at_write_gate() {
  held_at_gate_ = true;
  auto pass = co_await context_.write_gate.enter(id_);
  held_at_gate_ = false;
  write_pass_ = std::move(pass);
  co_return write_pass_.held();
}

UnitPrefix Session::open_unit(std::vector<protocol::Frame>& frames) {
  const auto status = primary_tap_.transaction_status();
  unit_ = Unit{};
  unit_.open = true;
  unit_.plan = planner_.plan(status);
  unit_.runs = planner_.summary().executes;
  unit_.started = ReadBrake::Clock::now();
  reads_.steer_transaction(status);
  primary_done_ = false;
  auto pins = writes_->open_unit(unit_.plan, segment_, frames);
  answer_held_ = writes_->answer_waits_for_mirror();
  const auto& summary = planner_.summary();
  if (summary.listens) {
    reads_.keep_on_primary("LISTEN");
    if (unmovable_.empty()) unmovable_ = "LISTEN";
    publish_summary();
  }
  if (summary.kind == sql::StatementKind::session_state && status == TransactionStatus::idle && frames.size() == 1 &&
      frames.front().tag == protocol::frontend_tag::kQuery) {
    if (const auto query = protocol::decode_query(frames.front().body)) unit_.session_statement = query->query;
  }
  primary_tap_.set_recording(unit_.plan.mirror != MirrorMode::none || unit_.plan.unclassified || answer_held_ ||
                             reads_.awaits_primary_answer() || shadow_unit_);
  if (shadow_unit_) primary_tap_.set_rows_order(shadow_.rows_order());
  context_.log->debug("session={} unit kind={} mirror={} key={}", id_, sql::to_string(summary.kind),
                      to_string(unit_.plan.mirror), writes_->unit_key());
  return pins;
}

Awaitable<void> Session::wait_for_primary() {
  while (tracker_.pending_syncs() > 0 && !tracker_.awaiting_copy_data() && !primary_done_) {
    co_await primary_progress_.async_wait(asio::as_tuple(use_awaitable));
  }
}

Awaitable<conflict::Outcome> Session::run_own_statement(std::string sql) {
  std::vector<std::byte> query;
  protocol::Writer out{query};
  protocol::encode(protocol::Query{.query = sql}, out);
  own_statement_answers_.start();
  own_statement_running_ = true;
  primary_tap_.set_recording(true);
  tracker_.on_frontend(protocol::frontend_tag::kQuery);
  co_await send_all(*backend_stream_, query);
  answer_released_.notify();  // the primary's pump, holding the client's answer, reads these too
  while (own_statement_running_) co_await primary_progress_.async_wait(asio::as_tuple(use_awaitable));
  co_return std::exchange(own_statement_outcome_, {});
}

Awaitable<void> Session::finish_unit() {
  const auto primary = std::exchange(primary_outcome_, {});
  co_await writes_->finish_unit(primary);
  if (answer_held_) {
    answer_held_ = false;
    answer_released_.notify();
  }
  count_primary_answer(primary);
  end_unit(primary);
}

void Session::count_primary_answer(const conflict::Outcome& primary) {
  const auto now = ReadBrake::Clock::now();
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - unit_.started);
  const auto sqlstate = primary_tap_.take_error_sqlstate();
  if (auto record = reads_.judge_failover(primary, sqlstate)) {
    record->session = session_info_;
    recorder_.submit_read(std::move(*record));
  }
  if (shadow_unit_) shadow_.primary_answered(primary, latency);
  const auto kind = planner_.summary().kind;
  context_.metrics.count_query(Backend::primary, kind);
  context_.metrics.observe_latency(Backend::primary, latency);
  if (!sqlstate.empty()) context_.metrics.count_error(Backend::primary, sqlstate);
  context_.roles.count_answer(!sqlstate.empty() && !conflict::classify_sqlstate(sqlstate).client_fault);
  if (std::exchange(eligible_read_, false)) {
    context_.metrics.count_steered_read(false);
    const auto& statement = planner_.summary().representative;
    if (statement && sqlstate.empty()) context_.primary_latencies.record(statement->fingerprint, latency);
  }
  if (unit_.plan.mirror != MirrorMode::none || unit_.plan.unclassified) return;
  context_.brake.record(Backend::primary, now, latency,
                        sqlstate.empty() ? ReadResult::ok() : ReadResult::sql_error(sqlstate));
}

void Session::end_unit(const conflict::Outcome& primary) {
  if (conflict::succeeded(primary)) follow_session_state();
  const auto status = primary_tap_.transaction_status();
  if (status == TransactionStatus::idle) {
    reads_.transaction_ended();
    write_pass_.release();
  }
  writes_->end_unit(status);
  positions_.stop();
  if (std::exchange(shadow_unit_, false)) primary_tap_.set_rows_order(conflict::RowsOrder::kept);
  unit_ = Unit{};
  planner_.start_unit();
  primary_done_ = false;
  primary_tap_.set_recording(false);
}

}  // namespace pgdual::proxy
