#include "protocol/authentication.h"

#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::encoded;
using pgdual::protocol::test::framed;
using pgdual::protocol::test::to_hex;

namespace {

// Decodes an 'R' body and checks that encoding gives the message back. The
// result borrows from `body`.
Authentication round_trip_request(const std::vector<std::byte>& body) {
  auto decoded = decode_authentication(body);
  REQUIRE(decoded);
  CHECK(to_hex(encoded(*decoded)) == to_hex(framed(backend_tag::kAuthenticationRequest, body)));
  return *decoded;
}

}  // namespace

TEST_CASE("Authentication requests decode by their code and encode back", "[unit][protocol]") {
  SECTION("AuthenticationOk") {
    CHECK(std::holds_alternative<AuthenticationOk>(round_trip_request(bytes_from_hex("00000000"))));
  }
  SECTION("AuthenticationCleartextPassword") {
    CHECK(std::holds_alternative<AuthenticationCleartextPassword>(
        round_trip_request(bytes_from_hex("00000003"))));
  }
  SECTION("AuthenticationMD5Password carries a four-byte salt") {
    const auto request = round_trip_request(bytes_from_hex("00000005 01020304"));
    const auto& md5 = std::get<AuthenticationMD5Password>(request);
    CHECK(to_hex(md5.salt) == "01020304");
  }
  SECTION("AuthenticationSASL lists the mechanisms") {
    const auto body = bytes_from_hex("0000000a 'SCRAM-SHA-256-PLUS' 00 'SCRAM-SHA-256' 00 00");
    const auto request = round_trip_request(body);
    const auto& sasl = std::get<AuthenticationSASL>(request);
    REQUIRE(sasl.mechanisms.size() == 2);
    CHECK(sasl.mechanisms[0] == "SCRAM-SHA-256-PLUS");
    CHECK(sasl.mechanisms[1] == "SCRAM-SHA-256");
  }
  SECTION("AuthenticationSASLContinue and AuthenticationSASLFinal carry the mechanism's data") {
    const auto challenge_body = bytes_from_hex("0000000b 'r=abc,s=xyz,i=4096'");
    const auto challenge = round_trip_request(challenge_body);
    CHECK(as_text(std::get<AuthenticationSASLContinue>(challenge).data) == "r=abc,s=xyz,i=4096");
    const auto outcome_body = bytes_from_hex("0000000c 'v=proof'");
    const auto outcome = round_trip_request(outcome_body);
    CHECK(as_text(std::get<AuthenticationSASLFinal>(outcome).data) == "v=proof");
  }
  SECTION("other methods keep their code and data") {
    const auto body = bytes_from_hex("00000008 'token'");
    const auto request = round_trip_request(body);
    const auto& other = std::get<AuthenticationOther>(request);
    CHECK(other.code == 8);
    CHECK(as_text(other.data) == "token");
  }
}

TEST_CASE("decode_authentication rejects malformed requests", "[unit][protocol]") {
  struct Row {
    const char* name;
    const char* hex;
    CodecError error;
  };
  const auto row = GENERATE(values<Row>({
      {"an empty body", "", CodecError::truncated},
      {"a short code", "000000", CodecError::truncated},
      {"AuthenticationOk with a body", "00000000 00", CodecError::trailing_bytes},
      {"AuthenticationCleartextPassword with a body", "00000003 00", CodecError::trailing_bytes},
      {"a short MD5 salt", "00000005 010203", CodecError::truncated},
      {"a long MD5 salt", "00000005 0102030405", CodecError::trailing_bytes},
      {"a SASL list without its final terminator", "0000000a 'SCRAM-SHA-256' 00", CodecError::missing_terminator},
      {"a SASL mechanism without terminator", "0000000a 'SCRAM'", CodecError::missing_terminator},
      {"bytes after the SASL list", "0000000a 'SCRAM-SHA-256' 00 00 01", CodecError::trailing_bytes},
  }));
  CAPTURE(row.name);
  CHECK(decode_authentication(bytes_from_hex(row.hex)).error() == row.error);
}

TEST_CASE("PasswordMessage decodes the password and encodes back", "[unit][protocol]") {
  const auto body = bytes_from_hex("'md5abc' 00");
  const auto message = decode_password_message(body);
  REQUIRE(message);
  CHECK(message->password == "md5abc");
  CHECK(to_hex(encoded(*message)) == to_hex(framed(frontend_tag::kPasswordMessage, body)));
  CHECK(decode_password_message(bytes_from_hex("'md5abc'")).error() == CodecError::missing_terminator);
  CHECK(decode_password_message(bytes_from_hex("'md5abc' 00 00")).error() == CodecError::trailing_bytes);
}

TEST_CASE("SASLInitialResponse decodes the mechanism and its optional data", "[unit][protocol]") {
  SECTION("with data") {
    const auto body = bytes_from_hex("'SCRAM-SHA-256' 00 00000008 'n,,n=,r='");
    const auto message = decode_sasl_initial_response(body);
    REQUIRE(message);
    CHECK(message->mechanism == "SCRAM-SHA-256");
    CHECK(message->has_data);
    CHECK(as_text(message->data) == "n,,n=,r=");
    CHECK(to_hex(encoded(*message)) == to_hex(framed(frontend_tag::kSASLInitialResponse, body)));
  }
  SECTION("without data (length -1)") {
    const auto body = bytes_from_hex("'SCRAM-SHA-256' 00 ffffffff");
    const auto message = decode_sasl_initial_response(body);
    REQUIRE(message);
    CHECK_FALSE(message->has_data);
    CHECK(to_hex(encoded(*message)) == to_hex(framed(frontend_tag::kSASLInitialResponse, body)));
  }
  SECTION("rejections") {
    CHECK(decode_sasl_initial_response(bytes_from_hex("'SCRAM-SHA-256' 00 fffffffe")).error() ==
          CodecError::negative_count);
    CHECK(decode_sasl_initial_response(bytes_from_hex("'SCRAM-SHA-256' 00 00000009 'n,,n=,r='")).error() ==
          CodecError::truncated);
    CHECK(decode_sasl_initial_response(bytes_from_hex("'SCRAM-SHA-256' 00 00000001 'nn'")).error() ==
          CodecError::trailing_bytes);
    CHECK(decode_sasl_initial_response(bytes_from_hex("'SCRAM-SHA-256'")).error() ==
          CodecError::missing_terminator);
  }
}

TEST_CASE("SASLResponse takes the whole body as the mechanism's data", "[unit][protocol]") {
  const auto body = bytes_from_hex("'c=biws,r=abc,p=proof'");
  const auto message = decode_sasl_response(body);
  REQUIRE(message);
  CHECK(as_text(message->data) == "c=biws,r=abc,p=proof");
  CHECK(to_hex(encoded(*message)) == to_hex(framed(frontend_tag::kSASLResponse, body)));
}
