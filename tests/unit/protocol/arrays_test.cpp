#include "protocol/arrays.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::to_hex;

TEST_CASE("Int16Array and Int32Array decode big-endian values on access", "[unit][protocol]") {
  const auto raw16 = bytes_from_hex("0001 ffff 8000");
  const Int16Array formats{raw16};
  REQUIRE(formats.size() == 3);
  CHECK(formats[1] == -1);
  CHECK(std::vector<std::int16_t>(formats.begin(), formats.end()) == std::vector<std::int16_t>{1, -1, -32768});

  const auto raw32 = bytes_from_hex("00000017 ffffffff");
  const Int32Array oids{raw32};
  REQUIRE(oids.size() == 2);
  CHECK(oids[0] == 23);
  CHECK(oids[1] == -1);
  CHECK(Int32Array{}.empty());
}

TEST_CASE("read_value tells NULL from empty and rejects lengths below -1", "[unit][protocol]") {
  const auto body = bytes_from_hex("ffffffff 00000000 00000002 'ok'");
  Reader in{body};
  CHECK_FALSE(read_value(in));
  const auto empty = read_value(in);
  REQUIRE(empty);
  CHECK(empty->empty());
  CHECK(as_text(*read_value(in)) == "ok");
  CHECK_FALSE(in.finish());

  const auto negative = bytes_from_hex("fffffffe");
  Reader bad{negative};
  read_value(bad);
  CHECK(bad.finish() == CodecError::negative_count);
}

TEST_CASE("read_value_list validates every value and leaves the cursor after them", "[unit][protocol]") {
  SECTION("well formed") {
    const auto body = bytes_from_hex("0002 00000001 'a' ffffffff 'rest'");
    Reader in{body};
    const auto values = read_value_list(in);
    REQUIRE(in.ok());
    CHECK(values.size() == 2);
    CHECK(std::distance(values.begin(), values.end()) == 2);
    CHECK(to_hex(values.raw()) == to_hex(bytes_from_hex("00000001 'a' ffffffff")));
    CHECK(as_text(in.rest()) == "rest");
  }
  SECTION("a value past the end") {
    const auto body = bytes_from_hex("0001 00000009 'a'");
    Reader in{body};
    CHECK(read_value_list(in).empty());
    CHECK(in.finish() == CodecError::truncated);
  }
  SECTION("fewer values than counted") {
    const auto body = bytes_from_hex("0003 ffffffff ffffffff");
    Reader in{body};
    read_value_list(in);
    CHECK(in.finish() == CodecError::truncated);
  }
}

TEST_CASE("Array writers put the count before the values", "[unit][protocol]") {
  const auto raw = bytes_from_hex("0000 0001");
  const auto values_raw = bytes_from_hex("ffffffff");
  std::vector<std::byte> out;
  Writer writer{out};
  write_int16_array(writer, Int16Array{raw});
  write_value_list(writer, ValueList{1, values_raw});
  write_value(writer, std::nullopt);
  write_value(writer, as_bytes("hi"));
  write_count16(writer, 65535);
  CHECK(to_hex(out) == to_hex(bytes_from_hex("0002 0000 0001  0001 ffffffff  ffffffff  00000002 'hi'  ffff")));
}
