#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/startup.h"
#include "proxy/net/asio.h"
#include "proxy/net/stream.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy::test {

/// One step of a FakePostgres script: the frontend message that must come next, and the
/// backend messages that answer it (none: the fake stays silent, as a server stuck on a lock).
/// A step may instead expect a CancelRequest on a connection of its own.
struct ScriptStep {
  enum class Expect : std::uint8_t { message, cancel_request };
  Expect expect = Expect::message;
  char tag = 'Q';
  /// A Query's text: the whole of it, or a part of it with `part_only`; empty for other messages.
  std::string query{};
  bool part_only = false;
  std::vector<std::byte> answer{};
};

/// A Query whose text is `text`, answered with `answer`.
[[nodiscard]] ScriptStep query_answered(std::string_view text, protocol::Bytes answer);
/// A Query whose text contains `part` (a long one pgdual writes itself), answered with `answer`.
[[nodiscard]] ScriptStep query_containing_answered(std::string_view part, protocol::Bytes answer);
/// A Query whose text is `text`, never answered.
[[nodiscard]] ScriptStep query_left_unanswered(std::string_view text);
/// A CancelRequest on a new connection, for the session's BackendKeyData.
[[nodiscard]] ScriptStep cancel_request();

/// What the fake received: each frontend message's tag, and a Query's text.
struct Received {
  char tag = 0;
  std::string query{};
};

/// A scripted PostgreSQL server on 127.0.0.1 for one session (STYLE.md §8.2, "Testing proxy/"):
/// it takes BackendConnection::open's login (cleartext password when it has one), then answers
/// the session's messages as its script says, recording all of them. A message the script does
/// not expect is recorded as a deviation, and the fake closes the connection, so that the side
/// under test fails at once instead of waiting for an answer that never comes.
///
/// serve() ends once the session has said goodbye or closed after the script's last step.
class FakePostgres {
 public:
  static constexpr protocol::BackendKeyData kKey{4242, 987654321};

  FakePostgres(asio::io_context& io, std::string password, std::vector<ScriptStep> script);

  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  Awaitable<void> serve();

  [[nodiscard]] const std::vector<Received>& received() const noexcept { return received_; }
  /// The text of each Query received, in order.
  [[nodiscard]] std::vector<std::string> queries() const;
  /// Why the session left the script; empty while it followed it.
  [[nodiscard]] const std::string& deviation() const noexcept { return deviation_; }
  [[nodiscard]] const std::string& user() const noexcept { return user_; }
  [[nodiscard]] const std::string& password_received() const noexcept { return password_received_; }
  [[nodiscard]] const std::optional<protocol::CancelRequest>& cancel_received() const noexcept { return cancel_; }
  /// The session ended with Terminate, not by closing the connection.
  [[nodiscard]] bool terminated() const noexcept { return terminated_; }

 private:
  Awaitable<void> log_in(Stream& stream, MessageReader& reader);
  /// Plays the script; false once the session left it.
  Awaitable<bool> play(Stream& stream, MessageReader& reader);
  Awaitable<void> take_cancel_request();
  /// The next message, recorded; nullopt once the connection is closed.
  Awaitable<std::optional<Received>> next_message(Stream& stream, MessageReader& reader);
  Awaitable<void> send(Stream& stream, protocol::Bytes bytes);

  tcp::acceptor acceptor_;
  std::string password_;
  std::vector<ScriptStep> script_;
  std::vector<Received> received_;
  std::string deviation_;
  std::string user_;
  std::string password_received_;
  std::optional<protocol::CancelRequest> cancel_;
  bool terminated_ = false;
};

}  // namespace pgdual::proxy::test
