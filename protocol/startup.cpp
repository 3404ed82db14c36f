#include "protocol/startup.h"

#include "protocol/reader.h"

namespace pgdual::protocol {
namespace {

Expected<StartupMessage> decode_startup_message(std::int32_t version, Reader& in) {
  // Minor versions are negotiated (NegotiateProtocolVersion); only the major must match.
  if ((version >> 16) != 3) return unexpected{CodecError::unsupported_protocol};
  StartupMessage message{version, {}};
  for (;;) {
    auto name = in.cstring();
    if (!in.ok() || name.empty()) break;
    auto value = in.cstring();
    message.parameters.emplace_back(name, value);
  }
  if (auto error = in.finish()) return unexpected{*error};
  return message;
}

Expected<StartupPacket> decode_body(std::int32_t code, Reader& in) {
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (!in.at_end()) return unexpected{CodecError::bad_length};
      if (code == kSslRequestCode) return SSLRequest{};
      return GSSENCRequest{};
    case kCancelRequestCode: {
      CancelRequest request;
      request.process_id = in.int32();
      request.secret_key = in.int32();
      if (in.finish()) return unexpected{CodecError::bad_length};
      return request;
    }
    default: {
      auto message = decode_startup_message(code, in);
      if (!message) return unexpected{message.error()};
      return std::move(*message);
    }
  }
}

}  // namespace

std::string_view StartupMessage::parameter(std::string_view name) const noexcept {
  for (const auto& [key, value] : parameters) {
    if (key == name) return value;
  }
  return {};
}

Expected<DecodedStartup> decode_startup_packet(Bytes input, std::uint32_t max_length) noexcept {
  if (input.size() < 4) return unexpected{CodecError::need_more_input};
  Reader header{input.first(4)};
  const auto length = static_cast<std::uint32_t>(header.int32());
  if (length < 8 || length > max_length) return unexpected{CodecError::bad_length};
  if (input.size() < length) return unexpected{CodecError::need_more_input};
  Reader in{input.subspan(4, length - 4)};
  const auto code = in.int32();
  auto packet = decode_body(code, in);
  if (!packet) return unexpected{packet.error()};
  return DecodedStartup{length, std::move(*packet)};
}

void encode(const StartupMessage& message, Writer& out) {
  out.begin_untagged();
  out.int32(message.protocol_version);
  for (const auto& [name, value] : message.parameters) {
    out.cstring(name);
    out.cstring(value);
  }
  out.uint8(0);
  out.finish();
}

void encode(const SSLRequest&, Writer& out) {
  out.begin_untagged();
  out.int32(kSslRequestCode);
  out.finish();
}

void encode(const GSSENCRequest&, Writer& out) {
  out.begin_untagged();
  out.int32(kGssEncRequestCode);
  out.finish();
}

void encode(const CancelRequest& message, Writer& out) {
  out.begin_untagged();
  out.int32(kCancelRequestCode);
  out.int32(message.process_id);
  out.int32(message.secret_key);
  out.finish();
}

}  // namespace pgdual::protocol
