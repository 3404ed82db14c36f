#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/expected.h"

namespace pgdual::proxy {

/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), as PostgreSQL uses
/// it: the user name travels in the startup packet, so the SCRAM one is empty,
/// and no channel binding is offered ("n,,").
/// https://www.postgresql.org/docs/15/sasl-authentication.html
class ScramSha256Client {
 public:
  /// `client_nonce` is printable base64 text. `scram_user` is empty towards
  /// PostgreSQL; tests set it to replay RFC 7677's example exchange.
  ScramSha256Client(std::string password, std::string client_nonce, std::string scram_user = {});

  /// A client with a fresh random nonce.
  [[nodiscard]] static ScramSha256Client with_random_nonce(std::string password);

  /// The SASLInitialResponse payload.
  [[nodiscard]] std::string client_first_message() const;

  /// Answers the server-first-message with the client-final-message.
  ///
  /// @retval std::errc::protocol_error  malformed server message, a nonce the
  ///         client did not start, or an iteration count below 1
  [[nodiscard]] Expected<std::string> client_final_message(std::string_view server_first);

  /// Checks the server's signature, proving the server knew the password too.
  ///
  /// @retval std::errc::protocol_error     malformed message, or an `e=` server error
  /// @retval std::errc::permission_denied  signature mismatch
  [[nodiscard]] Expected<void> verify_server_final(std::string_view server_final) const;

 private:
  std::string password_;
  std::string client_nonce_;
  std::string scram_user_;
  std::string auth_message_;
  std::array<std::byte, 32> salted_password_{};
};

/// PostgreSQL's md5 password answer: "md5" + md5(md5(password + user) + salt).
[[nodiscard]] std::string md5_password_response(std::string_view user, std::string_view password,
                                                std::array<std::byte, 4> salt);

}  // namespace pgdual::proxy
