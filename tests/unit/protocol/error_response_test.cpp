#include "protocol/error_response.h"

#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::encoded;
using pgdual::protocol::test::framed;
using pgdual::protocol::test::to_hex;

namespace {

const auto kDivisionByZero = bytes_from_hex(
    "'S' 'ERROR' 00  'V' 'ERROR' 00  'C' '22012' 00  'M' 'division by zero' 00"
    "'F' 'int.c' 00  'L' '841' 00  'R' 'int4div' 00  00");

}  // namespace

TEST_CASE("ErrorResponse decodes its fields in order", "[unit][protocol]") {
  const auto error = decode_error_response(kDivisionByZero);
  REQUIRE(error);
  REQUIRE(error->fields.size() == 7);
  CHECK(error->fields[0].code == error_field::kSeverity);
  CHECK(error->field(error_field::kSeverityNonLocalized) == "ERROR");
  CHECK(error->sqlstate() == "22012");
  CHECK(error->message() == "division by zero");
  CHECK(error->field('R') == "int4div");
  CHECK(error->field(error_field::kHint).empty());
}

TEST_CASE("ErrorResponse and NoticeResponse encode back to the same bytes", "[unit][protocol]") {
  const auto error = decode_error_response(kDivisionByZero);
  REQUIRE(error);
  CHECK(to_hex(encoded(*error)) == to_hex(framed(backend_tag::kErrorResponse, kDivisionByZero)));

  const auto notice_body = bytes_from_hex(
      "'S' 'NOTICE' 00 'V' 'NOTICE' 00 'C' '00000' 00 'M' 'table \"t\" does not exist, skipping' 00 00");
  const auto notice = decode_notice_response(notice_body);
  REQUIRE(notice);
  CHECK(notice->sqlstate() == "00000");
  CHECK(to_hex(encoded(*notice)) == to_hex(framed(backend_tag::kNoticeResponse, notice_body)));
}

TEST_CASE("An ErrorResponse may have no fields at all", "[unit][protocol]") {
  const auto error = decode_error_response(bytes_from_hex("00"));
  REQUIRE(error);
  CHECK(error->fields.empty());
  CHECK(error->sqlstate().empty());
}

TEST_CASE("decode_error_response rejects malformed field lists", "[unit][protocol]") {
  struct Row {
    const char* name;
    const char* hex;
    CodecError error;
  };
  const auto row = GENERATE(values<Row>({
      {"an empty body", "", CodecError::truncated},
      {"no final zero", "'S' 'ERROR' 00", CodecError::truncated},
      {"a value without terminator", "'S' 'ERROR'", CodecError::missing_terminator},
      {"bytes after the final zero", "'S' 'ERROR' 00 00 'M'", CodecError::trailing_bytes},
  }));
  CAPTURE(row.name);
  CHECK(decode_error_response(bytes_from_hex(row.hex)).error() == row.error);
  CHECK(decode_notice_response(bytes_from_hex(row.hex)).error() == row.error);
}

TEST_CASE("make_error builds an ErrorResponse shaped like PostgreSQL's", "[unit][protocol]") {
  const auto error = make_error("FATAL", "08006", "backend connection lost");
  const auto expected = bytes_from_hex(
      "45 00000033 'S' 'FATAL' 00 'V' 'FATAL' 00 'C' '08006' 00 'M' 'backend connection lost' 00 00");
  CHECK(to_hex(encoded(error)) == to_hex(expected));
}
