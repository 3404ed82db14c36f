#include "protocol/codec_error.h"

#include <string>

namespace pgdual::protocol {
namespace {

class CodecCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pgdual.protocol"; }

  std::string message(int value) const override {
    switch (static_cast<CodecError>(value)) {
      case CodecError::need_more_input: return "need more input";
      case CodecError::bad_length: return "invalid message length";
      case CodecError::message_too_large: return "message exceeds the maximum size";
      case CodecError::truncated: return "field runs past the end of the message";
      case CodecError::missing_terminator: return "string field is not NUL-terminated";
      case CodecError::trailing_bytes: return "unexpected bytes after the last field";
      case CodecError::negative_count: return "negative count or length";
      case CodecError::unknown_tag: return "unknown message type";
      case CodecError::unsupported_protocol: return "unsupported protocol version";
      case CodecError::unexpected_value: return "field holds a value its message does not allow";
    }
    return "unknown codec error";
  }
};

}  // namespace

const std::error_category& codec_category() noexcept {
  static const CodecCategory category;
  return category;
}

}  // namespace pgdual::protocol
