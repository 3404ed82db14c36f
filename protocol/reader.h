#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"

namespace pgdual::protocol {

/// A bounds-checked cursor over one message body, reading big-endian fields.
///
/// The first failure is remembered and every later read returns a zero value,
/// so a decoder reads all its fields and checks `finish()` once.
class Reader {
 public:
  explicit Reader(Bytes body) noexcept : body_{body} {}

  std::uint8_t uint8() noexcept;
  std::int16_t int16() noexcept;
  std::int32_t int32() noexcept;
  /// Int64: LSNs and timestamps of the replication protocol.
  std::int64_t int64() noexcept;
  /// A NUL-terminated string, without its terminator.
  std::string_view cstring() noexcept;
  /// `count` raw bytes.
  Bytes bytes(std::size_t count) noexcept;
  /// Everything not read yet.
  Bytes rest() noexcept;
  /// An Int16 count, read unsigned as PostgreSQL does (pq_getmsgint): Parse
  /// and Bind may carry up to 65535 parameters (PQ_QUERY_PARAM_MAX_LIMIT).
  std::uint16_t count16() noexcept;

  [[nodiscard]] bool at_end() const noexcept { return offset_ == body_.size(); }
  [[nodiscard]] std::size_t remaining() const noexcept { return body_.size() - offset_; }
  /// Marks the body as malformed, for checks only the caller can make.
  void fail(CodecError error) noexcept;
  [[nodiscard]] bool ok() const noexcept { return !error_; }

  /// The first error, or trailing_bytes if the body was not read to its end.
  [[nodiscard]] std::optional<CodecError> finish() const noexcept;

 private:
  bool take(std::size_t count) noexcept;

  Bytes body_;
  std::size_t offset_ = 0;
  std::optional<CodecError> error_;
};

}  // namespace pgdual::protocol
