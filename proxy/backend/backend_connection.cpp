#include "proxy/backend/backend_connection.h"

#include <algorithm>
#include <array>
#include <variant>

#include "protocol/authentication.h"
#include "protocol/error_response.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/startup.h"
#include "protocol/writer.h"
#include "proxy/auth/backend_auth.h"
#include "proxy/backend/backend_tls.h"
#include "proxy/net/timeouts.h"

namespace pgdual::proxy {
namespace {

// "backend "cloud" at db.example.com:5432", for messages.
std::string describe(const config::BackendConfig& backend) {
  return "backend \"" + backend.name + "\" at " + backend.host + ":" + std::to_string(backend.port);
}

Awaitable<tcp::socket> connect_socket(const config::BackendConfig& backend) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver{executor};
  auto endpoints = co_await resolver.async_resolve(backend.host, std::to_string(backend.port), use_awaitable);
  tcp::socket socket{executor};
  co_await asio::async_connect(socket, endpoints, use_awaitable);
  socket.set_option(tcp::no_delay{true});
  co_return socket;
}

// Asks for TLS (protocol-flow.html, "SSL Session Encryption") and reads the server's one-byte
// answer. Exactly one byte: anything the server sent after its 'S' arrived before the handshake,
// unprotected, and must not be read as if TLS had carried it (CVE-2021-23222), so it fails the
// connection, as libpq does.
Awaitable<void> request_tls(Stream& stream, const config::BackendConfig& backend) {
  std::vector<std::byte> request;
  protocol::Writer out{request};
  protocol::encode(protocol::SSLRequest{}, out);
  co_await send_all(stream, request);
  std::array<char, 1> answer{};
  co_await asio::async_read(stream, asio::buffer(answer), use_awaitable);
  switch (answer[0]) {
    case 'S': break;
    // libpq's wording for each answer.
    case 'N': throw BackendUnavailable{describe(backend) + ": server does not support SSL, but SSL was required"};
    case 'E':
      throw BackendUnavailable{describe(backend) + ": server sent an error response during SSL exchange"};
    default: throw BackendUnavailable{describe(backend) + ": received invalid response to SSL negotiation"};
  }
  if (stream.lowest_layer().available() > 0) {
    throw BackendUnavailable{describe(backend) + ": received unencrypted data after SSL response"};
  }
}

Awaitable<void> start_tls(Stream& stream, const config::BackendConfig& backend, std::shared_ptr<ssl::context> tls) {
  co_await request_tls(stream, backend);
  try {
    co_await stream.connect_tls(std::move(tls), backend.host, peer_check(backend.sslmode));
  } catch (const boost::system::system_error& error) {
    throw BackendUnavailable{"TLS handshake with " + describe(backend) + " failed: " + error.code().message()};
  }
}

Awaitable<Stream> connect_and_secure(const config::BackendConfig& backend, std::shared_ptr<ssl::context> tls) {
  Stream stream{co_await connect_socket(backend)};
  if (backend.sslmode != config::SslMode::disable) co_await start_tls(stream, backend, std::move(tls));
  co_return stream;
}

// Unbounded: the caller's deadline covers this and what follows.
Awaitable<Stream> connect_to(const config::BackendConfig& backend, std::shared_ptr<ssl::context> tls) {
  if (backend.sslmode != config::SslMode::disable && !tls) {
    throw std::logic_error{"no TLS context for backend \"" + backend.name + "\""};
  }
  try {
    co_return co_await connect_and_secure(backend, std::move(tls));
  } catch (const boost::system::system_error& error) {
    throw BackendUnavailable{"could not connect to " + describe(backend) + ": " + error.code().message()};
  }
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
  throw SessionError{protocol::sqlstate::kProtocolViolation, "backend protocol violation: " + what};
}

// A role pgdual looked up on the primary logs in with its client's ClientKey, which only a server
// that stores the same verifier accepts (docs/auth-lookup.md).
[[noreturn]] void throw_other_verifier(const config::BackendConfig& backend, const BackendLogin& login,
                                       const std::string& what) {
  throw SessionError{protocol::sqlstate::kInvalidAuthorizationSpecification,
                     "pgdual cannot log in to " + describe(backend) + " as role \"" + login.user + "\": " + what +
                         "; give the role there the verifier it has on the primary: ALTER ROLE ... PASSWORD "
                         "'SCRAM-SHA-256$...' with the primary's pg_authid.rolpassword"};
}

}  // namespace

Awaitable<void> BackendConnection::send(const auto& message) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(message, out);
  co_await send_all(stream_, bytes);
}

// Like libpq's connect_timeout, the limit covers the whole login: a server that accepts the
// connection and then says nothing must not hold the client forever.
Awaitable<BackendConnection> BackendConnection::open(const config::BackendConfig& backend,
                                                     std::shared_ptr<ssl::context> tls, const BackendLogin& login,
                                                     std::uint32_t max_body_length) {
  try {
    co_return co_await with_timeout(log_in(backend, std::move(tls), login, max_body_length), backend.connect_timeout);
  } catch (const boost::system::system_error& error) {
    const auto reason = error.code() == asio::error::timed_out
                            ? "no answer within " + std::to_string(backend.connect_timeout.count()) + " ms"
                            : error.code().message();
    throw BackendUnavailable{"could not log in to " + describe(backend) + ": " + reason};
  }
}

Awaitable<BackendConnection> BackendConnection::log_in(const config::BackendConfig& backend,
                                                       std::shared_ptr<ssl::context> tls, const BackendLogin& login,
                                                       std::uint32_t max_body_length) {
  BackendConnection connection{co_await connect_to(backend, std::move(tls)), max_body_length};
  protocol::StartupMessage startup{login.protocol_version, {}};
  for (const auto& [name, value] : login.parameters) startup.parameters.emplace_back(name, value);
  co_await connection.send(startup);
  co_await connection.authenticate(backend, login);
  co_await connection.read_greeting();
  co_return connection;
}

Awaitable<void> BackendConnection::authenticate(const config::BackendConfig& backend, const BackendLogin& login) {
  auto scram = ScramSha256Client::with_random_nonce(login.password, login.scram_client_key);
  const bool has_password = !login.scram_client_key;
  for (;;) {
    auto frame = co_await reader_.next_frame(stream_);
    if (frame.tag == protocol::backend_tag::kErrorResponse) throw_refused(frame);
    if (frame.tag != protocol::backend_tag::kAuthenticationRequest) {
      throw_backend_violation("expected an authentication request");
    }
    auto request = protocol::decode_authentication(frame.body);
    if (!request) throw_backend_violation("malformed authentication request");

    if (std::holds_alternative<protocol::AuthenticationOk>(*request)) co_return;
    if (std::holds_alternative<protocol::AuthenticationCleartextPassword>(*request)) {
      if (!has_password) throw_other_verifier(backend, login, "the server asks for a cleartext password");
      co_await send(protocol::PasswordMessage{login.password});
    } else if (auto* md5 = std::get_if<protocol::AuthenticationMD5Password>(&*request)) {
      if (!has_password) throw_other_verifier(backend, login, "the server asks for an md5 password");
      // A named local: GCC 12 destroys a temporary std::string inside a co_await expression twice.
      const auto response = md5_password_response(login.user, login.password, md5->salt);
      co_await send(protocol::PasswordMessage{response});
    } else if (auto* sasl = std::get_if<protocol::AuthenticationSASL>(&*request)) {
      if (std::ranges::find(sasl->mechanisms, protocol::kScramSha256Name) == sasl->mechanisms.end()) {
        throw_backend_violation("server offers no SCRAM-SHA-256");
      }
      const auto first = scram.client_first_message();
      co_await send(protocol::SASLInitialResponse{protocol::kScramSha256Name, protocol::as_bytes(first)});
    } else if (auto* challenge = std::get_if<protocol::AuthenticationSASLContinue>(&*request)) {
      auto final_message = scram.client_final_message(protocol::as_text(challenge->data));
      if (!final_message && final_message.error() == std::errc::invalid_argument) {
        throw_other_verifier(backend, login, "its SCRAM salt or iteration count differ from the primary's");
      }
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
    auto frame = co_await reader_.next_frame(stream_);
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

namespace {

// Plain text whatever the sslmode (see send_cancel_request's declaration).
Awaitable<void> cancel_and_wait_for_close(const config::BackendConfig& backend, protocol::BackendKeyData key) {
  auto plain = backend;
  plain.sslmode = config::SslMode::disable;
  std::shared_ptr<ssl::context> no_tls;
  auto stream = co_await connect_to(plain, no_tls);
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::CancelRequest{key.process_id, key.secret_key}, out);
  co_await send_all(stream, bytes);
  // The server closes the connection once it has signalled the backend. The client's libpq
  // waits for that close so that its cancel cannot hit a later statement; pgdual must not
  // answer the client sooner.
  std::array<std::byte, 1> ignored{};
  co_await stream.async_read_some(asio::buffer(ignored), use_awaitable);
}

}  // namespace

Awaitable<void> send_cancel_request(const config::BackendConfig& backend, protocol::BackendKeyData key) {
  try {
    co_await with_timeout(cancel_and_wait_for_close(backend, key), backend.connect_timeout);
  } catch (const std::exception&) {
    // Best effort, like libpq's PQcancel: end of file is the expected answer.
  }
}

}  // namespace pgdual::proxy
