#include "protocol/frame.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;

namespace {

constexpr std::uint32_t kLimit = 1024;

// Three messages back to back: Query "SELECT 1", Sync, Terminate.
const auto kThreeMessages = bytes_from_hex(
    "51 0000000d 'SELECT 1' 00"
    "53 00000004"
    "58 00000004");

using TagAndBody = std::pair<char, std::string>;

// What a session's read loop does: append each chunk, then take every
// complete frame from the front of the buffer.
std::vector<TagAndBody> frames_from_chunks(const std::vector<std::byte>& stream,
                                           const std::vector<std::size_t>& chunk_sizes) {
  std::vector<TagAndBody> frames;
  std::vector<std::byte> buffer;
  std::size_t offset = 0;
  for (auto size : chunk_sizes) {
    const auto end = std::min(stream.size(), offset + size);
    buffer.insert(buffer.end(), stream.begin() + static_cast<std::ptrdiff_t>(offset),
                  stream.begin() + static_cast<std::ptrdiff_t>(end));
    offset = end;
    for (;;) {
      auto frame = peek_frame(buffer, kLimit);
      if (!frame) {
        REQUIRE(frame.error() == CodecError::need_more_input);
        break;
      }
      frames.emplace_back(frame->tag, std::string{as_text(frame->body)});
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(frame->wire_size()));
    }
  }
  CHECK(buffer.empty());
  return frames;
}

const std::vector<TagAndBody> kExpectedFrames{
    {'Q', std::string{"SELECT 1\0", 9}}, {'S', ""}, {'X', ""}};

}  // namespace

TEST_CASE("peek_frame returns the first complete message without copying it", "[unit][protocol]") {
  const auto frame = peek_frame(kThreeMessages, kLimit);
  REQUIRE(frame);
  CHECK(frame->tag == 'Q');
  CHECK(as_text(frame->body) == std::string_view{"SELECT 1\0", 9});
  CHECK(frame->body.data() == kThreeMessages.data() + kFrameHeaderSize);
  CHECK(frame->wire_size() == 14);
}

TEST_CASE("peek_frame accepts a message with an empty body", "[unit][protocol]") {
  const auto sync = bytes_from_hex("53 00000004");
  const auto frame = peek_frame(sync, kLimit);
  REQUIRE(frame);
  CHECK(frame->tag == 'S');
  CHECK(frame->body.empty());
}

TEST_CASE("peek_frame asks for more input until the message is complete", "[unit][protocol]") {
  const auto query = bytes_from_hex("51 0000000d 'SELECT 1' 00");
  for (std::size_t size = 0; size < query.size(); ++size) {
    CAPTURE(size);
    CHECK(peek_frame(Bytes{query}.first(size), kLimit).error() == CodecError::need_more_input);
  }
  CHECK(peek_frame(query, kLimit));
}

TEST_CASE("peek_frame rejects lengths that cannot be valid", "[unit][protocol]") {
  SECTION("a length below its own four bytes") {
    CHECK(peek_frame(bytes_from_hex("51 00000003 00"), kLimit).error() == CodecError::bad_length);
    CHECK(peek_frame(bytes_from_hex("51 00000000"), kLimit).error() == CodecError::bad_length);
  }
  SECTION("a body above the limit, before the body arrives") {
    CHECK(peek_frame(bytes_from_hex("44 00000405"), kLimit).error() == CodecError::message_too_large);
    CHECK(peek_frame(bytes_from_hex("44 00000404"), kLimit).error() == CodecError::need_more_input);
  }
  SECTION("a negative length, which reads as a huge one") {
    CHECK(peek_frame(bytes_from_hex("44 ffffffff"), kLimit).error() == CodecError::message_too_large);
  }
}

TEST_CASE("peek_header reads the header alone", "[unit][protocol]") {
  const auto header = peek_header(bytes_from_hex("44 00000405"), 2000);
  REQUIRE(header);
  CHECK(header->tag == 'D');
  CHECK(header->body_length == 0x401);
  CHECK(header->wire_size() == 0x406);
  CHECK(peek_header(bytes_from_hex("44 000004"), 2000).error() == CodecError::need_more_input);
}

TEST_CASE("Framing finds many messages in one read", "[unit][protocol]") {
  CHECK(frames_from_chunks(kThreeMessages, {kThreeMessages.size()}) == kExpectedFrames);
}

TEST_CASE("Framing reassembles messages split across reads at every offset", "[unit][protocol]") {
  SECTION("one byte per read") {
    CHECK(frames_from_chunks(kThreeMessages, std::vector<std::size_t>(kThreeMessages.size(), 1)) ==
          kExpectedFrames);
  }
  SECTION("two reads split anywhere") {
    for (std::size_t split = 1; split < kThreeMessages.size(); ++split) {
      CAPTURE(split);
      CHECK(frames_from_chunks(kThreeMessages, {split, kThreeMessages.size() - split}) == kExpectedFrames);
    }
  }
  SECTION("random read sizes") {
    const std::uint32_t seed = 20240611;
    CAPTURE(seed);
    std::mt19937 random{seed};
    std::uniform_int_distribution<std::size_t> size{1, 9};
    for (int round = 0; round < 100; ++round) {
      std::vector<std::size_t> sizes;
      for (std::size_t total = 0; total < kThreeMessages.size(); total += sizes.back()) sizes.push_back(size(random));
      CHECK(frames_from_chunks(kThreeMessages, sizes) == kExpectedFrames);
    }
  }
}
