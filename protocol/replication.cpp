#include "protocol/replication.h"

#include "protocol/decode_helpers.h"
#include "protocol/reader.h"

namespace pgdual::protocol {
namespace {

using detail::finished;

constexpr std::size_t kMaxLsnHalfDigits = 8;

// Reads the type byte and fails the reader unless it is `tag`.
void expect_tag(Reader& in, char tag) noexcept {
  if (static_cast<char>(in.uint8()) != tag && in.ok()) in.fail(CodecError::unknown_tag);
}

XLogRecPtr lsn(Reader& in) noexcept { return static_cast<XLogRecPtr>(in.int64()); }

// PostgreSQL's walsender and walreceiver write 0 or 1; anything else is not a
// message they sent, and accepting it would not encode back to the same bytes.
bool reply_requested(Reader& in) noexcept {
  const auto value = in.uint8();
  if (value > 1) in.fail(CodecError::unexpected_value);
  return value == 1;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One half of an LSN: 1 to 8 hex digits.
bool parse_half(std::string_view text, std::uint32_t& value) noexcept {
  if (text.empty() || text.size() > kMaxLsnHalfDigits) return false;
  value = 0;
  for (const char c : text) {
    const int digit = hex_digit(c);
    if (digit < 0) return false;
    value = value << 4U | static_cast<std::uint32_t>(digit);
  }
  return true;
}

void append_hex(std::string& out, std::uint32_t value) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  char digits[kMaxLsnHalfDigits];
  std::size_t count = 0;
  do {
    digits[count++] = kDigits[value & 0xfU];
    value >>= 4U;
  } while (value != 0);
  while (count > 0) out.push_back(digits[--count]);
}

template <class Message>
Expected<ReplicationMessage> as_replication_message(Expected<Message> decoded) noexcept {
  if (!decoded) return unexpected{decoded.error()};
  return ReplicationMessage{*decoded};
}

}  // namespace

std::string format_lsn(XLogRecPtr lsn) {
  std::string out;
  append_hex(out, static_cast<std::uint32_t>(lsn >> 32U));
  out.push_back('/');
  append_hex(out, static_cast<std::uint32_t>(lsn));
  return out;
}

Expected<XLogRecPtr> parse_lsn(std::string_view text) noexcept {
  const auto slash = text.find('/');
  std::uint32_t high = 0;
  std::uint32_t low = 0;
  if (slash == std::string_view::npos || !parse_half(text.substr(0, slash), high) ||
      !parse_half(text.substr(slash + 1), low)) {
    return unexpected{CodecError::unexpected_value};
  }
  return XLogRecPtr{high} << 32U | low;
}

Expected<XLogData> decode_xlog_data(Bytes payload) noexcept {
  Reader in{payload};
  expect_tag(in, replication_tag::kXLogData);
  XLogData message;
  message.wal_start = lsn(in);
  message.wal_end = lsn(in);
  message.send_time = in.int64();
  message.data = in.rest();
  return finished(in, message);
}

Expected<PrimaryKeepalive> decode_primary_keepalive(Bytes payload) noexcept {
  Reader in{payload};
  expect_tag(in, replication_tag::kPrimaryKeepalive);
  PrimaryKeepalive message;
  message.wal_end = lsn(in);
  message.send_time = in.int64();
  message.reply_requested = reply_requested(in);
  return finished(in, message);
}

Expected<StandbyStatusUpdate> decode_standby_status_update(Bytes payload) noexcept {
  Reader in{payload};
  expect_tag(in, replication_tag::kStandbyStatusUpdate);
  StandbyStatusUpdate message;
  message.written = lsn(in);
  message.flushed = lsn(in);
  message.applied = lsn(in);
  message.send_time = in.int64();
  message.reply_requested = reply_requested(in);
  return finished(in, message);
}

void encode(const XLogData& message, Writer& out) {
  out.uint8(replication_tag::kXLogData);
  out.int64(static_cast<std::int64_t>(message.wal_start));
  out.int64(static_cast<std::int64_t>(message.wal_end));
  out.int64(message.send_time);
  out.bytes(message.data);
}

void encode(const PrimaryKeepalive& message, Writer& out) {
  out.uint8(replication_tag::kPrimaryKeepalive);
  out.int64(static_cast<std::int64_t>(message.wal_end));
  out.int64(message.send_time);
  out.uint8(message.reply_requested ? 1 : 0);
}

void encode(const StandbyStatusUpdate& message, Writer& out) {
  out.uint8(replication_tag::kStandbyStatusUpdate);
  out.int64(static_cast<std::int64_t>(message.written));
  out.int64(static_cast<std::int64_t>(message.flushed));
  out.int64(static_cast<std::int64_t>(message.applied));
  out.int64(message.send_time);
  out.uint8(message.reply_requested ? 1 : 0);
}

Expected<ReplicationMessage> decode_replication_message(Bytes payload) noexcept {
  if (payload.empty()) return unexpected{CodecError::unknown_tag};
  switch (std::to_integer<char>(payload[0])) {
    case replication_tag::kXLogData: return as_replication_message(decode_xlog_data(payload));
    case replication_tag::kPrimaryKeepalive: return as_replication_message(decode_primary_keepalive(payload));
    default: return unexpected{CodecError::unknown_tag};
  }
}

void encode(const ReplicationMessage& message, Writer& out) {
  std::visit([&out](const auto& each) { encode(each, out); }, message);
}

}  // namespace pgdual::protocol
