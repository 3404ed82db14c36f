// The streaming replication messages inside CopyData and pg_lsn text:
// hand-written tables, and a real pg_recvlogical session against PostgreSQL 15
// (tests/data/pgoutput/replication.hex, written by capture.sh).

#include "protocol/replication.h"

#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/pgoutput.h"
#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::encoded;
using pgdual::protocol::test::hex_lines;
using pgdual::protocol::test::to_hex;

namespace {

const std::filesystem::path kCaptureDir = std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests" / "data" / "pgoutput";

}  // namespace

TEST_CASE("LSNs parse and print as pg_lsn does", "[unit][protocol]") {
  struct Row {
    const char* text;
    XLogRecPtr lsn;
    const char* printed;
  };
  const auto row = GENERATE(values<Row>({
      {"16/B374D848", 0x16'B374D848ULL, "16/B374D848"},
      {"0/0", 0, "0/0"},
      {"0/1550708", 0x1550708, "0/1550708"},
      {"ffffffff/ffffffff", 0xFFFFFFFF'FFFFFFFFULL, "FFFFFFFF/FFFFFFFF"},
      {"00000001/00000002", 0x1'00000002ULL, "1/2"},
  }));
  CAPTURE(row.text);
  const auto lsn = parse_lsn(row.text);
  REQUIRE(lsn);
  CHECK(*lsn == row.lsn);
  CHECK(format_lsn(*lsn) == row.printed);
}

TEST_CASE("Text that is not an LSN is refused", "[unit][protocol]") {
  const std::string text = GENERATE("", "/", "1/", "/1", "1", "123456789/0", "0/123456789", "g/0", " 0/0", "0/0 ",
                                    "0//0", "-1/0", "0x1/0");
  CAPTURE(text);
  const auto lsn = parse_lsn(text);
  REQUIRE_FALSE(lsn);
  CHECK(lsn.error() == make_error_code(CodecError::unexpected_value));
}

TEST_CASE("Replication messages decode and encode back to the same bytes", "[unit][protocol]") {
  SECTION("XLogData") {
    const auto payload = bytes_from_hex("'w' 0000000001550708 0000000001560000 000304fafbde0ba6 'B' 0102");
    const auto message = decode_xlog_data(payload);
    REQUIRE(message);
    CHECK(message->wal_start == 0x1550708);
    CHECK(message->wal_end == 0x1560000);
    CHECK(message->send_time == 0x304fafbde0ba6);
    CHECK(to_hex(message->data) == "420102");
    CHECK(to_hex(encoded(*message)) == to_hex(payload));
  }
  SECTION("XLogData without data") {
    const auto payload = bytes_from_hex("'w' 0000000000000001 0000000000000002 0000000000000003");
    const auto message = decode_replication_message(payload);
    REQUIRE(message);
    CHECK(std::get<XLogData>(*message).data.empty());
    CHECK(to_hex(encoded(*message)) == to_hex(payload));
  }
  SECTION("Primary keepalive") {
    const auto payload = bytes_from_hex("'k' 0000001600000001 000304fafbde0ba6 01");
    const auto message = decode_replication_message(payload);
    REQUIRE(message);
    const auto& keepalive = std::get<PrimaryKeepalive>(*message);
    CHECK(format_lsn(keepalive.wal_end) == "16/1");
    CHECK(keepalive.reply_requested);
    CHECK(to_hex(encoded(*message)) == to_hex(payload));
  }
  SECTION("Standby status update") {
    const auto payload =
        bytes_from_hex("'r' 0000000000000003 0000000000000002 0000000000000001 000304fafbde0ba6 00");
    const auto message = decode_standby_status_update(payload);
    REQUIRE(message);
    CHECK(message->written == 3);
    CHECK(message->flushed == 2);
    CHECK(message->applied == 1);
    CHECK_FALSE(message->reply_requested);
    CHECK(to_hex(encoded(*message)) == to_hex(payload));
  }
}

TEST_CASE("Malformed replication messages are refused", "[unit][protocol]") {
  struct Row {
    const char* name;
    const char* payload;
    CodecError error;
  };
  const auto row = GENERATE(values<Row>({
      {"empty", "", CodecError::unknown_tag},
      {"a status update is not the server's", "'r' 0000000000000003 0000000000000002 0000000000000001 0000000000000000 00",
       CodecError::unknown_tag},
      {"XLogData cut short", "'w' 0000000000000001 0000000000000002 00000000", CodecError::truncated},
      {"keepalive cut short", "'k' 0000000000000001 0000000000000002", CodecError::truncated},
      {"keepalive with trailing bytes", "'k' 0000000000000001 0000000000000002 00 00", CodecError::trailing_bytes},
      {"keepalive asking with 2", "'k' 0000000000000001 0000000000000002 02", CodecError::unexpected_value},
  }));
  CAPTURE(row.name);
  const auto message = decode_replication_message(bytes_from_hex(row.payload));
  REQUIRE_FALSE(message);
  CHECK(message.error() == make_error_code(row.error));
}

TEST_CASE("A standby status update is not decoded as another message", "[unit][protocol]") {
  const auto keepalive = bytes_from_hex("'k' 0000000000000001 0000000000000002 00");
  CHECK(decode_standby_status_update(keepalive).error() == make_error_code(CodecError::unknown_tag));
  CHECK(decode_xlog_data(keepalive).error() == make_error_code(CodecError::unknown_tag));
}

TEST_CASE("A captured pg_recvlogical session decodes, round trips and carries the same pgoutput messages",
          "[unit][protocol]") {
  const auto payloads = hex_lines(kCaptureDir / "replication.hex");
  // The slot read here and the one v1.hex was peeked from saw the same WAL
  // with the same options, so the XLogData carry exactly v1.hex's messages.
  const auto peeked = hex_lines(kCaptureDir / "v1.hex");
  std::vector<std::string> streamed;
  std::size_t keepalives = 0;
  std::size_t status_updates = 0;
  XLogRecPtr last_flushed = 0;
  for (const auto& payload : payloads) {
    INFO(to_hex(payload));
    if (std::to_integer<char>(payload.at(0)) == replication_tag::kStandbyStatusUpdate) {
      const auto update = decode_standby_status_update(payload);
      REQUIRE(update);
      CHECK(update->flushed >= last_flushed);
      last_flushed = update->flushed;
      CHECK(to_hex(encoded(*update)) == to_hex(payload));
      ++status_updates;
      continue;
    }
    const auto message = decode_replication_message(payload);
    REQUIRE(message);
    CHECK(to_hex(encoded(*message)) == to_hex(payload));
    if (const auto* xlog = std::get_if<XLogData>(&*message)) {
      CHECK(xlog->wal_start <= xlog->wal_end);
      REQUIRE(logicalrep::decode(xlog->data, {}));
      streamed.push_back(to_hex(xlog->data));
    } else {
      ++keepalives;
    }
  }
  CHECK(keepalives > 0);
  CHECK(status_updates > 0);
  std::vector<std::string> expected;
  for (const auto& message : peeked) expected.push_back(to_hex(message));
  CHECK(streamed == expected);
}
