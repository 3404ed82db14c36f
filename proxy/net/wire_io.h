#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "protocol/startup.h"
#include "proxy/net/asio.h"
#include "proxy/net/stream.h"

namespace pgdual::proxy {

/// Ends a session with a FATAL ErrorResponse to the client: a protocol
/// violation (08P01), a refused login (28000, 28P01), ... `sqlstate` and the
/// message are what PostgreSQL itself would answer.
class SessionError : public std::runtime_error {
 public:
  SessionError(const char* sqlstate, const std::string& message)
      : std::runtime_error{message}, sqlstate_{sqlstate} {}
  [[nodiscard]] const char* sqlstate() const noexcept { return sqlstate_; }

 private:
  const char* sqlstate_;
};

/// Consecutive complete messages: their wire bytes, and each one parsed.
struct FrameBatch {
  protocol::Bytes wire;
  std::span<const protocol::Frame> frames;
};

/// Reads whole messages from a stream into an internal buffer. Used where
/// pgdual must see complete messages (startup, authentication); the relay
/// streams instead.
class MessageReader {
 public:
  explicit MessageReader(std::uint32_t max_body_length) : max_body_length_{max_body_length} {}

  /// The next tagged message; valid until the next call. Throws
  /// SessionError on a malformed length, and system_error on EOF.
  Awaitable<protocol::Frame> next_frame(Stream& stream);

  /// Every complete message received so far (at least one, reading more when
  /// there is none): what arrived in one read is forwarded in one write.
  /// Valid until the next call. Throws as next_frame().
  Awaitable<FrameBatch> next_frames(Stream& stream);

  /// The next startup-phase packet; views into it stay valid until the next call.
  Awaitable<protocol::StartupPacket> next_startup_packet(Stream& stream);

  /// Bytes received but not yet returned: they belong to whoever reads next.
  [[nodiscard]] protocol::Bytes unread() const noexcept;

 private:
  Awaitable<void> fill(Stream& stream);
  void discard_consumed();

  std::uint32_t max_body_length_;
  std::vector<std::byte> buffer_;
  std::size_t begin_ = 0;      ///< start of unread bytes
  std::size_t end_ = 0;        ///< end of received bytes
  std::size_t consumed_ = 0;   ///< size of the message returned last
  std::vector<protocol::Frame> batch_;  ///< reused by next_frames()
};

/// Writes all of `bytes`.
Awaitable<void> send_all(Stream& stream, protocol::Bytes bytes);

}  // namespace pgdual::proxy
