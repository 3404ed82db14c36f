#include "protocol/frame.h"

#include "protocol/reader.h"

namespace pgdual::protocol {

Expected<FrameHeader> peek_header(Bytes input, std::uint32_t max_body_length) noexcept {
  if (input.size() < kFrameHeaderSize) return unexpected{CodecError::need_more_input};
  Reader in{input.first(kFrameHeaderSize)};
  const auto tag = static_cast<char>(in.uint8());
  const auto length = static_cast<std::uint32_t>(in.int32());
  if (length < 4) return unexpected{CodecError::bad_length};
  if (length - 4 > max_body_length) return unexpected{CodecError::message_too_large};
  return FrameHeader{tag, length - 4};
}

Expected<Frame> peek_frame(Bytes input, std::uint32_t max_body_length) noexcept {
  auto header = peek_header(input, max_body_length);
  if (!header) return unexpected{header.error()};
  if (input.size() < header->wire_size()) return unexpected{CodecError::need_more_input};
  return Frame{header->tag, input.subspan(kFrameHeaderSize, header->body_length)};
}

std::vector<Frame> split_frames(Bytes wire, std::uint32_t max_body_length) {
  std::vector<Frame> frames;
  while (!wire.empty()) {
    const auto frame = peek_frame(wire, max_body_length);
    if (!frame) break;
    frames.push_back(*frame);
    wire = wire.subspan(frame->wire_size());
  }
  return frames;
}

}  // namespace pgdual::protocol
