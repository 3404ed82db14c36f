#include "proxy/net/wire_io.h"

#include <algorithm>

#include "protocol/codec_error.h"
#include "protocol/sqlstate.h"

namespace pgdual::proxy {
namespace {

/// The first read takes up to kFirstReadChunk bytes; each read that fills the space it was given
/// doubles it, up to kReadChunk. A small start keeps thousands of idle sessions cheap.
constexpr std::size_t kFirstReadChunk = 2 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024;

[[noreturn]] void throw_violation(std::error_code error) {
  if (error == protocol::CodecError::message_too_large) {
    throw SessionError{protocol::sqlstate::kProtocolViolation, "message too large"};
  }
  if (error == protocol::CodecError::bad_length)
    throw SessionError{protocol::sqlstate::kProtocolViolation, "invalid message length"};
  if (error == protocol::CodecError::unsupported_protocol) {
    throw SessionError{protocol::sqlstate::kFeatureNotSupported, "unsupported frontend protocol"};
  }
  throw SessionError{protocol::sqlstate::kProtocolViolation, "invalid startup packet layout: " + error.message()};
}

}  // namespace

Awaitable<void> MessageReader::fill(Stream& stream) {
  if (begin_ > 0) {
    const auto unread_begin = buffer_.begin() + static_cast<std::ptrdiff_t>(begin_);
    std::copy(unread_begin, buffer_.begin() + static_cast<std::ptrdiff_t>(end_), buffer_.begin());
    end_ -= begin_;
    begin_ = 0;
  }
  const auto chunk = std::clamp(buffer_.size(), kFirstReadChunk, kReadChunk);
  if (buffer_.size() - end_ < chunk) buffer_.resize(end_ + chunk);
  end_ += co_await stream.async_read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_),
                                          use_awaitable);
}

void MessageReader::discard_consumed() {
  begin_ += consumed_;
  consumed_ = 0;
  if (begin_ == end_) begin_ = end_ = 0;
}

Awaitable<protocol::Frame> MessageReader::next_frame(Stream& stream) {
  discard_consumed();
  for (;;) {
    auto frame = protocol::peek_frame(unread(), max_body_length_);
    if (frame) {
      consumed_ = frame->wire_size();
      co_return *frame;
    }
    if (frame.error() != protocol::CodecError::need_more_input) throw_violation(frame.error());
    co_await fill(stream);
  }
}

Awaitable<FrameBatch> MessageReader::next_frames(Stream& stream) {
  batch_.clear();
  batch_.push_back(co_await next_frame(stream));
  // next_frame() consumed the first message; extend over those behind it.
  for (auto rest = unread(); !rest.empty();) {
    auto frame = protocol::peek_frame(rest, max_body_length_);
    if (!frame) {
      if (frame.error() != protocol::CodecError::need_more_input) throw_violation(frame.error());
      break;
    }
    batch_.push_back(*frame);
    consumed_ += frame->wire_size();
    rest = rest.subspan(frame->wire_size());
  }
  co_return FrameBatch{protocol::Bytes{buffer_}.subspan(begin_, consumed_), batch_};
}

Awaitable<protocol::StartupPacket> MessageReader::next_startup_packet(Stream& stream) {
  discard_consumed();
  for (;;) {
    auto decoded = protocol::decode_startup_packet(unread());
    if (decoded) {
      consumed_ = decoded->consumed;
      co_return decoded->packet;
    }
    if (decoded.error() == protocol::CodecError::bad_length) {
      throw SessionError{protocol::sqlstate::kProtocolViolation,
                         "invalid length of startup packet"};  // PostgreSQL's wording
    }
    if (decoded.error() != protocol::CodecError::need_more_input) throw_violation(decoded.error());
    co_await fill(stream);
  }
}

protocol::Bytes MessageReader::unread() const noexcept {
  return protocol::Bytes{buffer_}.subspan(begin_ + consumed_, end_ - begin_ - consumed_);
}

Awaitable<void> send_all(Stream& stream, protocol::Bytes bytes) {
  co_await asio::async_write(stream, asio::buffer(bytes.data(), bytes.size()), use_awaitable);
}

}  // namespace pgdual::proxy
