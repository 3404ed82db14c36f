#include "proxy/route/statement_pins.h"

#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/backend_messages.h"
#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

const sql::PinnedTimes kTimes{"2026-11-22 05:16:00.123456+00", "2026-11-22 05:16:00.200000+00"};

/// Each message as "tag name text", for comparing whole units at a glance.
std::vector<std::string> describe(protocol::Bytes wire) {
  std::vector<std::string> described;
  for (const auto& frame : protocol::split_frames(wire)) {
    if (const auto parse = protocol::decode_parse(frame.body); frame.tag == 'P' && parse) {
      described.push_back("Parse " + std::string{parse->statement_name} + " " + std::string{parse->query});
    } else if (const auto bind = protocol::decode_bind(frame.body); frame.tag == 'B' && bind) {
      described.push_back("Bind " + std::string{bind->statement_name});
    } else if (const auto close = protocol::decode_close(frame.body); frame.tag == 'C' && close) {
      described.push_back("Close " + std::string{close->name});
    } else {
      described.emplace_back(1, frame.tag);
    }
  }
  return described;
}

protocol::Parse parse(std::string_view statement, std::string_view query) {
  protocol::Parse message;
  message.statement_name = statement;
  message.query = query;
  return message;
}

protocol::Bind bind(std::string_view statement) {
  protocol::Bind message;
  message.statement_name = statement;
  return message;
}

bool calls_now(std::string_view text) { return text.find("now()") != std::string_view::npos; }

TEST_CASE("A statement bound in a unit gets a pinned copy, which the unit's Bind uses instead", "[unit][proxy]") {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  protocol::encode(parse("", "INSERT INTO visits VALUES ($1, now())"), out);
  protocol::encode(bind(""), out);
  protocol::encode(protocol::Execute{}, out);
  protocol::encode(parse("s2", "UPDATE beds SET free = $1"), out);
  protocol::encode(bind("s2"), out);
  protocol::encode(protocol::Sync{}, out);
  const auto frames = protocol::split_frames(wire);

  const auto pins = pin_statements(frames, kTimes, [](std::string_view) { return std::nullopt; }, calls_now);
  REQUIRE(pins.renamed.size() == 1);
  CHECK(pins.answers == 2);
  std::vector<std::byte> pinned;
  apply_pins(pins, frames, pinned);
  CHECK(describe(pinned) ==
        std::vector<std::string>{
            "Close pgdual_pinned_0",
            "Parse pgdual_pinned_0 INSERT INTO visits VALUES ($1, ('2026-11-22 05:16:00.123456+00'::timestamptz))",
            "Parse  INSERT INTO visits VALUES ($1, now())", "Bind pgdual_pinned_0", "E",
            "Parse s2 UPDATE beds SET free = $1", "Bind s2", "S"});
}

TEST_CASE("A statement prepared before the unit is pinned from its earlier Parse", "[unit][proxy]") {
  std::vector<std::byte> earlier;
  protocol::Writer earlier_out{earlier};
  protocol::encode(parse("s1", "INSERT INTO visits VALUES (now())"), earlier_out);
  const auto earlier_body = protocol::split_frames(earlier).front().body;

  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  protocol::encode(bind("s1"), out);
  protocol::encode(protocol::Execute{}, out);
  protocol::encode(bind("s1"), out);
  protocol::encode(protocol::Sync{}, out);
  const auto frames = protocol::split_frames(wire);
  const auto prepared = [&](std::string_view name) {
    return name == "s1" ? std::optional{earlier_body} : std::nullopt;
  };

  const auto pins = pin_statements(frames, kTimes, prepared, calls_now);
  std::vector<std::byte> pinned;
  apply_pins(pins, frames, pinned);
  CHECK(describe(pinned) ==
        std::vector<std::string>{"Close pgdual_pinned_0",
                                 "Parse pgdual_pinned_0 INSERT INTO visits VALUES "
                                 "(('2026-11-22 05:16:00.123456+00'::timestamptz))",
                                 "Bind pgdual_pinned_0", "E", "Bind pgdual_pinned_0", "S"});
}

TEST_CASE("A unit without time values to pin is left as it is", "[unit][proxy]") {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  protocol::encode(parse("", "INSERT INTO visits VALUES ($1)"), out);
  protocol::encode(bind(""), out);
  protocol::encode(protocol::Sync{}, out);
  const auto frames = protocol::split_frames(wire);
  const auto pins = pin_statements(frames, kTimes, [](std::string_view) { return std::nullopt; }, calls_now);
  CHECK(pins.empty());
  std::vector<std::byte> same;
  apply_pins(pins, frames, same);
  CHECK(same == wire);
}

// Two answers of pgdual's own, then the client's BindComplete and ReadyForQuery.
std::vector<std::byte> answers_with_own_first(char own_first, char own_second) {
  std::vector<std::byte> wire;
  protocol::Writer out{wire};
  for (const char tag : {own_first, own_second, '2'}) {
    out.begin(tag);
    out.finish();
  }
  protocol::encode(protocol::ReadyForQuery{}, out);
  return wire;
}

/// What SELECT pg_logical_emit_message(...) sent first in a unit answers: its row description, a
/// row of variable length and its tag.
void write_own_statement_answer(protocol::Writer& out) {
  out.begin('T');
  out.bytes(std::vector<std::byte>(29, std::byte{'r'}));
  out.finish();
  out.begin('D');
  out.bytes(std::vector<std::byte>(17, std::byte{'d'}));
  out.finish();
  out.begin('C');
  out.cstring("SELECT 1");
  out.finish();
}

/// Filters `stream`, whose first `own` answers after `client_first` CommandCompletes are pgdual's,
/// cut in two at every point.
void check_filtered_however_cut(const std::vector<std::byte>& stream, unsigned own,
                                const std::vector<std::byte>& client_part, unsigned client_first = 0) {
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    OwnAnswerFilter filter;
    filter.expect(own, client_first);
    std::vector<std::byte> seen;
    filter.filter(protocol::Bytes{stream}.first(cut), seen);
    filter.filter(protocol::Bytes{stream}.subspan(cut), seen);
    CHECK(seen == client_part);
    CHECK_FALSE(filter.active());
  }
}

TEST_CASE("pgdual's own answers leave the stream however it is cut", "[unit][proxy]") {
  const auto stream = answers_with_own_first('3', '1');
  const std::vector<std::byte> client_part(stream.begin() + 10, stream.end());
  check_filtered_however_cut(stream, 2, client_part);
}

TEST_CASE("An error instead of pgdual's own answer reaches the client", "[unit][proxy]") {
  std::vector<std::byte> stream;
  protocol::Writer out{stream};
  out.begin('3');
  out.finish();
  protocol::encode(protocol::ReadyForQuery{}, out);  // stands for the ErrorResponse a failed Parse draws
  OwnAnswerFilter filter;
  filter.expect(2);
  std::vector<std::byte> seen;
  filter.filter(stream, seen);
  CHECK(seen == std::vector<std::byte>(stream.begin() + 5, stream.end()));
  CHECK_FALSE(filter.active());
}

TEST_CASE("pgdual's own statement's whole answer leaves the stream however it is cut", "[unit][proxy]") {
  // What SELECT pg_logical_emit_message(...) sent first in a unit answers: its row description, a
  // row of variable length and its tag; then the client's own answers.
  std::vector<std::byte> stream;
  protocol::Writer out{stream};
  write_own_statement_answer(out);
  const auto own_size = stream.size();
  out.begin('C');
  out.cstring("INSERT 0 1");
  out.finish();
  protocol::encode(protocol::ReadyForQuery{}, out);
  const std::vector<std::byte> client_part(stream.begin() + static_cast<std::ptrdiff_t>(own_size), stream.end());
  check_filtered_however_cut(stream, 3, client_part);
}

TEST_CASE("A notice before pgdual's own answer reaches the client, and the own answer still leaves, however the "
          "stream is cut",
          "[unit][proxy]") {
  // A NOTICE the server raised parsing the whole Query (an identifier truncated) comes first.
  std::vector<std::byte> stream;
  protocol::Writer out{stream};
  out.begin('N');
  out.bytes(std::vector<std::byte>(23, std::byte{'n'}));
  out.finish();
  const auto notice_size = stream.size();
  write_own_statement_answer(out);
  const auto own_end = stream.size();
  out.begin('C');
  out.cstring("CREATE TABLE");
  out.finish();
  protocol::encode(protocol::ReadyForQuery{}, out);
  std::vector<std::byte> client_part(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(notice_size));
  client_part.insert(client_part.end(), stream.begin() + static_cast<std::ptrdiff_t>(own_end), stream.end());
  check_filtered_however_cut(stream, 3, client_part);
}

TEST_CASE("pgdual's own statement's answer after the client's first statements leaves the stream, theirs stay, "
          "however it is cut",
          "[unit][proxy]") {
  // BEGIN ISOLATION LEVEL SERIALIZABLE; SET application_name = 'x'; <marker>; INSERT ...
  std::vector<std::byte> stream;
  protocol::Writer out{stream};
  out.begin('C');
  out.cstring("BEGIN");
  out.finish();
  out.begin('S');
  out.cstring("application_name");
  out.cstring("x");
  out.finish();
  out.begin('C');
  out.cstring("SET");
  out.finish();
  const auto before_own = stream.size();
  write_own_statement_answer(out);
  const auto own_end = stream.size();
  out.begin('C');
  out.cstring("INSERT 0 1");
  out.finish();
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::in_transaction}, out);
  std::vector<std::byte> client_part(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(before_own));
  client_part.insert(client_part.end(), stream.begin() + static_cast<std::ptrdiff_t>(own_end), stream.end());
  check_filtered_however_cut(stream, 3, client_part, 2);
}

TEST_CASE("A client's statement before pgdual's own that fails skips it: its error and what follows reach the "
          "client",
          "[unit][proxy]") {
  std::vector<std::byte> stream;
  protocol::Writer out{stream};
  out.begin('C');
  out.cstring("BEGIN");
  out.finish();
  out.begin('E');
  out.bytes(std::vector<std::byte>(31, std::byte{'e'}));
  out.finish();
  out.begin('C');
  out.cstring("looks like an own answer, is not");
  out.finish();
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::failed}, out);
  check_filtered_however_cut(stream, 3, stream, 2);
}

TEST_CASE("pgdual's own answers after an extended-protocol BEGIN's answers leave the stream, the BEGIN's stay",
          "[unit][proxy]") {
  std::vector<std::byte> stream;
  protocol::Writer out{stream};
  for (const char tag : {'1', '2', 'n'}) {
    out.begin(tag);
    out.finish();
  }
  out.begin('C');
  out.cstring("BEGIN");
  out.finish();
  const auto before_own = stream.size();
  for (const char tag : {'3', '3', '1', '2'}) {
    out.begin(tag);
    out.finish();
  }
  out.begin('D');
  out.bytes(std::vector<std::byte>(17, std::byte{'d'}));
  out.finish();
  out.begin('C');
  out.cstring("SELECT 1");
  out.finish();
  const auto own_end = stream.size();
  for (const char tag : {'1', '2', 'n'}) {
    out.begin(tag);
    out.finish();
  }
  out.begin('C');
  out.cstring("INSERT 0 1");
  out.finish();
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::in_transaction}, out);
  std::vector<std::byte> client_part(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(before_own));
  client_part.insert(client_part.end(), stream.begin() + static_cast<std::ptrdiff_t>(own_end), stream.end());
  check_filtered_however_cut(stream, 6, client_part, 4);
}

}  // namespace
}  // namespace pgdual::proxy
