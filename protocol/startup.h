#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"
#include "protocol/writer.h"

namespace pgdual::protocol {

/// Startup-phase packets have no tag byte: Int32 length, Int32 code, body.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html

/// Protocol 3.0 (196608 = 3 << 16).
inline constexpr std::int32_t kProtocolVersion3 = 196608;
inline constexpr std::int32_t kSslRequestCode = 80877103;     ///< 1234 << 16 | 5679
inline constexpr std::int32_t kGssEncRequestCode = 80877104;  ///< 1234 << 16 | 5680
inline constexpr std::int32_t kCancelRequestCode = 80877102;  ///< 1234 << 16 | 5678
/// PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
inline constexpr std::uint32_t kMaxStartupPacketLength = 10'000;

/// StartupMessage: the protocol version, then name/value pairs ended by a NUL.
struct StartupMessage {
  std::int32_t protocol_version = kProtocolVersion3;
  std::vector<std::pair<std::string_view, std::string_view>> parameters;

  /// The value of `name`, or empty when absent.
  [[nodiscard]] std::string_view parameter(std::string_view name) const noexcept;
};

struct SSLRequest {};
struct GSSENCRequest {};

/// CancelRequest: the BackendKeyData of the session whose query to cancel.
struct CancelRequest {
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};

using StartupPacket = std::variant<StartupMessage, SSLRequest, GSSENCRequest, CancelRequest>;

struct DecodedStartup {
  std::size_t consumed;
  StartupPacket packet;
};

/// Decodes the first startup-phase packet at the start of `input`. Strings in
/// the result borrow from `input`.
///
/// @retval DecodedStartup                    a complete packet; `consumed` bytes belong to it
/// @retval CodecError::need_more_input       `input` ends inside the packet
/// @retval CodecError::bad_length            length below 8, above `max_length`, or wrong for the code
/// @retval CodecError::unsupported_protocol  a StartupMessage for a major version other than 3
/// @retval CodecError::missing_terminator, truncated, trailing_bytes  malformed parameter list
[[nodiscard]] Expected<DecodedStartup> decode_startup_packet(
    Bytes input, std::uint32_t max_length = kMaxStartupPacketLength) noexcept;

void encode(const StartupMessage& message, Writer& out);
void encode(const SSLRequest& message, Writer& out);
void encode(const GSSENCRequest& message, Writer& out);
void encode(const CancelRequest& message, Writer& out);

}  // namespace pgdual::protocol
