#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"

#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::MessageRow;
using pgdual::protocol::test::RejectedMessageRow;
using pgdual::protocol::test::encoded;
using pgdual::protocol::test::framed;
using pgdual::protocol::test::to_hex;

TEST_CASE("Every frontend message decodes by its tag and encodes back to the same bytes", "[unit][protocol]") {
  const auto row = GENERATE(values<MessageRow>({
      {"Query", 'Q', "'SELECT 1; SELECT 2' 00"},
      {"Query, empty", 'Q', "00"},
      {"Parse, unnamed", 'P', "00 'SELECT $1, $2' 00 0002 00000017 00000019"},
      {"Parse, named without types", 'P', "'P_1' 00 'SELECT 1' 00 0000"},
      {"Bind", 'B', "'' 00 'P_1' 00 0001 0001 0002 00000004 0000002a ffffffff 0001 0000"},
      {"Bind, nothing to bind", 'B', "00 00 0000 0000 0000"},
      {"Describe a statement", 'D', "'S' 'P_1' 00"},
      {"Describe the unnamed portal", 'D', "'P' 00"},
      {"Execute", 'E', "00 00000000"},
      {"Execute with a row limit", 'E', "'c1' 00 00000064"},
      {"Close a portal", 'C', "'P' 'c1' 00"},
      {"Close a statement", 'C', "'S' 'P_1' 00"},
      {"Flush", 'H', ""},
      {"Sync", 'S', ""},
      {"Terminate", 'X', ""},
      {"CopyData", 'd', "'1' 09 'one' 0a"},
      {"CopyDone", 'c', ""},
      {"CopyFail", 'f', "'aborted by user' 00"},
      {"FunctionCall", 'F', "00000596 0001 0000 0002 00000001 '7' ffffffff 0000"},
  }));
  CAPTURE(row.name);
  const auto body = bytes_from_hex(row.body);
  const auto message = decode_frontend_message(Frame{row.tag, body});
  REQUIRE(message);
  CHECK(to_hex(encoded(*message)) == to_hex(framed(row.tag, body)));
}

TEST_CASE("Frontend decoders reject malformed bodies", "[unit][protocol]") {
  const auto row = GENERATE(values<RejectedMessageRow>({
      {"Query without terminator", 'Q', "'SELECT 1'", CodecError::missing_terminator},
      {"Query with trailing bytes", 'Q', "'SELECT 1' 00 00", CodecError::trailing_bytes},
      {"Query, empty body", 'Q', "", CodecError::missing_terminator},
      {"Parse without query", 'P', "00", CodecError::missing_terminator},
      {"Parse, fewer types than counted", 'P', "00 'SELECT $1' 00 0002 00000017", CodecError::truncated},
      {"Parse, no count", 'P', "00 'SELECT 1' 00", CodecError::truncated},
      {"Parse, trailing bytes", 'P', "00 'SELECT 1' 00 0000 00", CodecError::trailing_bytes},
      {"Bind, parameter past the end", 'B', "00 00 0000 0001 00000004 '42' 0000", CodecError::truncated},
      {"Bind, length below -1", 'B', "00 00 0000 0001 fffffffe 0000", CodecError::negative_count},
      {"Bind, no result formats", 'B', "00 00 0000 0000", CodecError::truncated},
      {"Bind, fewer formats than counted", 'B', "00 00 0002 0000", CodecError::truncated},
      {"Bind, trailing bytes", 'B', "00 00 0000 0000 0000 00", CodecError::trailing_bytes},
      {"Describe, unknown kind", 'D', "'X' 00", CodecError::unexpected_value},
      {"Describe, empty", 'D', "", CodecError::truncated},
      {"Describe, name without terminator", 'D', "'S' 'P_1'", CodecError::missing_terminator},
      {"Execute, short row limit", 'E', "00 0000", CodecError::truncated},
      {"Execute, trailing bytes", 'E', "00 00000000 00", CodecError::trailing_bytes},
      {"Close, unknown kind", 'C', "'s' 00", CodecError::unexpected_value},
      {"Flush with a body", 'H', "00", CodecError::trailing_bytes},
      {"Sync with a body", 'S', "00", CodecError::trailing_bytes},
      {"Terminate with a body", 'X', "00", CodecError::trailing_bytes},
      {"CopyDone with a body", 'c', "00", CodecError::trailing_bytes},
      {"CopyFail without terminator", 'f', "'oops'", CodecError::missing_terminator},
      {"FunctionCall, no result format", 'F', "00000596 0000 0000", CodecError::truncated},
      {"FunctionCall, argument length below -1", 'F', "00000596 0000 0001 80000000 0000",
       CodecError::negative_count},
      {"a backend-only tag", 'Z', "'I'", CodecError::unknown_tag},
      {"an authentication answer after authentication", 'p', "'secret' 00", CodecError::unknown_tag},
  }));
  CAPTURE(row.name);
  CHECK(decode_frontend_message(Frame{row.tag, bytes_from_hex(row.body)}).error() == row.error);
}

TEST_CASE("Parse decodes unnamed statement with two parameter types", "[unit][protocol]") {
  const auto body = bytes_from_hex("00 'SELECT $1, $2' 00 0002 00000017 00000019");
  const auto parse = decode_parse(body);
  REQUIRE(parse);
  CHECK(parse->statement_name.empty());
  CHECK(parse->query == "SELECT $1, $2");
  REQUIRE(parse->parameter_type_oids.size() == 2);
  CHECK(parse->parameter_type_oids[0] == 23);
  CHECK(parse->parameter_type_oids[1] == 25);
}

TEST_CASE("Bind decodes formats, parameters with NULL, and result formats", "[unit][protocol]") {
  const auto body = bytes_from_hex("'c1' 00 'P_1' 00 0001 0001 0002 00000004 0000002a ffffffff 0002 0000 0001");
  const auto bind = decode_bind(body);
  REQUIRE(bind);
  CHECK(bind->portal_name == "c1");
  CHECK(bind->statement_name == "P_1");
  REQUIRE(bind->parameter_formats.size() == 1);
  CHECK(bind->parameter_formats[0] == 1);
  REQUIRE(bind->parameters.size() == 2);
  auto parameter = bind->parameters.begin();
  REQUIRE(*parameter);
  CHECK(to_hex(**parameter) == "0000002a");
  CHECK_FALSE(*++parameter);
  CHECK(++parameter == bind->parameters.end());
  REQUIRE(bind->result_formats.size() == 2);
  CHECK(bind->result_formats[0] == 0);
  CHECK(bind->result_formats[1] == 1);
}

TEST_CASE("Bind accepts more than 32767 parameters, as PostgreSQL does", "[unit][protocol]") {
  constexpr std::size_t kParameters = 40'000;  // PQ_QUERY_PARAM_MAX_LIMIT is 65535
  std::vector<std::byte> body = bytes_from_hex("00 00 0000 9c40");
  for (std::size_t i = 0; i < kParameters; ++i) {
    const auto null = bytes_from_hex("ffffffff");
    body.insert(body.end(), null.begin(), null.end());
  }
  const auto tail = bytes_from_hex("0000");
  body.insert(body.end(), tail.begin(), tail.end());
  const auto bind = decode_bind(body);
  REQUIRE(bind);
  CHECK(bind->parameters.size() == kParameters);
  CHECK(to_hex(encoded(*bind)) == to_hex(framed(frontend_tag::kBind, body)));
}

TEST_CASE("Describe, Close and Execute decode their fields", "[unit][protocol]") {
  const auto describe_body = bytes_from_hex("'P' 'c1' 00");
  const auto describe = decode_describe(describe_body);
  REQUIRE(describe);
  CHECK(describe->kind == ObjectKind::portal);
  CHECK(describe->name == "c1");

  const auto close_body = bytes_from_hex("'S' 'P_1' 00");
  const auto close = decode_close(close_body);
  REQUIRE(close);
  CHECK(close->kind == ObjectKind::statement);
  CHECK(close->name == "P_1");

  const auto execute_body = bytes_from_hex("'c1' 00 00000064");
  const auto execute = decode_execute(execute_body);
  REQUIRE(execute);
  CHECK(execute->portal_name == "c1");
  CHECK(execute->max_rows == 100);
}

TEST_CASE("FunctionCall decodes the function, its arguments and the result format", "[unit][protocol]") {
  const auto body = bytes_from_hex("00000596 0001 0001 0002 00000001 '7' ffffffff 0001");
  const auto call = decode_function_call(body);
  REQUIRE(call);
  CHECK(call->function_oid == 0x596);
  REQUIRE(call->argument_formats.size() == 1);
  CHECK(call->argument_formats[0] == 1);
  REQUIRE(call->arguments.size() == 2);
  CHECK(as_text(**call->arguments.begin()) == "7");
  CHECK(call->result_format == 1);
}

TEST_CASE("Messages built in code encode as PostgreSQL expects", "[unit][protocol]") {
  CHECK(to_hex(encoded(Query{"SELECT 1"})) == to_hex(bytes_from_hex("51 0000000d 'SELECT 1' 00")));
  CHECK(to_hex(encoded(Sync{})) == "5300000004");
  CHECK(to_hex(encoded(Terminate{})) == "5800000004");
  CHECK(to_hex(encoded(Execute{"", 0})) == to_hex(bytes_from_hex("45 00000009 00 00000000")));
  CHECK(to_hex(encoded(Describe{ObjectKind::portal, ""})) == to_hex(bytes_from_hex("44 00000006 'P' 00")));
  CHECK(to_hex(encoded(CopyFail{"stop"})) == to_hex(bytes_from_hex("66 00000009 'stop' 00")));
}

TEST_CASE("Only the frontend messages PostgreSQL takes after login are allowed then", "[unit][protocol]") {
  using namespace pgdual::protocol::frontend_tag;
  for (char tag : {kBind, kClose, kCopyData, kCopyDone, kCopyFail, kDescribe, kExecute, kFlush, kFunctionCall, kParse,
                   kQuery, kSync, kTerminate}) {
    CHECK(allowed_after_login(tag));
  }
  for (char tag : {'\0', 'p', 'z', 'A', 'Z'}) CHECK_FALSE(allowed_after_login(tag));
}
