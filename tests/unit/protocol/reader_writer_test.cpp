#include "protocol/reader.h"
#include "protocol/writer.h"

#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::to_hex;

TEST_CASE("Reader reads big-endian fields in order", "[unit][protocol]") {
  const auto body = bytes_from_hex("7f fffe 80000001 'ab' 00 'xyz' 0102");
  Reader in{body};
  CHECK(in.uint8() == 0x7f);
  CHECK(in.int16() == -2);
  CHECK(in.int32() == static_cast<std::int32_t>(0x80000001U));
  CHECK(in.cstring() == "ab");
  CHECK(as_text(in.bytes(3)) == "xyz");
  CHECK(in.remaining() == 2);
  CHECK(to_hex(in.rest()) == "0102");
  CHECK(in.at_end());
  CHECK_FALSE(in.finish());
}

TEST_CASE("Reader reads counts as unsigned 16-bit numbers", "[unit][protocol]") {
  const auto body = bytes_from_hex("ffff 8000");
  Reader in{body};
  CHECK(in.count16() == 65535);
  CHECK(in.count16() == 32768);
  CHECK_FALSE(in.finish());
}

TEST_CASE("Reader remembers its first error and reads zeros after it", "[unit][protocol]") {
  SECTION("a field past the end") {
    const auto body = bytes_from_hex("0001 02");
    Reader in{body};
    CHECK(in.int16() == 1);
    CHECK(in.int32() == 0);
    CHECK(in.uint8() == 0);
    CHECK_FALSE(in.ok());
    CHECK(in.finish() == CodecError::truncated);
  }
  SECTION("a string without terminator") {
    const auto body = bytes_from_hex("'abc'");
    Reader in{body};
    CHECK(in.cstring().empty());
    CHECK(in.bytes(1).empty());
    CHECK(in.finish() == CodecError::missing_terminator);
  }
  SECTION("a failure the caller reports") {
    const auto body = bytes_from_hex("01");
    Reader in{body};
    in.fail(CodecError::unexpected_value);
    in.fail(CodecError::truncated);
    CHECK(in.uint8() == 0);
    CHECK(in.finish() == CodecError::unexpected_value);
  }
}

TEST_CASE("Reader reports bytes left after the last field", "[unit][protocol]") {
  const auto body = bytes_from_hex("0001 02");
  Reader in{body};
  CHECK(in.int16() == 1);
  CHECK(in.finish() == CodecError::trailing_bytes);
}

TEST_CASE("Writer back-patches the length of a tagged message", "[unit][protocol]") {
  std::vector<std::byte> out;
  Writer writer{out};
  writer.begin('Q');
  writer.cstring("SELECT 1");
  writer.finish();
  writer.begin('S');
  writer.finish();
  CHECK(to_hex(out) == to_hex(bytes_from_hex("51 0000000d 'SELECT 1' 00   53 00000004")));
}

TEST_CASE("Writer back-patches the length of an untagged startup packet", "[unit][protocol]") {
  std::vector<std::byte> out;
  Writer writer{out};
  writer.begin_untagged();
  writer.int32(80877103);
  writer.finish();
  CHECK(to_hex(out) == "0000000804d2162f");
}

TEST_CASE("Writer appends big-endian fields", "[unit][protocol]") {
  std::vector<std::byte> out;
  Writer writer{out};
  writer.uint8(0xfe);
  writer.int16(-2);
  writer.int32(-1);
  writer.bytes(std::string_view{"ok"});
  CHECK(to_hex(out) == "fefffeffffffff6f6b");
}
