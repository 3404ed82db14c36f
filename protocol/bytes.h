#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace pgdual::protocol {

using Bytes = std::span<const std::byte>;

/// Views text as the bytes that carry it on the wire, and back. Both are free:
/// the wire format is bytes, while most fields are text.
[[nodiscard]] inline Bytes as_bytes(std::string_view text) noexcept {
  return std::as_bytes(std::span{text.data(), text.size()});
}

[[nodiscard]] inline std::string_view as_text(Bytes bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace pgdual::protocol
