#include "proxy/backend_connection.h"

#include <algorithm>
#include <array>
#include <variant>

#include "protocol/authentication.h"
#include "protocol/error_response.h"
#include "protocol/message_tags.h"
#include "protocol/startup.h"
#include "protocol/writer.h"
#include "proxy/backend_auth.h"
#include "proxy/timeouts.h"

namespace pgdual::proxy {
namespace {

constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";

Awaitable<tcp::socket> connect_to(const config::BackendConfig& backend) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver{executor};
  tcp::socket socket{executor};
  try {
    auto endpoints = co_await with_timeout(
        resolver.async_resolve(backend.host, std::to_string(backend.port), use_awaitable), backend.connect_timeout);
    co_await with_timeout(asio::async_connect(socket, endpoints, use_awaitable), backend.connect_timeout);
  } catch (const boost::system::system_error& error) {
    throw BackendUnavailable{"could not connect to backend \"" + backend.name + "\" at " + backend.host + ":" +
                             std::to_string(backend.port) + ": " + error.code().message()};
  }
  socket.set_option(tcp::no_delay{true});
  co_return socket;
}

[[noreturn]] void throw_refused(const protocol::Frame& frame) {
  auto error = protocol::decode_error_response(frame.body);
  std::string message = error ? std::string{error->sqlstate()} + " " + std::string{error->message()}
                              : "malformed ErrorResponse";
  std::vector<std::byte> bytes;
  protocol::append_frame(frame, bytes);
  throw BackendRefused{message, std::move(bytes)};
}

[[noreturn]] void throw_backend_violation(const std::string& what) {
  throw SessionError{"08P01", "backend protocol violation: " + what};
}

}  // namespace

Awaitable<void> BackendConnection::send(const auto& message) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(message, out);
  co_await send_all(socket_, bytes);
}

Awaitable<BackendConnection> BackendConnection::open(const config::BackendConfig& backend, const BackendLogin& login,
                                                     std::uint32_t max_body_length) {
  BackendConnection connection{co_await connect_to(backend), max_body_length};
  protocol::StartupMessage startup{login.protocol_version, {}};
  for (const auto& [name, value] : login.parameters) startup.parameters.emplace_back(name, value);
  co_await connection.send(startup);
  co_await connection.authenticate(login);
  co_await connection.read_greeting();
  co_return connection;
}

Awaitable<void> BackendConnection::authenticate(const BackendLogin& login) {
  auto scram = ScramSha256Client::with_random_nonce(login.password);
  for (;;) {
    auto frame = co_await reader_.next_frame(socket_);
    if (frame.tag == protocol::backend_tag::kErrorResponse) throw_refused(frame);
    if (frame.tag != protocol::backend_tag::kAuthenticationRequest) {
      throw_backend_violation("expected an authentication request");
    }
    auto request = protocol::decode_authentication(frame.body);
    if (!request) throw_backend_violation("malformed authentication request");

    if (std::holds_alternative<protocol::AuthenticationOk>(*request)) co_return;
    if (std::holds_alternative<protocol::AuthenticationCleartextPassword>(*request)) {
      co_await send(protocol::PasswordMessage{login.password});
    } else if (auto* md5 = std::get_if<protocol::AuthenticationMD5Password>(&*request)) {
      // A named local: GCC 12 destroys a temporary std::string inside a co_await expression twice.
      const auto response = md5_password_response(login.user, login.password, md5->salt);
      co_await send(protocol::PasswordMessage{response});
    } else if (auto* sasl = std::get_if<protocol::AuthenticationSASL>(&*request)) {
      if (std::find(sasl->mechanisms.begin(), sasl->mechanisms.end(), kScramSha256) == sasl->mechanisms.end()) {
        throw_backend_violation("server offers no SCRAM-SHA-256");
      }
      const auto first = scram.client_first_message();
      co_await send(protocol::SASLInitialResponse{kScramSha256, protocol::as_bytes(first)});
    } else if (auto* challenge = std::get_if<protocol::AuthenticationSASLContinue>(&*request)) {
      auto final_message = scram.client_final_message(protocol::as_text(challenge->data));
      if (!final_message) throw_backend_violation("malformed SCRAM server-first-message");
      co_await send(protocol::SASLResponse{protocol::as_bytes(*final_message)});
    } else if (auto* outcome = std::get_if<protocol::AuthenticationSASLFinal>(&*request)) {
      if (!scram.verify_server_final(protocol::as_text(outcome->data))) {
        throw_backend_violation("the server's SCRAM signature does not match");
      }
    } else {
      throw_backend_violation("unsupported authentication method");
    }
  }
}

Awaitable<void> BackendConnection::read_greeting() {
  for (;;) {
    auto frame = co_await reader_.next_frame(socket_);
    if (frame.tag == protocol::backend_tag::kErrorResponse) throw_refused(frame);
    if (frame.tag == protocol::backend_tag::kBackendKeyData) {
      auto key = protocol::decode_backend_key_data(frame.body);
      if (!key) throw_backend_violation("malformed BackendKeyData");
      key_ = *key;
      continue;
    }
    protocol::append_frame(frame, greeting_);
    if (frame.tag == protocol::backend_tag::kReadyForQuery) co_return;
  }
}

Awaitable<void> send_cancel_request(const config::BackendConfig& backend, protocol::BackendKeyData key) {
  try {
    auto socket = co_await connect_to(backend);
    std::vector<std::byte> bytes;
    protocol::Writer out{bytes};
    protocol::encode(protocol::CancelRequest{key.process_id, key.secret_key}, out);
    co_await send_all(socket, bytes);
    // The server closes the connection once it has signalled the backend. The
    // client's libpq waits for that close so that its cancel cannot hit a later
    // statement; pgdual must not answer the client sooner.
    std::array<std::byte, 1> ignored{};
    co_await with_timeout(socket.async_read_some(asio::buffer(ignored), use_awaitable), backend.connect_timeout);
  } catch (const std::exception&) {
    // Best effort, like libpq's PQcancel: end of file is the expected answer.
  }
}

}  // namespace pgdual::proxy
