// libFuzzer target: the logical replication codec's round trip, for pgoutput's
// messages (pgoutput.h) and the replication messages around them in CopyData
// (replication.h). The first input byte chooses, the rest is the message:
//   bit 0  decode as inside a streamed transaction (the xid fields)
//   bit 1  decode as a CopyData payload (XLogData, keepalive, status update)

#include <cstddef>
#include <cstdint>

#include "protocol/pgoutput.h"
#include "protocol/replication.h"
#include "tests/fuzz/round_trip.h"

namespace protocol = pgdual::protocol;

namespace {

constexpr std::uint8_t kInStreamedTransaction = 1U << 0U;
constexpr std::uint8_t kCopyDataPayload = 1U << 1U;

void check_copy_data_payload(protocol::Bytes payload) {
  if (!payload.empty() && std::to_integer<char>(payload[0]) == protocol::replication_tag::kStandbyStatusUpdate) {
    protocol::fuzz::check_exact_round_trip(payload, protocol::decode_standby_status_update);
    return;
  }
  protocol::fuzz::check_exact_round_trip(payload, protocol::decode_replication_message);
  // An XLogData's data is a logical replication message: try it as one too.
  if (const auto message = protocol::decode_xlog_data(payload)) {
    protocol::fuzz::check_exact_round_trip(
        message->data, [](protocol::Bytes data) { return protocol::logicalrep::decode(data, {}); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto selector = data[0];
  const auto message = protocol::fuzz::input_bytes(data, size).subspan(1);
  if ((selector & kCopyDataPayload) != 0) {
    check_copy_data_payload(message);
    return 0;
  }
  const protocol::logicalrep::DecodeState state{(selector & kInStreamedTransaction) != 0};
  protocol::fuzz::check_exact_round_trip(
      message, [state](protocol::Bytes bytes) { return protocol::logicalrep::decode(bytes, state); });
  return 0;
}
