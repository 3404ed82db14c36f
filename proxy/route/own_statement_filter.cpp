#include "proxy/route/own_statement_filter.h"

#include <algorithm>

#include "protocol/message_tags.h"

namespace pgdual::proxy {

void OwnStatementFilter::filter(protocol::Bytes chunk, std::vector<std::byte>& out) {
  while (active_ && !chunk.empty()) chunk = take(chunk, out);
  out.insert(out.end(), chunk.begin(), chunk.end());
}

// The length field counts itself: the body is length - 4 bytes. A length below 4 cannot come from
// a server that passed the relay's frame scanner, which checks every length first.
protocol::Bytes OwnStatementFilter::take(protocol::Bytes chunk, std::vector<std::byte>& out) {
  namespace tags = protocol::backend_tag;
  if (header_seen_ == 0) {
    tag_ = static_cast<char>(chunk.front());
    keep_ = tag_ == tags::kNotificationResponse || tag_ == tags::kParameterStatus;
  }
  while (header_seen_ < kHeaderSize && !chunk.empty()) {
    if (header_seen_ > 0) length_ = (length_ << 8) | std::to_integer<std::uint32_t>(chunk.front());
    if (keep_) out.push_back(chunk.front());
    ++header_seen_;
    chunk = chunk.subspan(1);
    if (header_seen_ == kHeaderSize) body_left_ = length_ >= 4 ? length_ - 4 : 0;
  }
  if (header_seen_ < kHeaderSize) return chunk;
  const auto taken = std::min(body_left_, chunk.size());
  if (keep_) out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(taken));
  body_left_ -= taken;
  chunk = chunk.subspan(taken);
  if (body_left_ == 0) {
    if (tag_ == tags::kReadyForQuery) active_ = false;
    header_seen_ = 0;
    length_ = 0;
  }
  return chunk;
}

}  // namespace pgdual::proxy
