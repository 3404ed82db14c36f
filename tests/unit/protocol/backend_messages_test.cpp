#include "protocol/backend_messages.h"

#include <iterator>
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

TEST_CASE("Every backend message decodes by its tag and encodes back to the same bytes", "[unit][protocol]") {
  const auto row = GENERATE(values<MessageRow>({
      {"AuthenticationOk", 'R', "00000000"},
      {"ParameterStatus", 'S', "'client_encoding' 00 'UTF8' 00"},
      {"BackendKeyData", 'K', "00001f40 7b2d4c11"},
      {"ReadyForQuery idle", 'Z', "'I'"},
      {"ReadyForQuery in a transaction", 'Z', "'T'"},
      {"ReadyForQuery in a failed transaction", 'Z', "'E'"},
      {"RowDescription", 'T', "0002 'id' 00 00004001 0001 00000017 0004 ffffffff 0000"
                              "     'note' 00 00004001 0002 00000019 ffff ffffffff 0000"},
      {"RowDescription without fields", 'T', "0000"},
      {"DataRow", 'D', "0003 00000001 '1' ffffffff 00000000"},
      {"DataRow without columns", 'D', "0000"},
      {"CommandComplete", 'C', "'INSERT 0 2' 00"},
      {"EmptyQueryResponse", 'I', ""},
      {"ParseComplete", '1', ""},
      {"BindComplete", '2', ""},
      {"CloseComplete", '3', ""},
      {"NoData", 'n', ""},
      {"PortalSuspended", 's', ""},
      {"ParameterDescription", 't', "0002 00000017 00000019"},
      {"CopyInResponse", 'G', "00 0002 0000 0000"},
      {"CopyOutResponse", 'H', "01 0001 0001"},
      {"CopyBothResponse", 'W', "00 0000"},
      {"CopyData", 'd', "'1' 09 'one' 0a"},
      {"CopyData, empty", 'd', ""},
      {"CopyDone", 'c', ""},
      {"NotificationResponse", 'A', "00001f40 'jobs' 00 'job 7 done' 00"},
      {"NegotiateProtocolVersion", 'v', "00000000 00000002 '_pq_.a' 00 '_pq_.b' 00"},
      {"FunctionCallResponse", 'V', "00000002 0102"},
      {"FunctionCallResponse, NULL", 'V', "ffffffff"},
      {"ErrorResponse", 'E', "'S' 'ERROR' 00 'C' '42P01' 00 'M' 'no such table' 00 00"},
      {"NoticeResponse", 'N', "'S' 'NOTICE' 00 'C' '00000' 00 00"},
  }));
  CAPTURE(row.name);
  const auto body = bytes_from_hex(row.body);
  const auto message = decode_backend_message(Frame{row.tag, body});
  REQUIRE(message);
  CHECK(to_hex(encoded(*message)) == to_hex(framed(row.tag, body)));
}

TEST_CASE("Backend decoders reject malformed bodies", "[unit][protocol]") {
  const auto row = GENERATE(values<RejectedMessageRow>({
      {"ParameterStatus without its value", 'S', "'TimeZone' 00", CodecError::missing_terminator},
      {"ParameterStatus with trailing bytes", 'S', "'a' 00 'b' 00 00", CodecError::trailing_bytes},
      {"BackendKeyData, short", 'K', "00001f40 7b2d", CodecError::truncated},
      {"BackendKeyData, long", 'K', "00001f40 7b2d4c11 00", CodecError::trailing_bytes},
      {"ReadyForQuery, empty", 'Z', "", CodecError::truncated},
      {"ReadyForQuery, unknown status", 'Z', "'X'", CodecError::unexpected_value},
      {"ReadyForQuery, two bytes", 'Z', "'I' 'I'", CodecError::trailing_bytes},
      {"RowDescription, fewer fields than counted", 'T', "0002 'id' 00 00004001 0001 00000017 0004 ffffffff 0000",
       CodecError::missing_terminator},
      {"RowDescription, field cut short", 'T', "0001 'id' 00 00004001 0001", CodecError::truncated},
      {"RowDescription, no count", 'T', "00", CodecError::truncated},
      {"DataRow, column past the end", 'D', "0001 00000005 'abc'", CodecError::truncated},
      {"DataRow, fewer columns than counted", 'D', "0002 00000001 '1'", CodecError::truncated},
      {"DataRow, length below -1", 'D', "0001 fffffffe", CodecError::negative_count},
      {"DataRow, trailing bytes", 'D', "0001 ffffffff 00", CodecError::trailing_bytes},
      {"CommandComplete without terminator", 'C', "'SELECT 1'", CodecError::missing_terminator},
      {"CommandComplete with trailing bytes", 'C', "'SELECT 1' 00 00", CodecError::trailing_bytes},
      {"EmptyQueryResponse with a body", 'I', "00", CodecError::trailing_bytes},
      {"ParseComplete with a body", '1', "00", CodecError::trailing_bytes},
      {"BindComplete with a body", '2', "00", CodecError::trailing_bytes},
      {"CloseComplete with a body", '3', "00", CodecError::trailing_bytes},
      {"NoData with a body", 'n', "00", CodecError::trailing_bytes},
      {"PortalSuspended with a body", 's', "00", CodecError::trailing_bytes},
      {"CopyDone with a body", 'c', "00", CodecError::trailing_bytes},
      {"ParameterDescription, fewer types than counted", 't', "0002 00000017", CodecError::truncated},
      {"ParameterDescription, trailing bytes", 't', "0001 00000017 00", CodecError::trailing_bytes},
      {"CopyInResponse, unknown overall format", 'G', "02 0000", CodecError::unexpected_value},
      {"CopyOutResponse, fewer formats than counted", 'H', "00 0002 0000", CodecError::truncated},
      {"CopyBothResponse, no count", 'W', "00", CodecError::truncated},
      {"NotificationResponse without payload", 'A', "00001f40 'jobs' 00", CodecError::missing_terminator},
      {"NegotiateProtocolVersion, negative count", 'v', "00000000 ffffffff", CodecError::negative_count},
      {"NegotiateProtocolVersion, fewer options than counted", 'v', "00000000 00000002 '_pq_.a' 00",
       CodecError::missing_terminator},
      {"FunctionCallResponse, short result", 'V', "00000002 01", CodecError::truncated},
      {"FunctionCallResponse, length below -1", 'V', "fffffffe", CodecError::negative_count},
      {"ErrorResponse without final zero", 'E', "'S' 'ERROR' 00", CodecError::truncated},
      {"AuthenticationOk with a body", 'R', "00000000 00", CodecError::trailing_bytes},
      {"a frontend-only tag", 'Q', "'SELECT 1' 00", CodecError::unknown_tag},
      {"an unassigned tag", '!', "", CodecError::unknown_tag},
  }));
  CAPTURE(row.name);
  CHECK(decode_backend_message(Frame{row.tag, bytes_from_hex(row.body)}).error() == row.error);
}

TEST_CASE("ParameterStatus, BackendKeyData and ReadyForQuery decode their fields", "[unit][protocol]") {
  const auto status_body = bytes_from_hex("'TimeZone' 00 'Etc/UTC' 00");
  const auto status = decode_parameter_status(status_body);
  REQUIRE(status);
  CHECK(status->name == "TimeZone");
  CHECK(status->value == "Etc/UTC");

  const auto key = decode_backend_key_data(bytes_from_hex("00001f40 fb2d4c11"));
  REQUIRE(key);
  CHECK(key->process_id == 8000);
  CHECK(key->secret_key == static_cast<std::int32_t>(0xfb2d4c11U));

  const auto ready = decode_ready_for_query(bytes_from_hex("'T'"));
  REQUIRE(ready);
  CHECK(ready->status == TransactionStatus::in_transaction);
  CHECK(to_hex(encoded(ReadyForQuery{TransactionStatus::failed})) == "5a0000000545");
}

TEST_CASE("RowDescription decodes every field description", "[unit][protocol]") {
  const auto body = bytes_from_hex("0001 'abalance' 00 00004001 0003 00000017 0004 ffffffff 0001");
  const auto description = decode_row_description(body);
  REQUIRE(description);
  REQUIRE(description->fields.size() == 1);
  const auto& field = description->fields[0];
  CHECK(field.name == "abalance");
  CHECK(field.table_oid == 0x4001);
  CHECK(field.column_attribute_number == 3);
  CHECK(field.data_type_oid == 23);
  CHECK(field.data_type_size == 4);
  CHECK(field.type_modifier == -1);
  CHECK(field.format_code == 1);
}

TEST_CASE("DataRow columns are borrowed views, with NULL apart from empty", "[unit][protocol]") {
  const auto body = bytes_from_hex("0003 00000002 '42' ffffffff 00000000");
  const auto row = decode_data_row(body);
  REQUIRE(row);
  REQUIRE(row->columns.size() == 3);
  auto column = row->columns.begin();
  REQUIRE(*column);
  CHECK(as_text(**column) == "42");
  CHECK((*column)->data() == body.data() + 6);
  ++column;
  CHECK_FALSE(*column);
  ++column;
  REQUIRE(*column);
  CHECK((*column)->empty());
  ++column;
  CHECK(column == row->columns.end());
  CHECK(std::distance(row->columns.begin(), row->columns.end()) == 3);
}

TEST_CASE("OwnedDataRow copies the columns and encodes like the DataRow", "[unit][protocol]") {
  std::vector<std::byte> body = bytes_from_hex("0003 00000002 '42' ffffffff 00000000");
  const OwnedDataRow owned{*decode_data_row(body)};
  const auto wire = framed(backend_tag::kDataRow, body);
  body.assign(body.size(), std::byte{0});  // the owned row must not look at the frame again
  REQUIRE(owned.columns.size() == 3);
  CHECK(owned.columns[0] == "42");
  CHECK_FALSE(owned.columns[1]);
  CHECK(owned.columns[2] == "");
  CHECK(to_hex(encoded(owned)) == to_hex(wire));
}

TEST_CASE("Copy responses decode the overall and per-column formats", "[unit][protocol]") {
  const auto body = bytes_from_hex("01 0002 0001 0001");
  const auto response = decode_copy_out_response(body);
  REQUIRE(response);
  CHECK(response->overall_format == 1);
  REQUIRE(response->column_formats.size() == 2);
  CHECK(response->column_formats[1] == 1);
  CHECK(decode_copy_in_response(body));
  CHECK(decode_copy_both_response(body));
}

TEST_CASE("NotificationResponse, NegotiateProtocolVersion and FunctionCallResponse decode their fields",
          "[unit][protocol]") {
  const auto notification_body = bytes_from_hex("00001f40 'jobs' 00 '' 00");
  const auto notification = decode_notification_response(notification_body);
  REQUIRE(notification);
  CHECK(notification->process_id == 8000);
  CHECK(notification->channel == "jobs");
  CHECK(notification->payload.empty());

  const auto negotiate_body = bytes_from_hex("00000000 00000001 '_pq_.compression' 00");
  const auto negotiate = decode_negotiate_protocol_version(negotiate_body);
  REQUIRE(negotiate);
  CHECK(negotiate->newest_minor_version == 0);
  REQUIRE(negotiate->unrecognized_options.size() == 1);
  CHECK(negotiate->unrecognized_options[0] == "_pq_.compression");

  const auto null_result = decode_function_call_response(bytes_from_hex("ffffffff"));
  REQUIRE(null_result);
  CHECK_FALSE(null_result->result);
}
