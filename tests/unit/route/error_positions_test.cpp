#include "proxy/route/error_positions.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/error_response.h"
#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

std::vector<std::byte> error_with_position(std::string_view position) {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  protocol::ErrorResponse error;
  error.fields = {{'S', "ERROR"}, {'C', "22P02"}, {'M', "invalid input syntax for type integer"}, {'P', position}};
  protocol::encode(error, out);
  return wire;
}

std::vector<std::byte> command_complete(std::string_view tag) {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  out.begin('C');
  out.cstring(tag);
  out.finish();
  return wire;
}

std::string position_in(protocol::Bytes wire) {
  const auto frames = protocol::split_frames(wire);
  REQUIRE(frames.size() == 1);
  const auto error = protocol::decode_error_response(frames.front().body);
  REQUIRE(error);
  return std::string{error->field('P')};
}

TEST_CASE("an error position moves back by the characters pgdual put before the text", "[unit][route]") {
  const auto wire = error_with_position("93");
  const auto frames = protocol::split_frames(wire);
  const auto body = shift_error_position(frames.front().body, 80);
  std::vector<std::byte> message;
  protocol::append_frame(protocol::Frame{.tag = 'E', .body = body}, message);
  CHECK(position_in(message) == "13");
}

TEST_CASE("a position inside pgdual's prefix, a malformed one, or none leaves the body as it is", "[unit][route]") {
  for (std::string_view position : {"80", "12", "x", ""}) {
    INFO(position);
    const auto wire = error_with_position(position);
    const auto body = protocol::split_frames(wire).front().body;
    const auto shifted = shift_error_position(body, 80);
    CHECK(std::vector<std::byte>(body.begin(), body.end()) == shifted);
  }
}

TEST_CASE("the stream filter moves positions whatever the chunking, and passes the rest as it came",
          "[unit][route]") {
  std::vector<std::byte> stream = command_complete("INSERT 0 1");
  const auto error = error_with_position("100");
  stream.insert(stream.end(), error.begin(), error.end());
  const auto after = command_complete("SELECT 1");
  stream.insert(stream.end(), after.begin(), after.end());

  for (std::size_t chunk_size : {1U, 2U, 5U, 7U, 1000U}) {
    INFO(chunk_size);
    ErrorPositionShift shift;
    shift.start(40);
    std::vector<std::byte> out;
    for (std::size_t at = 0; at < stream.size(); at += chunk_size) {
      shift.filter(protocol::Bytes{stream}.subspan(at, std::min(chunk_size, stream.size() - at)), out);
    }
    const auto frames = protocol::split_frames(out);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].tag == 'C');
    CHECK(frames[2].tag == 'C');
    const auto moved = protocol::decode_error_response(frames[1].body);
    REQUIRE(moved);
    CHECK(moved->field('P') == "60");
    CHECK(moved->message() == "invalid input syntax for type integer");
  }
}

TEST_CASE("a stopped shift passes errors untouched", "[unit][route]") {
  ErrorPositionShift shift;
  shift.start(40);
  shift.stop();
  CHECK_FALSE(shift.active());
  const auto error = error_with_position("100");
  std::vector<std::byte> out;
  shift.filter(error, out);
  CHECK(out == error);
}

}  // namespace
}  // namespace pgdual::proxy
