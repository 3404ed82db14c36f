#include "proxy/backend/mirror_leg.h"

#include "protocol/error_response.h"
#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/net/timeouts.h"

namespace pgdual::proxy {
namespace {

std::chrono::milliseconds time_left(MirrorLeg::Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - MirrorLeg::Clock::now());
  return std::max(left, std::chrono::milliseconds{0});
}

// Runs `operation`, turning every way it can fail into a MirrorFailure.
// Runs `operation` until `deadline`, turning every way it can fail into a MirrorFailure.
template <class T>
Awaitable<T> bounded(Awaitable<T> operation, MirrorLeg::Clock::time_point deadline, std::string_view what) {
  co_return co_await as_mirror_failure(with_timeout(std::move(operation), time_left(deadline)), what);
}

bool is_fatal(const protocol::Frame& frame) {
  if (frame.tag != protocol::backend_tag::kErrorResponse) return false;
  const auto error = protocol::decode_error_response(frame.body);
  if (!error) return false;
  const auto severity = error->field(protocol::error_field::kSeverityNonLocalized);
  return severity == "FATAL" || severity == "PANIC";
}

}  // namespace

MirrorLeg::MirrorLeg(BackendConnection connection, protocol::Bytes rows_digest_key)
    : connection_{std::move(connection)}, client_part_{rows_digest_key}, injected_part_{rows_digest_key} {}

void MirrorLeg::queue_injected(std::string_view sql) {
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Query{sql}, out);
  tracker_.on_frontend(protocol::frontend_tag::kQuery);
  expect_ready(true);
}

void MirrorLeg::queue_client(protocol::Bytes messages) {
  namespace tags = protocol::frontend_tag;
  outgoing_.insert(outgoing_.end(), messages.begin(), messages.end());
  for (const auto& frame : protocol::split_frames(messages)) {
    tracker_.on_frontend(frame.tag);
    if (frame.tag == tags::kQuery || frame.tag == tags::kSync || frame.tag == tags::kFunctionCall) expect_ready(false);
  }
}

void MirrorLeg::expect_ready(bool injected) {
  injected_readies_.push_back(injected);
  ++answers_queued_;
}

Awaitable<void> MirrorLeg::flush(Clock::time_point deadline) {
  if (outgoing_.empty()) co_return;
  co_await bounded(send_all(connection_.stream(), outgoing_), deadline, "sending to the mirror");
  outgoing_.clear();
}

Awaitable<conflict::Outcome> MirrorLeg::finish(Clock::time_point deadline) {
  return finish_through(answers_queued_, deadline);
}

Awaitable<conflict::Outcome> MirrorLeg::finish_through(std::uint64_t mark, Clock::time_point deadline) {
  co_await flush(deadline);
  injected_rows_.clear();
  co_await bounded(read_answers(mark), deadline, "waiting for the mirror");
  injected_outcome_ = injected_part_.finish();
  co_return client_part_.finish();
}

// Up to the mark's last ReadyForQuery; with every request marked, also the answers no
// ReadyForQuery ends (a Parse sent with Flush).
bool MirrorLeg::owes_answers_before(std::uint64_t mark) const noexcept {
  return answers_read_ < mark || (mark == answers_queued_ && !tracker_.idle());
}

Awaitable<void> MirrorLeg::read_answers(std::uint64_t mark) {
  while (owes_answers_before(mark)) {
    const auto frame = co_await connection_.reader().next_frame(connection_.stream());
    const auto response = tracker_.on_backend(frame.tag);
    if (response.unexpected || tracker_.violation() != protocol::Violation::none) {
      throw SessionError{protocol::sqlstate::kProtocolViolation, "the mirror's answers do not match the requests sent"};
    }
    if (!response.asynchronous) take(frame);
    if (frame.tag == protocol::backend_tag::kCopyInResponse && tracker_.awaiting_copy_data()) co_await refuse_copy();
  }
}

// The answers are read once everything the client gave the unit was sent: a COPY FROM STDIN that
// still waits for data is one the primary failed before the client sent any, and that none will
// follow. Left waiting, the mirror would hold the session up to mirror.timeout_ms, then be dropped.
Awaitable<void> MirrorLeg::refuse_copy() {
  std::vector<std::byte> copy_fail;
  protocol::Writer out{copy_fail};
  protocol::encode(protocol::CopyFail{.error_message = "the primary refused this COPY"}, out);
  tracker_.on_frontend(protocol::frontend_tag::kCopyFail);
  co_await send_all(connection_.stream(), copy_fail);
}

Awaitable<MirrorLeg::ServedRead> MirrorLeg::serve(Stream& client, std::size_t hold_bytes) {
  ServedRead served;
  bool holding = hold_bytes > 0;
  try {
    if (!outgoing_.empty()) {
      co_await as_mirror_failure(send_all(connection_.stream(), outgoing_), "sending to the mirror");
      outgoing_.clear();
    }
    while (!tracker_.idle()) {
      const auto batch = co_await as_mirror_failure(connection_.reader().next_frames(connection_.stream()),
                                                    "reading the mirror's answer");
      std::size_t answer = 0;
      const protocol::Frame* fatal = nullptr;
      for (const auto& frame : batch.frames) {
        if (is_fatal(frame)) {
          fatal = &frame;
          break;
        }
        follow_served(frame, served);
        answer += protocol::kFrameHeaderSize + frame.body.size();
      }
      if (answer > 0 && holding) {
        const auto part = batch.wire.first(answer);
        served.held.insert(served.held.end(), part.begin(), part.end());
        holding = served.held.size() <= hold_bytes;
        if (!holding) {
          co_await send_all(client, served.held);
          served.held.clear();
          served.answered = true;
        }
      } else if (answer > 0) {
        co_await send_all(client, batch.wire.first(answer));
        served.answered = true;
      }
      // The mirror's goodbye (it is shutting down, or was told to end the session) is no answer
      // to the client's read: the primary may still give one.
      if (fatal != nullptr) throw MirrorFailure{conflict::Reachability::unreachable, "the mirror ended the session"};
    }
  } catch (const MirrorFailure& failure) {
    served.failure = failure;
  }
  co_return served;
}

conflict::Outcome MirrorLeg::outcome_of(protocol::Bytes answer) {
  for (const auto& frame : protocol::split_frames(answer)) static_cast<void>(client_part_.add(frame));
  return client_part_.finish();
}

void MirrorLeg::follow_served(const protocol::Frame& frame, ServedRead& served) {
  const auto response = tracker_.on_backend(frame.tag);
  if (response.unexpected || tracker_.violation() != protocol::Violation::none) {
    throw MirrorFailure{conflict::Reachability::unreachable, "the mirror's answers do not match the requests sent"};
  }
  if (frame.tag == protocol::backend_tag::kErrorResponse && served.error_sqlstate.empty()) {
    const auto error = protocol::decode_error_response(frame.body);
    served.error_sqlstate = error ? std::string{error->sqlstate()} : protocol::sqlstate::kInternalError;
  } else if (frame.tag == protocol::backend_tag::kReadyForQuery) {
    take_ready(frame);
  }
}

void MirrorLeg::take(const protocol::Frame& frame) {
  const bool injected = !injected_readies_.empty() && injected_readies_.front();
  auto& part = injected ? injected_part_ : client_part_;
  static_cast<void>(part.add(frame));
  if (injected && frame.tag == protocol::backend_tag::kDataRow) {
    if (const auto row = protocol::decode_data_row(frame.body)) injected_rows_.emplace_back(*row);
  }
  if (frame.tag == protocol::backend_tag::kReadyForQuery) take_ready(frame);
}

void MirrorLeg::take_ready(const protocol::Frame& frame) {
  if (const auto ready = protocol::decode_ready_for_query(frame.body)) status_ = ready->status;
  if (!injected_readies_.empty()) injected_readies_.pop_front();
  ++answers_read_;
}

Awaitable<void> MirrorLeg::terminate() {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Terminate{}, out);
  co_await asio::async_write(connection_.stream(), asio::buffer(bytes), asio::as_tuple(use_awaitable));
  close();
}

void MirrorLeg::close() noexcept {
  boost::system::error_code ignored;
  connection_.stream().lowest_layer().close(ignored);
}

}  // namespace pgdual::proxy
