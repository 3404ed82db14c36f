// libFuzzer target: message framing. The first input byte seeds how the rest
// (a stream of tagged messages) is split into chunks.
//
// Checks that peek_frame walks the stream frame by frame, that every complete
// frame re-encodes to exactly its own bytes and frames again the same way, and
// that FrameScanner reports the same headers and the same error whether the
// stream arrives in one chunk or in arbitrary ones.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/codec_error.h"
#include "protocol/frame.h"
#include "protocol/frame_scanner.h"
#include "protocol/writer.h"
#include "tests/fuzz/round_trip.h"

namespace protocol = pgdual::protocol;
using protocol::Bytes;
using protocol::CodecError;
using protocol::FrameHeader;
using protocol::fuzz::require;

namespace {

// Small enough that the fuzzer reaches message_too_large with short inputs.
constexpr std::uint32_t kMaxBody = 1 << 16;

struct Headers {
  std::vector<FrameHeader> headers;
  std::optional<CodecError> error;
  bool at_boundary = true;
};

bool same(const Headers& a, const Headers& b) {
  if (a.error != b.error || a.headers.size() != b.headers.size()) return false;
  if (!a.error && a.at_boundary != b.at_boundary) return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].tag != b.headers[i].tag || a.headers[i].body_length != b.headers[i].body_length) return false;
  }
  return true;
}

void check_frame_round_trip(const protocol::Frame& frame, Bytes wire) {
  std::vector<std::byte> out;
  protocol::Writer writer{out};
  writer.begin(frame.tag);
  writer.bytes(frame.body);
  writer.finish();
  require(Bytes{out}.size() == wire.size() && std::equal(out.begin(), out.end(), wire.begin()),
          "re-encoded frame differs from its wire bytes");
  const auto again = protocol::peek_frame(out, kMaxBody);
  require(again.has_value(), "re-encoded frame does not frame");
  require(again->tag == frame.tag && again->body.size() == frame.body.size(), "re-encoded frame frames differently");
}

// The reference: peek_header / peek_frame from one frame start to the next.
Headers walk(Bytes stream) {
  Headers result;
  while (!stream.empty()) {
    const auto header = protocol::peek_header(stream, kMaxBody);
    if (!header) {
      if (header.error() != CodecError::need_more_input) result.error = static_cast<CodecError>(header.error().value());
      break;
    }
    result.headers.push_back(*header);
    const auto frame = protocol::peek_frame(stream, kMaxBody);
    if (!frame) {
      require(frame.error() == CodecError::need_more_input && stream.size() < header->wire_size(),
              "peek_frame rejects a frame whose header peek_header accepts");
      break;
    }
    require(frame->tag == header->tag && frame->wire_size() == header->wire_size(),
            "peek_frame and peek_header disagree");
    check_frame_round_trip(*frame, stream.first(frame->wire_size()));
    stream = stream.subspan(frame->wire_size());
  }
  result.at_boundary = stream.empty();
  return result;
}

// Chunk sizes from a xorshift generator seeded by the input, mostly tiny so
// headers split at every offset, sometimes empty, sometimes large.
class ChunkSizes {
 public:
  explicit ChunkSizes(std::uint8_t seed) noexcept : state_{0x9e3779b9u ^ seed} {}

  std::size_t next() noexcept {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return (state_ & 3) == 0 ? state_ % 4096 : state_ % 8;
  }

 private:
  std::uint32_t state_;
};

Headers scan(Bytes stream, std::optional<std::uint8_t> split_seed) {
  Headers result;
  protocol::FrameScanner scanner{kMaxBody};
  auto on_header = [&](const FrameHeader& header) { result.headers.push_back(header); };
  if (!split_seed) {
    result.error = scanner.scan(stream, on_header);
  } else {
    ChunkSizes sizes{*split_seed};
    while (!result.error && !stream.empty()) {
      const auto chunk = stream.first(std::min(sizes.next(), stream.size()));
      result.error = scanner.scan(chunk, on_header);
      stream = stream.subspan(chunk.size());
    }
  }
  result.at_boundary = scanner.at_boundary();
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto stream = protocol::fuzz::input_bytes(data, size).subspan(1);
  const auto reference = walk(stream);
  require(same(scan(stream, std::nullopt), reference), "FrameScanner fed at once disagrees with peek_frame");
  require(same(scan(stream, data[0]), reference), "FrameScanner fed in chunks disagrees with one feed");
  return 0;
}
