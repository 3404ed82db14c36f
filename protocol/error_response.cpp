#include "protocol/error_response.h"

#include "protocol/reader.h"

namespace pgdual::protocol {
namespace {

Expected<ErrorFields> decode_fields(Bytes body) {
  Reader in{body};
  ErrorFields result;
  for (;;) {
    const auto code = static_cast<char>(in.uint8());
    if (!in.ok() || code == '\0') break;
    result.fields.push_back({code, in.cstring()});
  }
  if (auto error = in.finish()) return unexpected{*error};
  return result;
}

void encode_fields(char tag, const ErrorFields& message, Writer& out) {
  out.begin(tag);
  for (const auto& [code, value] : message.fields) {
    out.uint8(static_cast<std::uint8_t>(code));
    out.cstring(value);
  }
  out.uint8(0);
  out.finish();
}

}  // namespace

std::string_view ErrorFields::field(char code) const noexcept {
  for (const auto& entry : fields) {
    if (entry.code == code) return entry.value;
  }
  return {};
}

Expected<ErrorResponse> decode_error_response(Bytes body) noexcept {
  auto fields = decode_fields(body);
  if (!fields) return unexpected{fields.error()};
  return ErrorResponse{std::move(*fields)};
}

Expected<NoticeResponse> decode_notice_response(Bytes body) noexcept {
  auto fields = decode_fields(body);
  if (!fields) return unexpected{fields.error()};
  return NoticeResponse{std::move(*fields)};
}

void encode(const ErrorResponse& message, Writer& out) { encode_fields(backend_tag::kErrorResponse, message, out); }

void encode(const NoticeResponse& message, Writer& out) { encode_fields(backend_tag::kNoticeResponse, message, out); }

ErrorResponse make_error(std::string_view severity, std::string_view sqlstate, std::string_view message) {
  return ErrorResponse{{{{error_field::kSeverity, severity},
                         {error_field::kSeverityNonLocalized, severity},
                         {error_field::kSqlState, sqlstate},
                         {error_field::kMessage, message}}}};
}

}  // namespace pgdual::protocol
