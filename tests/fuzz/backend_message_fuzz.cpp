// libFuzzer target: decode_backend_message round trip. The first input byte is
// the tag, the rest the body.

#include <cstddef>
#include <cstdint>

#include "protocol/backend_messages.h"
#include "tests/fuzz/round_trip.h"

namespace protocol = pgdual::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto input = protocol::fuzz::input_bytes(data, size);
  protocol::fuzz::check_tagged_round_trip(static_cast<char>(data[0]), input.subspan(1),
                                          [](char tag, protocol::Bytes body) {
                                            return protocol::decode_backend_message(protocol::Frame{tag, body});
                                          });
  return 0;
}
