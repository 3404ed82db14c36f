#include "protocol/reader.h"

#include <cstring>

namespace pgdual::protocol {

bool Reader::take(std::size_t count) noexcept {
  if (error_) return false;
  if (count > remaining()) {
    error_ = CodecError::truncated;
    return false;
  }
  return true;
}

void Reader::fail(CodecError error) noexcept {
  if (!error_) error_ = error;
}

std::uint8_t Reader::uint8() noexcept {
  if (!take(1)) return 0;
  return std::to_integer<std::uint8_t>(body_[offset_++]);
}

std::int16_t Reader::int16() noexcept {
  if (!take(2)) return 0;
  auto high = std::to_integer<std::uint16_t>(body_[offset_]);
  auto low = std::to_integer<std::uint16_t>(body_[offset_ + 1]);
  offset_ += 2;
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(high << 8U | low));
}

std::int32_t Reader::int32() noexcept {
  if (!take(4)) return 0;
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = value << 8U | std::to_integer<std::uint32_t>(body_[offset_ + i]);
  }
  offset_ += 4;
  return static_cast<std::int32_t>(value);
}

std::int64_t Reader::int64() noexcept {
  if (!take(8)) return 0;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    value = value << 8U | std::to_integer<std::uint64_t>(body_[offset_ + i]);
  }
  offset_ += 8;
  return static_cast<std::int64_t>(value);
}

std::string_view Reader::cstring() noexcept {
  if (error_) return {};
  const auto text = as_text(body_.subspan(offset_));
  const auto end = text.find('\0');
  if (end == std::string_view::npos) {
    error_ = CodecError::missing_terminator;
    return {};
  }
  offset_ += end + 1;
  return text.substr(0, end);
}

Bytes Reader::bytes(std::size_t count) noexcept {
  if (!take(count)) return {};
  auto view = body_.subspan(offset_, count);
  offset_ += count;
  return view;
}

Bytes Reader::rest() noexcept {
  if (error_) return {};
  auto view = body_.subspan(offset_);
  offset_ = body_.size();
  return view;
}

std::uint16_t Reader::count16() noexcept { return static_cast<std::uint16_t>(int16()); }

std::optional<CodecError> Reader::finish() const noexcept {
  if (error_) return error_;
  if (!at_end()) return CodecError::trailing_bytes;
  return std::nullopt;
}

}  // namespace pgdual::protocol
