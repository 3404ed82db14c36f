#pragma once

#include <utility>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"
#include "protocol/reader.h"
#include "protocol/writer.h"

/// Small pieces every message decoder and encoder in protocol/ shares.
/// Internal to protocol/: not part of its public interface.
namespace pgdual::protocol::detail {

/// `message`, or the reader's first error (trailing bytes included).
template <class Message>
Expected<Message> finished(const Reader& in, Message message) {
  if (auto error = in.finish()) return unexpected{*error};
  return message;
}

/// Decodes a message whose body is empty (Sync, ParseComplete, ...).
template <class Message>
Expected<Message> decode_empty(Bytes body) noexcept {
  if (!body.empty()) return unexpected{CodecError::trailing_bytes};
  return Message{};
}

inline void encode_empty(char tag, Writer& out) {
  out.begin(tag);
  out.finish();
}

}  // namespace pgdual::protocol::detail
