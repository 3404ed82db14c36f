#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/sha256.h"
#include "protocol/expected.h"
#include "proxy/auth/scram_secret.h"

namespace pgdual::proxy {

/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), as PostgreSQL uses
/// it: the user name travels in the startup packet, so the SCRAM one is empty,
/// and no channel binding is offered ("n,,"). It proves either a password or,
/// for a role whose verifier pgdual looked up, the ClientKey its client proved.
/// https://www.postgresql.org/docs/15/sasl-authentication.html
class ScramSha256Client {
 public:
  /// `client_nonce` is printable base64 text. `scram_user` is empty towards
  /// PostgreSQL; tests set it to replay RFC 7677's example exchange.
  ScramSha256Client(std::string password, std::string client_nonce, std::string scram_user = {});

  /// A client that proves `client_key` instead of a password: only to a server
  /// whose salt and iteration count are those of client_key->verifier().
  /// Precondition: client_key is not null.
  ScramSha256Client(std::shared_ptr<const ScramClientKey> client_key, std::string client_nonce);

  /// A client with a fresh random nonce, proving `client_key` when it is not
  /// null and `password` otherwise.
  [[nodiscard]] static ScramSha256Client with_random_nonce(std::string password,
                                                           std::shared_ptr<const ScramClientKey> client_key = {});

  /// The SASLInitialResponse payload.
  [[nodiscard]] std::string client_first_message() const;

  /// Answers the server-first-message with the client-final-message.
  ///
  /// @retval std::errc::protocol_error  malformed server message, a nonce the
  ///         client did not start, or an iteration count below 1
  /// @retval std::errc::invalid_argument  a client proving a ClientKey, and the
  ///         server's salt or iteration count differ from its verifier's: the
  ///         server stores another verifier for the role
  [[nodiscard]] Expected<std::string> client_final_message(std::string_view server_first);

  /// Checks the server's signature, proving the server knew the password too.
  ///
  /// @retval std::errc::protocol_error     malformed message, or an `e=` server error
  /// @retval std::errc::permission_denied  signature mismatch
  [[nodiscard]] Expected<void> verify_server_final(std::string_view server_final) const;

 private:
  /// ClientKey and ServerKey for the server's `salt` and `iterations`.
  [[nodiscard]] Expected<std::pair<conflict::Digest, conflict::Digest>> keys_for(std::span<const std::byte> salt,
                                                                                 int iterations) const;

  std::string password_;
  std::shared_ptr<const ScramClientKey> client_key_;
  std::string client_nonce_;
  std::string scram_user_;
  std::string auth_message_;
  conflict::Digest server_key_{};
};

/// PostgreSQL's md5 password answer: "md5" + md5(md5(password + user) + salt).
[[nodiscard]] std::string md5_password_response(std::string_view user, std::string_view password,
                                                std::array<std::byte, 4> salt);

// Primitives shared by the client side (here) and the server side
// (proxy/auth/client_auth.h) of password authentication. SHA-256 and HMAC are
// conflict/sha256.h's.

/// Standard base64 with padding (RFC 4648 section 4), the encoding SCRAM uses.
[[nodiscard]] std::string base64_encode(std::span<const std::byte> data);

/// Strict base64 decoding: the standard alphabet only, a length that is a
/// multiple of 4, and '=' only as the final one or two characters.
/// @returns std::nullopt for anything else.
[[nodiscard]] std::optional<std::vector<std::byte>> base64_decode(std::string_view text);

/// SCRAM's SaltedPassword, Hi(password, salt, i): PBKDF2-HMAC-SHA-256.
/// The password is used as raw bytes (no SASLprep; see make_scram_verifier).
/// Precondition: iterations >= 1.
[[nodiscard]] conflict::Digest scram_salted_password(std::string_view password, std::span<const std::byte> salt,
                                                     int iterations);

/// `count` bytes from OpenSSL's CSPRNG. Throws std::runtime_error if it fails.
[[nodiscard]] std::vector<std::byte> random_bytes(std::size_t count);

/// A fresh SCRAM nonce as PostgreSQL makes one: 18 random bytes in base64.
[[nodiscard]] std::string random_scram_nonce();

/// The lowercase hex md5 digest of `data`.
[[nodiscard]] std::string md5_hex(std::string_view data);

/// The md5 answer from the stored form of the password: "md5" +
/// md5(password_hash + salt), where `password_hash` is md5(password + user)
/// in lowercase hex (what PostgreSQL stores after its "md5" prefix).
[[nodiscard]] std::string md5_salted_response(std::string_view password_hash, std::array<std::byte, 4> salt);

}  // namespace pgdual::proxy
