#include "protocol/writer.h"

#include <cassert>

namespace pgdual::protocol {

void Writer::begin(char tag) {
  out_.push_back(static_cast<std::byte>(tag));
  begin_untagged();
}

void Writer::begin_untagged() {
  length_offset_ = out_.size();
  int32(0);
}

void Writer::finish() {
  // The length counts itself but not the tag (protocol-overview.html).
  assert(out_.size() >= length_offset_ + 4);
  const auto length = static_cast<std::uint32_t>(out_.size() - length_offset_);
  for (std::size_t i = 0; i < 4; ++i) {
    out_[length_offset_ + i] = static_cast<std::byte>(length >> (24U - 8U * i));
  }
}

void Writer::uint8(std::uint8_t value) { out_.push_back(static_cast<std::byte>(value)); }

void Writer::int16(std::int16_t value) {
  const auto bits = static_cast<std::uint16_t>(value);
  out_.push_back(static_cast<std::byte>(bits >> 8U));
  out_.push_back(static_cast<std::byte>(bits));
}

void Writer::int32(std::int32_t value) {
  const auto bits = static_cast<std::uint32_t>(value);
  for (unsigned shift = 24;; shift -= 8) {
    out_.push_back(static_cast<std::byte>(bits >> shift));
    if (shift == 0) break;
  }
}

void Writer::int64(std::int64_t value) {
  const auto bits = static_cast<std::uint64_t>(value);
  for (unsigned shift = 56;; shift -= 8) {
    out_.push_back(static_cast<std::byte>(bits >> shift));
    if (shift == 0) break;
  }
}

void Writer::cstring(std::string_view text) {
  bytes(text);
  out_.push_back(std::byte{0});
}

void Writer::bytes(Bytes data) { out_.insert(out_.end(), data.begin(), data.end()); }

void append_frame(const Frame& frame, std::vector<std::byte>& out) {
  Writer writer{out};
  writer.begin(frame.tag);
  writer.bytes(frame.body);
  writer.finish();
}

}  // namespace pgdual::protocol
