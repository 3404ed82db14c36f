#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::protocol {

/// The authentication exchange: backend 'R' requests and frontend 'p' answers.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html
/// https://www.postgresql.org/docs/15/sasl-authentication.html

struct AuthenticationOk {};
struct AuthenticationCleartextPassword {};
struct AuthenticationMD5Password {
  std::array<std::byte, 4> salt{};
};
struct AuthenticationSASL {
  std::vector<std::string_view> mechanisms;
};
/// The SASL mechanisms PostgreSQL offers in AuthenticationSASL and a client names in
/// SASLInitialResponse: SCRAM_SHA_256_NAME and SCRAM_SHA_256_PLUS_NAME in PostgreSQL's
/// src/include/common/scram-common.h. "-PLUS" adds channel binding.
inline constexpr std::string_view kScramSha256Name = "SCRAM-SHA-256";
inline constexpr std::string_view kScramSha256PlusName = "SCRAM-SHA-256-PLUS";
struct AuthenticationSASLContinue {
  Bytes data;
};
struct AuthenticationSASLFinal {
  Bytes data;
};
/// KerberosV5 (2), GSS (7), GSSContinue (8), SSPI (9): methods pgdual does not speak.
struct AuthenticationOther {
  std::int32_t code = 0;
  Bytes data;
};

using Authentication =
    std::variant<AuthenticationOk, AuthenticationCleartextPassword, AuthenticationMD5Password,
                 AuthenticationSASL, AuthenticationSASLContinue, AuthenticationSASLFinal,
                 AuthenticationOther>;

/// Decodes the body of an 'R' message.
///
/// @retval CodecError::truncated, missing_terminator, trailing_bytes  malformed body
[[nodiscard]] Expected<Authentication> decode_authentication(Bytes body) noexcept;

void encode(const AuthenticationOk& message, Writer& out);
void encode(const AuthenticationCleartextPassword& message, Writer& out);
void encode(const AuthenticationMD5Password& message, Writer& out);
void encode(const AuthenticationSASL& message, Writer& out);
void encode(const AuthenticationSASLContinue& message, Writer& out);
void encode(const AuthenticationSASLFinal& message, Writer& out);
void encode(const AuthenticationOther& message, Writer& out);
void encode(const Authentication& message, Writer& out);

/// PasswordMessage: a cleartext or md5-hashed password.
struct PasswordMessage {
  std::string_view password;
};

/// SASLInitialResponse: the chosen mechanism and its first message.
struct SASLInitialResponse {
  std::string_view mechanism;
  Bytes data;
  bool has_data = true;  ///< false when the length field is -1
};

/// SASLResponse: a later mechanism message.
struct SASLResponse {
  Bytes data;
};

// A 'p' body's type follows from the authentication request it answers, so
// the caller picks the decoder.
[[nodiscard]] Expected<PasswordMessage> decode_password_message(Bytes body) noexcept;
[[nodiscard]] Expected<SASLInitialResponse> decode_sasl_initial_response(Bytes body) noexcept;
[[nodiscard]] Expected<SASLResponse> decode_sasl_response(Bytes body) noexcept;

void encode(const PasswordMessage& message, Writer& out);
void encode(const SASLInitialResponse& message, Writer& out);
void encode(const SASLResponse& message, Writer& out);

}  // namespace pgdual::protocol
