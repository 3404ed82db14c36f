#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"

namespace pgdual::protocol {

/// Size of a tagged message's header: Byte1 tag, Int32 length.
inline constexpr std::size_t kFrameHeaderSize = 5;

/// PostgreSQL's own limit for most messages (PQ_LARGE_MESSAGE_LIMIT is 1 GB - 1).
inline constexpr std::uint32_t kDefaultMaxMessageBody = 0x3fffffff;

/// The header of one tagged message.
/// https://www.postgresql.org/docs/15/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS
struct FrameHeader {
  char tag;
  std::uint32_t body_length;  ///< the length field minus its own four bytes

  [[nodiscard]] std::size_t wire_size() const noexcept { return kFrameHeaderSize + body_length; }
};

/// One complete tagged message, borrowed from the caller's buffer.
struct Frame {
  char tag;
  Bytes body;  ///< valid only while the input buffer is

  [[nodiscard]] std::size_t wire_size() const noexcept { return kFrameHeaderSize + body.size(); }
};

/// Reads the header of the next message at the start of `input`.
///
/// @retval FrameHeader                  the five header bytes are present and valid
/// @retval CodecError::need_more_input  fewer than five bytes
/// @retval CodecError::bad_length       length field below 4
/// @retval CodecError::message_too_large  body longer than `max_body_length`
[[nodiscard]] Expected<FrameHeader> peek_header(Bytes input, std::uint32_t max_body_length) noexcept;

/// Finds the next complete message at the start of `input`, without copying.
///
/// @retval Frame                        a complete message is available
/// @retval CodecError::need_more_input  `input` ends inside the message; nothing is consumed
/// @retval CodecError::bad_length, CodecError::message_too_large  as peek_header
[[nodiscard]] Expected<Frame> peek_frame(Bytes input, std::uint32_t max_body_length) noexcept;

/// The complete messages `wire` starts with, in order, up to the first one
/// that is incomplete or malformed (peek_frame's limits apply to each).
[[nodiscard]] std::vector<Frame> split_frames(Bytes wire,
                                              std::uint32_t max_body_length = kDefaultMaxMessageBody);

}  // namespace pgdual::protocol
