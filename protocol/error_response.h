#pragma once

#include <string_view>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::protocol {

/// ErrorResponse ('E') and NoticeResponse ('N') share one body: typed fields,
/// each Byte1 code + String, ended by a zero byte.
/// https://www.postgresql.org/docs/15/protocol-error-fields.html

namespace error_field {
inline constexpr char kSeverity = 'S';
inline constexpr char kSeverityNonLocalized = 'V';
inline constexpr char kSqlState = 'C';
inline constexpr char kMessage = 'M';
inline constexpr char kDetail = 'D';
inline constexpr char kHint = 'H';
}  // namespace error_field

struct ErrorField {
  char code;
  std::string_view value;
};

struct ErrorFields {
  std::vector<ErrorField> fields;

  /// The value of the first field with `code`, or empty.
  [[nodiscard]] std::string_view field(char code) const noexcept;
  [[nodiscard]] std::string_view sqlstate() const noexcept { return field(error_field::kSqlState); }
  [[nodiscard]] std::string_view message() const noexcept { return field(error_field::kMessage); }
};

struct ErrorResponse : ErrorFields {};
struct NoticeResponse : ErrorFields {};

/// @retval CodecError::truncated, missing_terminator, trailing_bytes  malformed body
[[nodiscard]] Expected<ErrorResponse> decode_error_response(Bytes body) noexcept;
[[nodiscard]] Expected<NoticeResponse> decode_notice_response(Bytes body) noexcept;

void encode(const ErrorResponse& message, Writer& out);
void encode(const NoticeResponse& message, Writer& out);

/// An ErrorResponse of pgdual's own, shaped as PostgreSQL shapes them
/// (severity in both localized and non-localized fields). The views must
/// outlive the result.
[[nodiscard]] ErrorResponse make_error(std::string_view severity, std::string_view sqlstate,
                                       std::string_view message);

}  // namespace pgdual::protocol
