#include "protocol/startup.h"

#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::encoded;
using pgdual::protocol::test::to_hex;

namespace {

const auto kStartup = bytes_from_hex(
    "00000022 00030000"
    "'user' 00 'alice' 00"
    "'database' 00 'shop' 00"
    "00");

}  // namespace

TEST_CASE("StartupMessage decodes its version and parameters", "[unit][protocol]") {
  const auto decoded = decode_startup_packet(kStartup);
  REQUIRE(decoded);
  CHECK(decoded->consumed == kStartup.size());
  const auto* startup = std::get_if<StartupMessage>(&decoded->packet);
  REQUIRE(startup);
  CHECK(startup->protocol_version == kProtocolVersion3);
  REQUIRE(startup->parameters.size() == 2);
  CHECK(startup->parameter("user") == "alice");
  CHECK(startup->parameter("database") == "shop");
  CHECK(startup->parameter("options").empty());
  CHECK(to_hex(encoded(*startup)) == to_hex(kStartup));
}

TEST_CASE("A startup packet consumes only its own bytes", "[unit][protocol]") {
  auto input = kStartup;
  input.push_back(std::byte{'Q'});
  const auto decoded = decode_startup_packet(input);
  REQUIRE(decoded);
  CHECK(decoded->consumed == kStartup.size());
}

TEST_CASE("StartupMessage accepts a newer minor version for negotiation", "[unit][protocol]") {
  const auto packet = bytes_from_hex("00000009 00030002 00");
  const auto decoded = decode_startup_packet(packet);
  REQUIRE(decoded);
  CHECK(std::get<StartupMessage>(decoded->packet).protocol_version == 0x00030002);
}

TEST_CASE("The request codes decode to SSLRequest, GSSENCRequest and CancelRequest", "[unit][protocol]") {
  SECTION("SSLRequest") {
    const auto packet = bytes_from_hex("00000008 04d2162f");
    const auto decoded = decode_startup_packet(packet);
    REQUIRE(decoded);
    CHECK(std::holds_alternative<SSLRequest>(decoded->packet));
    CHECK(to_hex(encoded(SSLRequest{})) == to_hex(packet));
  }
  SECTION("GSSENCRequest") {
    const auto packet = bytes_from_hex("00000008 04d21630");
    const auto decoded = decode_startup_packet(packet);
    REQUIRE(decoded);
    CHECK(std::holds_alternative<GSSENCRequest>(decoded->packet));
    CHECK(to_hex(encoded(GSSENCRequest{})) == to_hex(packet));
  }
  SECTION("CancelRequest") {
    const auto packet = bytes_from_hex("00000010 04d2162e 00001234 cafebabe");
    const auto decoded = decode_startup_packet(packet);
    REQUIRE(decoded);
    const auto& cancel = std::get<CancelRequest>(decoded->packet);
    CHECK(cancel.process_id == 0x1234);
    CHECK(cancel.secret_key == static_cast<std::int32_t>(0xcafebabeU));
    CHECK(to_hex(encoded(cancel)) == to_hex(packet));
  }
}

TEST_CASE("decode_startup_packet asks for more input until the packet is complete", "[unit][protocol]") {
  for (std::size_t size = 0; size < kStartup.size(); ++size) {
    CAPTURE(size);
    CHECK(decode_startup_packet(Bytes{kStartup}.first(size)).error() == CodecError::need_more_input);
  }
}

TEST_CASE("decode_startup_packet rejects malformed packets", "[unit][protocol]") {
  struct Row {
    const char* name;
    const char* hex;
    CodecError error;
  };
  const auto row = GENERATE(values<Row>({
      {"length below the version field", "00000007 000300", CodecError::bad_length},
      {"length above the limit", "00002711", CodecError::bad_length},
      {"SSLRequest with a body", "00000009 04d2162f 00", CodecError::bad_length},
      {"CancelRequest without its key", "0000000c 04d2162e 00001234", CodecError::bad_length},
      {"CancelRequest with extra bytes", "00000011 04d2162e 00001234 cafebabe 00", CodecError::bad_length},
      {"protocol 2.0", "00000009 00020000 00", CodecError::unsupported_protocol},
      {"an unknown request code", "00000008 04d21631", CodecError::unsupported_protocol},
      {"no final terminator", "00000011 00030000 'user' 00 'bob' 00", CodecError::missing_terminator},
      {"a name without terminator", "0000000c 00030000 'user'", CodecError::missing_terminator},
      {"bytes after the final terminator", "0000000a 00030000 00 00", CodecError::trailing_bytes},
  }));
  CAPTURE(row.name);
  CHECK(decode_startup_packet(bytes_from_hex(row.hex)).error() == row.error);
}

TEST_CASE("decode_startup_packet takes its length limit from the caller", "[unit][protocol]") {
  CHECK(decode_startup_packet(kStartup, 33).error() == CodecError::bad_length);
  CHECK(decode_startup_packet(kStartup, 34));
}
