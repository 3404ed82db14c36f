#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "protocol/writer.h"

namespace pgdual::protocol::fuzz {

/// The fuzzer's input as the codec's byte type.
[[nodiscard]] inline Bytes input_bytes(const std::uint8_t* data, std::size_t size) noexcept {
  return std::as_bytes(std::span{data, size});
}

/// Aborts with `what` on stderr: libFuzzer treats the abort as a crash and
/// saves the input that caused it.
inline void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "round trip broken: %s\n", what);
  std::abort();
}

/// One message (or variant of messages) encoded on its own.
template <class Message>
[[nodiscard]] std::vector<std::byte> encoded(const Message& message) {
  std::vector<std::byte> out;
  Writer writer{out};
  encode(message, writer);
  return out;
}

/// The round trip for a tagged message decoded from `tag` and `body`:
/// encode(decode(x)) must be one whole frame of the same tag that decodes
/// again, to a message that encodes to the same bytes.
/// `decode(tag, body)` returns an Expected of something `encoded` accepts.
template <class Decode>
void check_tagged_round_trip(char tag, Bytes body, Decode decode) {
  const auto first = decode(tag, body);
  if (!first) return;
  const auto once = encoded(*first);
  const auto frame = peek_frame(once, kDefaultMaxMessageBody);
  require(frame.has_value(), "re-encoded message is not a valid frame");
  require(frame->wire_size() == once.size(), "re-encoded message is not exactly one frame");
  require(frame->tag == tag, "re-encoded message has another tag");
  const auto second = decode(frame->tag, frame->body);
  require(second.has_value(), "re-encoded message does not decode");
  require(encoded(*second) == once, "second encoding differs from the first");
}

/// The round trip for a message without a frame of its own (a CopyData
/// payload, a logical replication message): `decode(input)` returns an
/// Expected of something `encoded` accepts. These decoders accept exactly the
/// bytes their encoders write, so encode(decode(x)) must be x itself.
template <class Decode>
void check_exact_round_trip(Bytes input, Decode decode) {
  const auto first = decode(input);
  if (!first) return;
  const auto once = encoded(*first);
  require(once.size() == input.size() && std::equal(once.begin(), once.end(), input.begin()),
          "encoding differs from the decoded bytes");
  const auto second = decode(Bytes{once});
  require(second.has_value(), "re-encoded message does not decode");
  require(encoded(*second) == once, "second encoding differs from the first");
}

}  // namespace pgdual::protocol::fuzz
