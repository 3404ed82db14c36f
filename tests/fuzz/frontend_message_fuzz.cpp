// libFuzzer target: decode_frontend_message round trip. The first input byte
// is the tag, the rest the body. A 'p' body goes through each of the three
// authentication answers' decoders instead, since decode_frontend_message
// rejects 'p' (its meaning depends on the request it answers).

#include <cstddef>
#include <cstdint>

#include "protocol/authentication.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "tests/fuzz/round_trip.h"

namespace protocol = pgdual::protocol;

namespace {

void check_authentication_answers(protocol::Bytes body) {
  using protocol::Bytes;
  protocol::fuzz::check_tagged_round_trip(
      protocol::frontend_tag::kPasswordMessage, body,
      [](char, Bytes answer) { return protocol::decode_password_message(answer); });
  protocol::fuzz::check_tagged_round_trip(
      protocol::frontend_tag::kSASLInitialResponse, body,
      [](char, Bytes answer) { return protocol::decode_sasl_initial_response(answer); });
  protocol::fuzz::check_tagged_round_trip(
      protocol::frontend_tag::kSASLResponse, body,
      [](char, Bytes answer) { return protocol::decode_sasl_response(answer); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto input = protocol::fuzz::input_bytes(data, size);
  const auto tag = static_cast<char>(data[0]);
  if (tag == protocol::frontend_tag::kPasswordMessage) {
    check_authentication_answers(input.subspan(1));
    return 0;
  }
  protocol::fuzz::check_tagged_round_trip(tag, input.subspan(1), [](char frame_tag, protocol::Bytes body) {
    return protocol::decode_frontend_message(protocol::Frame{frame_tag, body});
  });
  return 0;
}
