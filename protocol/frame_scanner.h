#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocol/codec_error.h"
#include "protocol/frame.h"

namespace pgdual::protocol {

/// Follows message boundaries in a byte stream that arrives in arbitrary
/// chunks, without buffering message bodies.
///
/// A relay forwards bytes as they arrive, so a multi-gigabyte result never
/// sits in memory; it still needs to know where each message starts, to see
/// its tag. The scanner keeps only a partial header (at most five bytes) and
/// the count of body bytes still to come.
class FrameScanner {
 public:
  explicit FrameScanner(std::uint32_t max_body_length) noexcept : max_body_length_{max_body_length} {}

  /// Calls `on_header(const FrameHeader&)` for each header completed in
  /// `chunk`, in order.
  ///
  /// @retval std::nullopt                  the chunk was consumed
  /// @retval CodecError::bad_length, message_too_large  a header is invalid; the
  ///         scanner is then out of sync and must not be fed again
  template <class OnHeader>
  std::optional<CodecError> scan(Bytes chunk, OnHeader&& on_header) {
    return scan(chunk, on_header, [](Bytes) {});
  }

  /// As scan() above, and also calls `on_body(Bytes part)` with the body bytes
  /// of the message whose header came last, piece by piece as they arrive: for
  /// a relay that inspects a few messages without ever holding a whole one.
  template <class OnHeader, class OnBody>
  std::optional<CodecError> scan(Bytes chunk, OnHeader&& on_header, OnBody&& on_body) {
    while (!chunk.empty()) {
      if (body_remaining_ > 0) {
        const auto taken = std::min<std::size_t>(body_remaining_, chunk.size());
        body_remaining_ -= taken;
        on_body(chunk.first(taken));
        chunk = chunk.subspan(taken);
        continue;
      }
      const auto taken = std::min(kFrameHeaderSize - header_filled_, chunk.size());
      std::copy_n(chunk.begin(), taken, header_.begin() + static_cast<std::ptrdiff_t>(header_filled_));
      header_filled_ += taken;
      chunk = chunk.subspan(taken);
      if (header_filled_ < kFrameHeaderSize) break;
      header_filled_ = 0;
      auto header = peek_header(Bytes{header_}, max_body_length_);
      if (!header) return static_cast<CodecError>(header.error().value());
      body_remaining_ = header->body_length;
      on_header(*header);
    }
    return std::nullopt;
  }

  /// True between messages: no partial header or body is pending.
  [[nodiscard]] bool at_boundary() const noexcept { return header_filled_ == 0 && body_remaining_ == 0; }

 private:
  std::uint32_t max_body_length_;
  std::array<std::byte, kFrameHeaderSize> header_{};
  std::size_t header_filled_ = 0;
  std::size_t body_remaining_ = 0;
};

}  // namespace pgdual::protocol
