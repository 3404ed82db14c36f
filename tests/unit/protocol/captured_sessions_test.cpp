// Real psql and pgbench sessions against PostgreSQL 15, recorded by
// tests/data/wire/record_session.py (see the README there): framing, typed
// decoding, byte-exact round trips and the request tracker, all on bytes a
// real server and real clients produced.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/authentication.h"
#include "protocol/backend_messages.h"
#include "protocol/frame.h"
#include "protocol/frame_scanner.h"
#include "protocol/frontend_messages.h"
#include "protocol/request_tracker.h"
#include "protocol/startup.h"
#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::encoded;
using pgdual::protocol::test::to_hex;

namespace {

const std::filesystem::path kWireDir = std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests" / "data" / "wire";

/// The startup packet has no tag; it is reported with tag '\0'.
struct Message {
  char tag;
  Bytes body;
  Bytes wire;
};

struct Capture {
  std::string name;
  std::vector<std::byte> frontend;
  std::vector<std::byte> backend;
  std::size_t frontend_lines = 0;  ///< messages as the recorder wrote them, one per line
  std::size_t backend_lines = 0;
  std::string order;               ///< 'F'/'B' per message, in the order the relay saw them
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in{path};
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t message_lines(const std::string& text) {
  std::size_t count = 0;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != '#') ++count;
  }
  return count;
}

// Every recorded session: each NAME.frontend.hex with its .backend.hex and .order.
std::vector<std::string> capture_names() {
  const std::string suffix = ".frontend.hex";
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator{kWireDir}) {
    const auto file = entry.path().filename().string();
    if (file.size() > suffix.size() && file.ends_with(suffix)) {
      names.push_back(file.substr(0, file.size() - suffix.size()));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Capture load(const std::string& name) {
  Capture capture;
  capture.name = name;
  const auto frontend_text = read_text(kWireDir / (name + ".frontend.hex"));
  const auto backend_text = read_text(kWireDir / (name + ".backend.hex"));
  capture.frontend = bytes_from_hex(frontend_text);
  capture.backend = bytes_from_hex(backend_text);
  capture.frontend_lines = message_lines(frontend_text);
  capture.backend_lines = message_lines(backend_text);
  capture.order = read_text(kWireDir / (name + ".order"));
  capture.order.erase(std::remove(capture.order.begin(), capture.order.end(), '\n'), capture.order.end());
  return capture;
}

std::vector<Message> split_tagged(Bytes stream, std::vector<Message> messages = {}) {
  while (!stream.empty()) {
    const auto frame = peek_frame(stream, kDefaultMaxMessageBody);
    REQUIRE(frame);
    messages.push_back({frame->tag, frame->body, stream.first(frame->wire_size())});
    stream = stream.subspan(frame->wire_size());
  }
  return messages;
}

std::vector<Message> split_frontend(Bytes stream) {
  const auto startup = decode_startup_packet(stream);
  REQUIRE(startup);
  REQUIRE(std::holds_alternative<StartupMessage>(startup->packet));
  const auto packet = stream.first(startup->consumed);
  return split_tagged(stream.subspan(startup->consumed), {{'\0', packet.subspan(8), packet}});
}

// Frames `stream` as a session's read loop would, reading `chunk` bytes at a time.
std::vector<std::string> frame_in_chunks(Bytes stream, std::size_t chunk) {
  std::vector<std::string> wires;
  std::vector<std::byte> buffer;
  while (!stream.empty() || !buffer.empty()) {
    const auto read = stream.first(std::min(chunk, stream.size()));
    buffer.insert(buffer.end(), read.begin(), read.end());
    stream = stream.subspan(read.size());
    for (auto frame = peek_frame(buffer, kDefaultMaxMessageBody); frame;
         frame = peek_frame(buffer, kDefaultMaxMessageBody)) {
      wires.push_back(to_hex(Bytes{buffer}.first(frame->wire_size())));
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(frame->wire_size()));
    }
    REQUIRE((!stream.empty() || buffer.empty()));
  }
  return wires;
}

// The 'p' messages answer the backend's authentication requests in order;
// each request says which 'p' message answers it.
std::vector<char> expected_password_kinds(const std::vector<Message>& backend) {
  std::vector<char> kinds;  // 'i' SASLInitialResponse, 's' SASLResponse, 'p' PasswordMessage
  for (const auto& message : backend) {
    if (message.tag != backend_tag::kAuthenticationRequest) continue;
    const auto request = decode_authentication(message.body);
    REQUIRE(request);
    if (std::holds_alternative<AuthenticationSASL>(*request)) kinds.push_back('i');
    if (std::holds_alternative<AuthenticationSASLContinue>(*request)) kinds.push_back('s');
    if (std::holds_alternative<AuthenticationCleartextPassword>(*request) ||
        std::holds_alternative<AuthenticationMD5Password>(*request)) {
      kinds.push_back('p');
    }
  }
  return kinds;
}

std::string round_trip_password(char kind, Bytes body) {
  if (kind == 'i') return to_hex(encoded(*decode_sasl_initial_response(body)));
  if (kind == 's') return to_hex(encoded(*decode_sasl_response(body)));
  return to_hex(encoded(*decode_password_message(body)));
}

std::string round_trip_frontend(const Message& message) {
  if (message.tag == '\0') {
    return to_hex(encoded(std::get<StartupMessage>(decode_startup_packet(message.wire)->packet)));
  }
  const auto decoded = decode_frontend_message(Frame{message.tag, message.body});
  REQUIRE(decoded);
  return to_hex(encoded(*decoded));
}

// One word per backend message, as request_tracker_test.cpp writes them.
std::string describe(char tag, const TrackedResponse& response) {
  std::string word{tag};
  if (response.unexpected) return word + ":UNEXPECTED";
  if (response.asynchronous) return word + ":async";
  word += ':';
  word += to_string(response.request);
  if (response.completes) word += '!';
  return word;
}

// Feeds the tracker everything after the startup phase (which ends with the
// backend's first ReadyForQuery), interleaved as `order` says.
std::vector<std::string> track(const std::vector<Message>& frontend, const std::vector<Message>& backend,
                               const std::string& order, RequestTracker& tracker) {
  std::vector<std::string> trace;
  std::size_t next_frontend = 0;
  std::size_t next_backend = 0;
  bool started = false;
  for (char side : order) {
    if (side == 'F') {
      const auto& message = frontend.at(next_frontend++);
      if (started) tracker.on_frontend(message.tag);
      continue;
    }
    const auto& message = backend.at(next_backend++);
    if (started) trace.push_back(describe(message.tag, tracker.on_backend(message.tag)));
    started = started || message.tag == backend_tag::kReadyForQuery;
  }
  CHECK(next_frontend == frontend.size());
  CHECK(next_backend == backend.size());
  return trace;
}

// Where the startup phase ends in `order`: just after the backend's first ReadyForQuery.
std::size_t startup_length(const std::string& order, const std::vector<Message>& backend) {
  std::size_t next_backend = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (order[i] == 'B' && backend.at(next_backend++).tag == backend_tag::kReadyForQuery) return i + 1;
  }
  FAIL("the session never became ready for queries");
  return order.size();
}

// The same messages with the frontend as far ahead as it can be: everything
// it sent after startup arrives before any answer.
std::string frontend_first(const std::string& order, const std::vector<Message>& backend) {
  const auto startup = startup_length(order, backend);
  auto session = order.substr(startup);
  std::stable_partition(session.begin(), session.end(), [](char side) { return side == 'F'; });
  return order.substr(0, startup) + session;
}

}  // namespace

TEST_CASE("The captured sessions are all there", "[unit][protocol]") {
  const auto names = capture_names();
  for (const char* expected : {"psql_multi_statement", "psql_copy", "psql_copy_error", "pgbench_init",
                               "pgbench_select_extended.2", "pgbench_select_prepared.2"}) {
    CAPTURE(expected);
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  }
}

TEST_CASE("Captured streams split into exactly the recorded messages", "[unit][protocol]") {
  const auto capture = load(GENERATE(from_range(capture_names())));
  CAPTURE(capture.name);
  const auto frontend = split_frontend(capture.frontend);
  const auto backend = split_tagged(capture.backend);
  CHECK(frontend.size() == capture.frontend_lines);
  CHECK(backend.size() == capture.backend_lines);
  CHECK(capture.order.size() == frontend.size() + backend.size());
  CHECK(static_cast<std::size_t>(std::count(capture.order.begin(), capture.order.end(), 'F')) == frontend.size());
  const auto startup = std::get<StartupMessage>(decode_startup_packet(capture.frontend)->packet);
  CHECK(startup.parameter("user") == "postgres");
  CHECK(frontend.back().tag == frontend_tag::kTerminate);
}

TEST_CASE("Captured streams frame the same whatever the read sizes", "[unit][protocol]") {
  const auto capture = load(GENERATE(from_range(capture_names())));
  const auto startup = decode_startup_packet(capture.frontend);
  REQUIRE(startup);
  const auto direction = GENERATE(as<std::string>{}, "frontend", "backend");
  const auto stream =
      direction == "backend" ? Bytes{capture.backend} : Bytes{capture.frontend}.subspan(startup->consumed);
  CAPTURE(capture.name, direction);
  std::vector<std::string> expected;
  std::string tags;
  for (const auto& message : split_tagged(stream)) {
    expected.push_back(to_hex(message.wire));
    tags += message.tag;
  }
  for (const std::size_t chunk : {1, 7, 4096, 1 << 20}) {
    CAPTURE(chunk);
    CHECK(frame_in_chunks(stream, chunk) == expected);

    std::string scanned;
    FrameScanner scanner{kDefaultMaxMessageBody};
    for (auto rest = stream; !rest.empty(); rest = rest.subspan(std::min(chunk, rest.size()))) {
      const auto error = scanner.scan(rest.first(std::min(chunk, rest.size())),
                                      [&scanned](const FrameHeader& header) { scanned += header.tag; });
      REQUIRE_FALSE(error);
    }
    CHECK(scanned == tags);
    CHECK(scanner.at_boundary());
  }
}

TEST_CASE("Every captured message decodes and encodes back byte for byte", "[unit][protocol]") {
  const auto capture = load(GENERATE(from_range(capture_names())));
  CAPTURE(capture.name);
  const auto backend = split_tagged(capture.backend);
  for (const auto& message : backend) {
    CAPTURE(message.tag);
    const auto decoded = decode_backend_message(Frame{message.tag, message.body});
    REQUIRE(decoded);
    CHECK(to_hex(encoded(*decoded)) == to_hex(message.wire));
  }
  const auto password_kinds = expected_password_kinds(backend);
  std::size_t next_password = 0;
  for (const auto& message : split_frontend(capture.frontend)) {
    CAPTURE(message.tag);
    if (message.tag == frontend_tag::kPasswordMessage) {
      REQUIRE(next_password < password_kinds.size());
      CHECK(round_trip_password(password_kinds[next_password++], message.body) == to_hex(message.wire));
    } else {
      CHECK(round_trip_frontend(message) == to_hex(message.wire));
    }
  }
  CHECK(next_password == password_kinds.size());
}

TEST_CASE("The request tracker follows every captured session to idle", "[unit][protocol]") {
  const auto capture = load(GENERATE(from_range(capture_names())));
  CAPTURE(capture.name);
  const auto frontend = split_frontend(capture.frontend);
  const auto backend = split_tagged(capture.backend);

  RequestTracker as_recorded;
  const auto trace = track(frontend, backend, capture.order, as_recorded);
  CAPTURE(trace);
  CHECK(std::none_of(trace.begin(), trace.end(), [](const std::string& word) {
    return word.ends_with("UNEXPECTED");
  }));
  CHECK(as_recorded.idle());
  CHECK(as_recorded.pending_syncs() == 0);
  CHECK(as_recorded.violation() == Violation::none);

  RequestTracker pipelined;
  CHECK(track(frontend, backend, frontend_first(capture.order, backend), pipelined) == trace);
  CHECK(pipelined.idle());
  CHECK(pipelined.violation() == Violation::none);
}

TEST_CASE("The captured psql session shows its notice, parameter change and error", "[unit][protocol]") {
  const auto capture = load("psql_multi_statement");
  std::vector<std::string> seen;
  for (const auto& message : split_tagged(capture.backend)) {
    if (message.tag == backend_tag::kErrorResponse) {
      seen.push_back("error " + std::string{decode_error_response(message.body)->sqlstate()});
    }
    if (message.tag == backend_tag::kNoticeResponse) {
      seen.push_back("notice " + std::string{decode_notice_response(message.body)->sqlstate()});
    }
    if (message.tag == backend_tag::kParameterStatus) {
      const auto status = decode_parameter_status(message.body);
      if (status->name == "application_name") seen.push_back("application_name " + std::string{status->value});
    }
  }
  CHECK(seen == std::vector<std::string>{"application_name psql", "application_name pgdual-wire", "notice 00000",
                                         "error 22012"});
}

TEST_CASE("The captured COPY TO STDOUT returns the rows COPY FROM STDIN sent", "[unit][protocol]") {
  const auto capture = load("psql_copy");
  std::string sent;
  for (const auto& message : split_frontend(capture.frontend)) {
    if (message.tag == frontend_tag::kCopyData) sent += as_text(decode_copy_data(message.body)->data);
  }
  std::string received;
  for (const auto& message : split_tagged(capture.backend)) {
    if (message.tag == backend_tag::kCopyData) received += as_text(decode_copy_data(message.body)->data);
  }
  CHECK(sent == "1\tone\n2\t\\N\n3\tthree\n");
  CHECK(received == sent);
}

TEST_CASE("The captured pgbench session binds one text parameter per select", "[unit][protocol]") {
  const auto capture = load("pgbench_select_extended.2");
  int binds = 0;
  for (const auto& message : split_frontend(capture.frontend)) {
    if (message.tag != frontend_tag::kBind) continue;
    const auto bind = decode_bind(message.body);
    REQUIRE(bind);
    REQUIRE(bind->parameters.size() == 1);
    const auto aid = *bind->parameters.begin();
    REQUIRE(aid);
    CHECK(std::stoi(std::string{as_text(*aid)}) >= 1);
    ++binds;
  }
  CHECK(binds == 5);
}
