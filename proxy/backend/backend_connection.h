#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/proxy_config.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "proxy/auth/scram_secret.h"
#include "proxy/net/asio.h"
#include "proxy/net/stream.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {

/// Who pgdual logs in as, and the client's startup parameters to pass on.
struct BackendLogin {
  std::string user;
  std::string password;
  std::int32_t protocol_version = 0;
  std::vector<std::pair<std::string, std::string>> parameters;  ///< includes "user"
  /// For a role whose verifier pgdual looked up ([auth]): the ClientKey its client proved, which
  /// logs in with SCRAM-SHA-256 in place of the (empty) password.
  std::shared_ptr<const ScramClientKey> scram_client_key{};
};

/// The backend could not be reached, or not over TLS as its sslmode asks; the client gets 08006
/// naming it.
class BackendUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The backend answered the login with an ErrorResponse (unknown database,
/// too many connections, ...). The client gets that response unchanged.
class BackendRefused : public std::runtime_error {
 public:
  BackendRefused(std::string message, std::vector<std::byte> error_response)
      : std::runtime_error{std::move(message)}, error_response_{std::move(error_response)} {}
  [[nodiscard]] protocol::Bytes error_response() const noexcept { return error_response_; }

 private:
  std::vector<std::byte> error_response_;
};

/// One logged-in connection to a PostgreSQL server.
class BackendConnection {
 public:
  /// Connects and, unless the backend's sslmode is disable, switches to TLS with `tls` and checks
  /// the server as sslmode says; then logs in with SCRAM-SHA-256, md5 or a cleartext password,
  /// and reads the server's greeting up to its first ReadyForQuery. All of it within the
  /// backend's connect_timeout. A login with a scram_client_key that the server cannot take (it
/// asks for md5 or a cleartext password, or its SCRAM salt or iteration count differ from the
/// ClientKey's verifier) throws SessionError 28000 naming the backend, the role and the fix.
  ///
  /// Precondition: `tls` is make_backend_tls(backend)'s context (BackendTlsContexts holds them),
  /// nullptr with sslmode disable.
  /// Throws BackendUnavailable (no connection; the server refused TLS, answered the SSLRequest
  /// oddly, or failed the handshake or the check; silent past the timeout, or the connection lost
  /// during the login), BackendRefused, or SessionError when the server's answers make no sense.
  static Awaitable<BackendConnection> open(const config::BackendConfig& backend, std::shared_ptr<ssl::context> tls,
                                           const BackendLogin& login, std::uint32_t max_body_length);

  [[nodiscard]] Stream& stream() noexcept { return stream_; }
  [[nodiscard]] const protocol::BackendKeyData& key() const noexcept { return key_; }
  /// What the server sent after AuthenticationOk, through ReadyForQuery, with
  /// BackendKeyData left out: the client gets pgdual's own key instead.
  [[nodiscard]] protocol::Bytes greeting() const noexcept { return greeting_; }
  /// Bytes that arrived after the greeting.
  [[nodiscard]] protocol::Bytes unread() const noexcept { return reader_.unread(); }
  /// Reads whole messages, starting with those that arrived after the greeting.
  [[nodiscard]] MessageReader& reader() noexcept { return reader_; }

 private:
  BackendConnection(Stream stream, std::uint32_t max_body_length)
      : stream_{std::move(stream)}, reader_{max_body_length} {}

  /// open() without its time limit.
  static Awaitable<BackendConnection> log_in(const config::BackendConfig& backend, std::shared_ptr<ssl::context> tls,
                                             const BackendLogin& login, std::uint32_t max_body_length);
  Awaitable<void> authenticate(const config::BackendConfig& backend, const BackendLogin& login);
  Awaitable<void> read_greeting();
  Awaitable<void> send(const auto& message);

  Stream stream_;
  MessageReader reader_;
  protocol::BackendKeyData key_;
  std::vector<std::byte> greeting_;
};

/// Sends a CancelRequest for `key` to `backend` and closes. Failures are
/// ignored, as PostgreSQL clients ignore them: a cancel is best effort.
/// The request goes in plain text whatever the backend's sslmode, as libpq before version 17
/// sends it: it carries only the key, and PostgreSQL 15 reads it either way.
Awaitable<void> send_cancel_request(const config::BackendConfig& backend, protocol::BackendKeyData key);

}  // namespace pgdual::proxy
