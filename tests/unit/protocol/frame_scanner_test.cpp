#include "protocol/frame_scanner.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;

namespace {

const auto kStream = bytes_from_hex(
    "54 00000006 0000"
    "44 0000000b 0001 00000001 '7'"
    "5a 00000005 'I'");

// The headers the scanner reports, as "tag:body_length" words.
std::string scan_in_chunks(FrameScanner& scanner, Bytes stream, std::size_t chunk_size) {
  std::string headers;
  while (!stream.empty()) {
    const auto chunk = stream.first(std::min(chunk_size, stream.size()));
    const auto error = scanner.scan(chunk, [&headers](const FrameHeader& header) {
      headers += std::string{header.tag} + ":" + std::to_string(header.body_length) + " ";
    });
    REQUIRE_FALSE(error);
    stream = stream.subspan(chunk.size());
  }
  return headers;
}

}  // namespace

TEST_CASE("FrameScanner reports every header whatever the read sizes", "[unit][protocol]") {
  for (std::size_t chunk_size = 1; chunk_size <= kStream.size(); ++chunk_size) {
    CAPTURE(chunk_size);
    FrameScanner scanner{kDefaultMaxMessageBody};
    CHECK(scan_in_chunks(scanner, kStream, chunk_size) == "T:2 D:7 Z:1 ");
    CHECK(scanner.at_boundary());
  }
}

TEST_CASE("FrameScanner is between messages only at a message boundary", "[unit][protocol]") {
  FrameScanner scanner{kDefaultMaxMessageBody};
  const Bytes stream{kStream};
  CHECK(scan_in_chunks(scanner, stream.first(3), 3).empty());
  CHECK_FALSE(scanner.at_boundary());
  CHECK(scan_in_chunks(scanner, stream.subspan(3, 5), 5) == "T:2 ");
  CHECK_FALSE(scanner.at_boundary());
  CHECK(scan_in_chunks(scanner, stream.subspan(8), kStream.size()) == "D:7 Z:1 ");
  CHECK(scanner.at_boundary());
}

TEST_CASE("FrameScanner reports an invalid header", "[unit][protocol]") {
  FrameScanner small{4};
  const auto ignore = [](const FrameHeader&) {};
  CHECK(small.scan(bytes_from_hex("44 00000009"), ignore) == CodecError::message_too_large);
  FrameScanner scanner{kDefaultMaxMessageBody};
  CHECK(scanner.scan(bytes_from_hex("44 00000002"), ignore) == CodecError::bad_length);
}
