// libFuzzer target: decode_startup_packet round trip over the whole input.

#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "protocol/startup.h"
#include "tests/fuzz/round_trip.h"

namespace protocol = pgdual::protocol;

namespace {

std::vector<std::byte> encoded_packet(const protocol::StartupPacket& packet) {
  return std::visit([](const auto& message) { return protocol::fuzz::encoded(message); }, packet);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using protocol::fuzz::require;
  const auto first = protocol::decode_startup_packet(protocol::fuzz::input_bytes(data, size));
  if (!first) return 0;
  require(first->consumed <= size, "decoder consumed more than its input");
  const auto once = encoded_packet(first->packet);
  const auto second = protocol::decode_startup_packet(once);
  require(second.has_value(), "re-encoded packet does not decode");
  require(second->consumed == once.size(), "re-encoded packet is not exactly one packet");
  require(second->packet.index() == first->packet.index(), "re-encoded packet decodes as another kind");
  require(encoded_packet(second->packet) == once, "second encoding differs from the first");
  return 0;
}
