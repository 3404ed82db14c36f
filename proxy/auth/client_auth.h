#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/expected.h"
#include "proxy/auth/scram_secret.h"

namespace pgdual::proxy {

// The server side of password authentication: pgdual checking its own
// clients, the way PostgreSQL 15 does, before any backend connection opens.
// Pure: no I/O, no logging. The session sends the messages and the errors.
// https://www.postgresql.org/docs/15/sasl-authentication.html

/// Why an authentication exchange failed, as the ErrorResponse (severity
/// FATAL) the session sends before closing the connection.
struct AuthFailure {
  /// "28P01" wrong password or unknown user, "08P01" malformed message,
  /// "28000" channel binding mismatch, "0A000" a SCRAM feature PostgreSQL
  /// does not support either (authzid, mandatory extensions).
  std::string sqlstate{};
  std::string message{};
  std::string detail{};  ///< empty when there is none
};

/// PostgreSQL's answer to a wrong password and to an unknown user alike:
/// 28P01 `password authentication failed for user "<user>"`.
[[nodiscard]] AuthFailure password_authentication_failed(std::string_view user);

/// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (salt
/// and keys in base64, keys 32 bytes each).
///
/// @returns on malformed input, an error naming the part that is wrong; the
///          text never repeats the input, which is a secret.
[[nodiscard]] Expected<ScramVerifier, std::string> parse_scram_verifier(std::string_view text);

/// PostgreSQL's text form of a verifier; parse_scram_verifier reads it back.
[[nodiscard]] std::string to_string(const ScramVerifier& verifier);

/// Derives the verifier for `password`, as CREATE ROLE ... PASSWORD does.
///
/// PostgreSQL first applies SASLprep to passwords that are valid UTF-8 and
/// falls back to the raw bytes when preparation fails. pgdual does not
/// implement SASLprep and always uses the raw bytes: identical for ASCII
/// passwords, but a non-ASCII password that SASLprep would change yields a
/// different verifier than PostgreSQL's.
///
/// Precondition: iterations >= 1 and `salt` is not empty.
[[nodiscard]] ScramVerifier make_scram_verifier(std::string_view password, std::span<const std::byte> salt,
                                                int iterations = 4096);

/// A fresh random salt of PostgreSQL's default length (16 bytes).
[[nodiscard]] std::vector<std::byte> random_scram_salt();

/// The stand-in verifier for a user that does not exist: derived from the user
/// name and a server secret, so every attempt for that name sees the same salt
/// and iteration count, just as for a real user (no user enumeration).
[[nodiscard]] ScramVerifier mock_scram_verifier(std::string_view user, std::span<const std::byte> server_secret,
                                                int iterations = 4096);

/// Produces the server's half of the SCRAM nonce: printable ASCII except ','.
using ScramNonceSource = std::function<std::string()>;

/// The server side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802,
/// RFC 7677, RFC 5929 tls-server-end-point), as PostgreSQL runs it: the user
/// comes from the startup packet and the SCRAM "n=" is ignored. One object per
/// login attempt: first(), then final(); any failure ends the exchange.
///
/// Failures mirror PostgreSQL's SQLSTATEs and wording (auth-scram.c), so a
/// client cannot tell pgdual from PostgreSQL by its errors.
class ScramSha256Server {
 public:
  /// `tls_server_end_point` is the hash of the server certificate the client
  /// sees (RFC 5929), or empty when the client is not on TLS; it enables
  /// SCRAM-SHA-256-PLUS. An empty `nonce_source` means random_scram_nonce().
  ScramSha256Server(std::string user, ScramVerifier verifier, std::vector<std::byte> tls_server_end_point = {},
                    ScramNonceSource nonce_source = {});

  /// The exchange for a user that does not exist: it runs exactly like a real
  /// one on mock_scram_verifier() and fails at final() with the same 28P01 as
  /// a wrong password.
  [[nodiscard]] static ScramSha256Server for_unknown_user(std::string user,
                                                          std::span<const std::byte> server_secret,
                                                          std::vector<std::byte> tls_server_end_point = {},
                                                          ScramNonceSource nonce_source = {});

  /// The mechanisms for AuthenticationSASL, preferred first:
  /// "SCRAM-SHA-256-PLUS" (only with a certificate hash), then "SCRAM-SHA-256".
  [[nodiscard]] std::vector<std::string> mechanisms() const;

  /// Answers the SASLInitialResponse with the server-first-message.
  ///
  /// @retval 08P01  a mechanism not offered, an empty message or one holding a
  ///                NUL byte, a malformed message, a channel-binding flag that
  ///                contradicts the mechanism, an unsupported channel-binding
  ///                type, a non-printable nonce, or a second call
  /// @retval 28000  flag "y" (client thinks the server cannot bind) while the
  ///                server offers SCRAM-SHA-256-PLUS: a downgrade attempt
  /// @retval 0A000  an authorization identity ("a=") or a mandatory extension ("m=")
  [[nodiscard]] Expected<std::string, AuthFailure> first(std::string_view mechanism,
                                                         std::string_view client_first);

  /// Checks the client-final-message and answers with the server-final-message
  /// ("v=<ServerSignature>") when the proof is right. The proof is compared in
  /// constant time.
  ///
  /// @retval 28P01  a wrong proof, or any proof for an unknown user
  /// @retval 08P01  a malformed message or proof, a channel-binding attribute
  ///                that does not repeat the first message's flag, a nonce that
  ///                is not the exchange's, or a call out of order
  /// @retval 28000  channel-binding data that is not this server's certificate hash
  [[nodiscard]] Expected<std::string, AuthFailure> final(std::string_view client_final);

  /// Once final() has accepted the proof: the ClientKey the client proved it holds
  /// (ClientProof XOR ClientSignature, whose hash is the verifier's StoredKey), with the verifier.
  /// nullptr before that, after any failure, and for an unknown user.
  [[nodiscard]] std::shared_ptr<const ScramClientKey> client_key() const { return client_key_; }

 private:
  enum class Step { awaiting_first, awaiting_final, finished };

  ScramSha256Server(std::string user, ScramVerifier verifier, std::vector<std::byte> tls_server_end_point,
                    ScramNonceSource nonce_source, bool doomed);

  [[nodiscard]] bool offers_plus() const { return !tls_server_end_point_.empty(); }
  [[nodiscard]] Expected<void, AuthFailure> read_client_first(std::string_view mechanism,
                                                              std::string_view client_first);
  [[nodiscard]] Expected<void, AuthFailure> check_channel_binding(std::string_view attribute) const;
  [[nodiscard]] Expected<std::string, AuthFailure> check_proof(std::string_view without_proof,
                                                               const std::array<std::byte, 32>& proof);

  std::string user_;
  ScramVerifier verifier_;
  std::vector<std::byte> tls_server_end_point_;
  ScramNonceSource nonce_source_;
  bool doomed_ = false;  ///< an unknown user: fail at the end whatever the proof
  Step step_ = Step::awaiting_first;
  bool channel_binding_in_use_ = false;
  char channel_binding_flag_ = '\0';  ///< 'n', 'y' or 'p', from the client-first-message
  std::string client_nonce_;
  std::string server_nonce_;
  std::string client_first_bare_;
  std::string server_first_;
  std::shared_ptr<const ScramClientKey> client_key_;
};

/// The secret md5 authentication checks against: md5(password + user) in
/// lowercase hex, which is what PostgreSQL stores after its "md5" prefix. It
/// is bound to the user name it was made with.
struct Md5Secret {
  std::string password_hash{};

  /// From a cleartext password.
  [[nodiscard]] static Md5Secret from_password(std::string_view user, std::string_view password);

  /// From a stored "md5" + 32 lowercase hex digits (as in pg_authid.rolpassword).
  ///
  /// @returns an error that does not repeat the input when it has another form.
  [[nodiscard]] static Expected<Md5Secret, std::string> from_stored(std::string_view stored);
};

/// Checks a PasswordMessage answering AuthenticationMD5Password(`salt`):
/// "md5" + md5(password_hash + salt), compared in constant time.
[[nodiscard]] bool check_md5_response(const Md5Secret& secret, std::array<std::byte, 4> salt,
                                      std::string_view response);

/// The same from a cleartext password.
[[nodiscard]] bool check_md5_response(std::string_view user, std::string_view password,
                                      std::array<std::byte, 4> salt, std::string_view response);

}  // namespace pgdual::proxy
