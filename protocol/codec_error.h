#pragma once

#include <system_error>

namespace pgdual::protocol {

/// Why a decoder could not produce a message.
///
/// `need_more_input` is the only value that is not a protocol violation: the
/// input ends inside a message and the caller should read more and retry.
/// Every other value means the peer sent something PostgreSQL would reject.
enum class CodecError {
  need_more_input = 1,
  bad_length,           ///< length field below its minimum or not matching the content
  message_too_large,    ///< length field above the configured maximum
  truncated,            ///< a field runs past the end of the message body
  missing_terminator,   ///< a string field has no NUL before the end of the body
  trailing_bytes,       ///< the body holds bytes after its last field
  negative_count,       ///< a count or length field is negative where it may not be
  unknown_tag,          ///< a tag byte that is not a message of this direction
  unsupported_protocol, ///< a startup packet with a protocol version we do not speak
  unexpected_value,     ///< a field holds a value its message does not allow
};

[[nodiscard]] const std::error_category& codec_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(CodecError error) noexcept {
  return {static_cast<int>(error), codec_category()};
}

}  // namespace pgdual::protocol

template <>
struct std::is_error_code_enum<pgdual::protocol::CodecError> : std::true_type {};
