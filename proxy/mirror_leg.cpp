#include "proxy/mirror_leg.h"

#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"
#include "proxy/timeouts.h"

namespace pgdual::proxy {
namespace {

std::chrono::milliseconds time_left(MirrorLeg::Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - MirrorLeg::Clock::now());
  return std::max(left, std::chrono::milliseconds{0});
}

// Runs `operation` until `deadline`, turning every way it can fail into a MirrorFailure.
template <class T>
Awaitable<T> bounded(Awaitable<T> operation, MirrorLeg::Clock::time_point deadline, std::string_view what) {
  try {
    co_return co_await with_timeout(std::move(operation), time_left(deadline));
  } catch (const boost::system::system_error& error) {
    const auto reachability = error.code() == asio::error::timed_out ? conflict::Reachability::timed_out
                                                                      : conflict::Reachability::unreachable;
    throw MirrorFailure{reachability, std::string{what} + ": " + error.code().message()};
  } catch (const SessionError& error) {
    throw MirrorFailure{conflict::Reachability::unreachable, std::string{what} + ": " + error.what()};
  }
}

}  // namespace

MirrorLeg::MirrorLeg(BackendConnection connection, protocol::Bytes rows_digest_key)
    : connection_{std::move(connection)}, client_part_{rows_digest_key}, injected_part_{rows_digest_key} {}

void MirrorLeg::queue_injected(std::string_view sql) {
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Query{sql}, out);
  tracker_.on_frontend(protocol::frontend_tag::kQuery);
  ++injected_ahead_;
}

void MirrorLeg::queue_client(protocol::Bytes messages) {
  outgoing_.insert(outgoing_.end(), messages.begin(), messages.end());
  for (const auto& frame : protocol::split_frames(messages)) tracker_.on_frontend(frame.tag);
}

Awaitable<void> MirrorLeg::flush(Clock::time_point deadline) {
  if (outgoing_.empty()) co_return;
  co_await bounded(send_all(connection_.socket(), outgoing_), deadline, "sending to the mirror");
  outgoing_.clear();
}

Awaitable<conflict::Outcome> MirrorLeg::finish(Clock::time_point deadline) {
  co_await flush(deadline);
  injected_rows_.clear();
  co_await bounded(read_answers(), deadline, "waiting for the mirror");
  injected_outcome_ = injected_part_.finish();
  co_return client_part_.finish();
}

Awaitable<void> MirrorLeg::read_answers() {
  while (!tracker_.idle()) {
    const auto frame = co_await connection_.reader().next_frame(connection_.socket());
    const auto response = tracker_.on_backend(frame.tag);
    if (response.unexpected || tracker_.violation() != protocol::Violation::none) {
      throw SessionError{"08P01", "the mirror's answers do not match the requests sent"};
    }
    if (!response.asynchronous) take(frame);
  }
}

void MirrorLeg::take(const protocol::Frame& frame) {
  auto& part = injected_ahead_ > 0 ? injected_part_ : client_part_;
  static_cast<void>(part.add(frame));
  if (injected_ahead_ > 0 && frame.tag == protocol::backend_tag::kDataRow) {
    if (const auto row = protocol::decode_data_row(frame.body)) injected_rows_.emplace_back(*row);
  }
  if (frame.tag != protocol::backend_tag::kReadyForQuery) return;
  if (const auto ready = protocol::decode_ready_for_query(frame.body)) status_ = ready->status;
  if (injected_ahead_ > 0) --injected_ahead_;
}

Awaitable<void> MirrorLeg::terminate() {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Terminate{}, out);
  co_await asio::async_write(connection_.socket(), asio::buffer(bytes), asio::as_tuple(use_awaitable));
  close();
}

void MirrorLeg::close() noexcept {
  boost::system::error_code ignored;
  connection_.socket().close(ignored);
}

}  // namespace pgdual::proxy
