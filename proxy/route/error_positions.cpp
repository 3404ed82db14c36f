#include "proxy/route/error_positions.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "protocol/error_response.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

constexpr char kPosition = 'P';

bool carries_position(char tag) {
  return tag == protocol::backend_tag::kErrorResponse || tag == protocol::backend_tag::kNoticeResponse;
}

std::uint32_t read_length(const std::vector<std::byte>& header) {
  std::uint32_t length = 0;
  for (std::size_t i = 1; i < 5; ++i) length = (length << 8) | std::to_integer<std::uint32_t>(header[i]);
  return length;
}

}  // namespace

void ErrorPositionShift::start(std::uint32_t characters) noexcept {
  characters_ = characters;
  header_.clear();
  body_left_ = 0;
  holding_ = false;
  held_.clear();
}

void ErrorPositionShift::filter(protocol::Bytes chunk, std::vector<std::byte>& out) {
  while (!chunk.empty()) {
    if (header_.size() < kHeaderSize) {
      chunk = take_header(chunk, out);
      continue;
    }
    const auto taken = std::min(body_left_, chunk.size());
    auto& to = holding_ ? held_ : out;
    to.insert(to.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(taken));
    body_left_ -= taken;
    chunk = chunk.subspan(taken);
    if (body_left_ == 0) {
      if (holding_) release_held(out);
      header_.clear();
    }
  }
}

// The length field counts itself: the body is length - 4 bytes. A length below 4 cannot come from
// a server that passed the relay's frame scanner, which checks every length first.
protocol::Bytes ErrorPositionShift::take_header(protocol::Bytes chunk, std::vector<std::byte>& out) {
  const auto taken = std::min(kHeaderSize - header_.size(), chunk.size());
  header_.insert(header_.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(taken));
  chunk = chunk.subspan(taken);
  if (header_.size() < kHeaderSize) return chunk;
  const auto length = read_length(header_);
  body_left_ = length >= 4 ? length - 4 : 0;
  holding_ = characters_ > 0 && carries_position(static_cast<char>(header_.front()));
  auto& to = holding_ ? held_ : out;
  to.insert(to.end(), header_.begin(), header_.end());
  if (body_left_ == 0) {
    if (holding_) release_held(out);
    header_.clear();
  }
  return chunk;
}

void ErrorPositionShift::release_held(std::vector<std::byte>& out) {
  const auto body = shift_error_position(protocol::Bytes{held_}.subspan(kHeaderSize), characters_);
  protocol::append_frame(protocol::Frame{.tag = static_cast<char>(held_.front()), .body = body}, out);
  held_.clear();
  holding_ = false;
}

std::vector<std::byte> shift_error_position(protocol::Bytes body, std::uint32_t characters) {
  const std::vector<std::byte> unchanged(body.begin(), body.end());
  auto fields = protocol::decode_error_response(body);
  if (!fields) return unchanged;
  bool moved = false;
  std::string position;
  for (auto& field : fields->fields) {
    if (field.code != kPosition) continue;
    std::uint32_t value = 0;
    const auto text = field.value;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value <= characters) return unchanged;
    position = std::to_string(value - characters);
    field.value = position;
    moved = true;
  }
  if (!moved) return unchanged;
  std::vector<std::byte> message;
  protocol::Writer writer{message};
  protocol::encode(*fields, writer);
  return {message.begin() + 5, message.end()};
}

}  // namespace pgdual::proxy
