#include "proxy/admin/cutover_console.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <spdlog/logger.h>

#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/frame.h"
#include "protocol/message_tags.h"
#include "proxy/admin/admin_console.h"
#include "tests/unit/proxy/run_until.h"

namespace pgdual::proxy {
namespace {

using test::run_until;

using std::chrono::milliseconds;

AdminCommand command_of(std::string_view text) { return parse_admin_command(text).value(); }

AdminError error_of(std::string_view text) { return parse_admin_command(text).error(); }

std::vector<WriteGate::Holder> holders(std::size_t count) {
  std::vector<WriteGate::Holder> running;
  for (std::size_t i = 1; i <= count; ++i) running.push_back({.session = i, .held_for = milliseconds{100 * i}});
  return running;
}

}  // namespace

TEST_CASE("PAUSE WRITES waits 30 s by default, or TIMEOUT seconds, fractions allowed", "[unit][admin][cutover]") {
  const auto bare = command_of("PAUSE WRITES");
  CHECK(bare.verb == AdminVerb::pause_writes);
  CHECK(bare.pause_timeout == milliseconds{30'000});
  CHECK(command_of("pause writes timeout 5;").pause_timeout == milliseconds{5'000});
  CHECK(command_of("  Pause Writes Timeout 0.5 ; ").pause_timeout == milliseconds{500});
  CHECK(command_of("PAUSE WRITES TIMEOUT 0.001").pause_timeout == milliseconds{1});
  CHECK(command_of("PAUSE WRITES TIMEOUT 3600").pause_timeout == milliseconds{3'600'000});
  CHECK(command_of("PAUSE WRITES TIMEOUT 2.5").pause_timeout == milliseconds{2'500});
}

TEST_CASE("PAUSE WRITES TIMEOUT refuses seconds out of range or no number, naming them", "[unit][admin][cutover]") {
  for (const auto* bad : {"0", "-1", "0.0004", "3600.5", "3601", "x", "5s", "nan", "inf", "1e400", "'5'"}) {
    const auto text = std::string{"PAUSE WRITES TIMEOUT "} + bad;
    INFO(text);
    const auto error = error_of(text);
    CHECK(error.sqlstate == "22023");
    CHECK(error.message ==
          std::string{"PAUSE WRITES TIMEOUT must be a number of seconds from 0.001 to 3600, not \""} + bad + "\"");
  }
}

TEST_CASE("SWAP ROLES waits 30 s by default, or TIMEOUT seconds, refused out of range; FORCE after ROLES",
          "[unit][admin][cutover]") {
  const auto bare = command_of("SWAP ROLES");
  CHECK(bare.verb == AdminVerb::swap_roles);
  CHECK(bare.pause_timeout == milliseconds{30'000});
  CHECK(command_of("swap roles timeout 90;").pause_timeout == milliseconds{90'000});
  const auto error = error_of("SWAP ROLES TIMEOUT 0");
  CHECK(error.sqlstate == "22023");
  CHECK(error.message == "SWAP ROLES TIMEOUT must be a number of seconds from 0.001 to 3600, not \"0\"");
  CHECK_FALSE(bare.force);
  const auto forced = command_of("SWAP ROLES FORCE TIMEOUT 60");
  CHECK(forced.force);
  CHECK(forced.pause_timeout == milliseconds{60'000});
  CHECK(command_of("swap roles force").force);
  for (const auto* bad : {"SWAP", "SWAP WRITES", "SWAP ROLES NOW", "SWAP ROLES TIMEOUT", "SWAP ROLES TIMEOUT 5 FORCE",
                          "SWAP FORCE ROLES"}) {
    INFO(bad);
    CHECK(error_of(bad).sqlstate == "42601");
    CHECK(error_of(bad).message == "expected SWAP ROLES [FORCE] [TIMEOUT seconds]");
  }
}

TEST_CASE("RESUME WRITES and SHOW CUTOVER take no argument; RESUME APPLY is still the apply's",
          "[unit][admin][cutover]") {
  CHECK(command_of("RESUME WRITES").verb == AdminVerb::resume_writes);
  CHECK(command_of("resume writes;").verb == AdminVerb::resume_writes);
  CHECK(command_of("SHOW CUTOVER").verb == AdminVerb::show_cutover);
  CHECK(command_of("show Cutover;").verb == AdminVerb::show_cutover);
  CHECK(command_of("RESUME APPLY writes").verb == AdminVerb::resume_apply);
  CHECK(command_of("RESUME APPLY writes").database == "writes");
}

TEST_CASE("Other forms of PAUSE, RESUME WRITES and SHOW CUTOVER are syntax errors", "[unit][admin][cutover]") {
  for (const auto* bad : {"PAUSE", "PAUSE READS", "PAUSE WRITES NOW", "PAUSE WRITES TIMEOUT", "PAUSE WRITES FOR 5",
                          "PAUSE WRITES TIMEOUT 5 6", "PAUSE TIMEOUT 5", "RESUME WRITES NOW"}) {
    INFO(bad);
    CHECK(error_of(bad).sqlstate == "42601");
  }
  CHECK(error_of("PAUSE WRITES NOW").message == "expected PAUSE WRITES [TIMEOUT seconds]");
  CHECK(error_of("RESUME WRITES NOW").message == "expected RESUME WRITES");
  CHECK(error_of("SHOW CUTOVER NOW").sqlstate == "42601");
  CHECK(error_of("RESUME").message == "expected RESUME APPLY database");
}

TEST_CASE("A pause that timed out names the sessions still writing, ten at most", "[unit][admin][cutover]") {
  CHECK(pause_timed_out_message({{.session = 7, .held_for = milliseconds{5012}},
                                 {.session = 9, .held_for = milliseconds{800}}},
                                milliseconds{5'000}) ==
        "writes could not be paused within 5 s: 2 write transactions still running (session 7 for 5012 ms, "
        "session 9 for 800 ms); writes go on");
  CHECK(pause_timed_out_message({{.session = 3, .held_for = milliseconds{600}}}, milliseconds{500}) ==
        "writes could not be paused within 0.5 s: 1 write transaction still running (session 3 for 600 ms); "
        "writes go on");
  CHECK(pause_timed_out_message(holders(12), milliseconds{30'000}) ==
        "writes could not be paused within 30 s: 12 write transactions still running (session 1 for 100 ms, "
        "session 2 for 200 ms, session 3 for 300 ms, session 4 for 400 ms, session 5 for 500 ms, session 6 for "
        "600 ms, session 7 for 700 ms, session 8 for 800 ms, session 9 for 900 ms, session 10 for 1000 ms, and 2 "
        "more); writes go on");
  CHECK(pause_timed_out_message(holders(10), milliseconds{1'500}).ends_with("session 10 for 1000 ms); writes go on"));
}

TEST_CASE("SHOW CUTOVER shows the gate's state, its writes and who paused them, and the roles",
          "[unit][admin][cutover]") {
  const std::vector<std::string> columns{"state",     "writes_in_flight", "writes_waiting",  "paused_by",
                                         "paused_ms", "last_event",       "drain_lag_bytes", "primary",
                                         "file_primary", "swaps",         "last_swap"};
  const RolesFacts as_started{.primary = "onprem", .file_primary = "onprem", .swaps = 0, .last_swap = ""};
  SECTION("open") {
    const auto table =
        cutover_table({.in_flight = 4, .last_event = "RESUME WRITES by ops@10.0.0.5:50102"}, std::nullopt, as_started);
    CHECK(table.columns == columns);
    CHECK(table.rows == std::vector<std::vector<std::string>>{
                            {"open", "4", "0", "", "0", "RESUME WRITES by ops@10.0.0.5:50102", "", "onprem", "onprem",
                             "0", ""}});
  }
  SECTION("pausing") {
    const auto table = cutover_table({.state = WriteGate::State::pausing,
                                      .in_flight = 2,
                                      .waiting = 5,
                                      .paused_by = "ops@10.0.0.5:50102",
                                      .paused_for = milliseconds{1'250}},
                                     std::uint64_t{8192}, as_started);
    CHECK(table.rows == std::vector<std::vector<std::string>>{
                            {"pausing", "2", "5", "ops@10.0.0.5:50102", "1250", "", "8192", "onprem", "onprem", "0", ""}});
  }
  SECTION("paused") {
    const auto table = cutover_table({.state = WriteGate::State::paused,
                                      .waiting = 9,
                                      .paused_by = "ops",
                                      .paused_for = milliseconds{40'000},
                                      .last_event = "PAUSE WRITES by ops: paused"},
                                     std::uint64_t{0}, as_started);
    CHECK(table.rows == std::vector<std::vector<std::string>>{{"paused", "0", "9", "ops", "40000",
                                                               "PAUSE WRITES by ops: paused", "0", "onprem", "onprem",
                                                               "0", ""}});
  }
  SECTION("swapping, then swapped: the running primary differs from the file's") {
    const RolesFacts swapped{.primary = "cloud", .file_primary = "onprem", .swaps = 1,
                             .last_swap = "by ops at 2026-12-07T20:00:00Z"};
    const auto table = cutover_table({.state = WriteGate::State::paused, .paused_by = "ops", .swapping_by = "ops"},
                                     std::uint64_t{0}, swapped);
    CHECK(table.rows.at(0).at(0) == "swapping");
    CHECK(std::vector<std::string>(table.rows.at(0).begin() + 7, table.rows.at(0).end()) ==
          std::vector<std::string>{"cloud", "onprem", "1", "by ops at 2026-12-07T20:00:00Z"});
  }
}

namespace {

using namespace std::chrono_literals;

/// What a console command answered: its table's one row, or its error; and whether ReadyForQuery ended it.
struct Answer {
  std::vector<std::optional<std::string>> row{};
  std::string sqlstate{};
  std::string message{};
  bool ready = false;
};

Answer read_answer(const std::vector<std::byte>& out) {
  Answer answer;
  for (const auto& frame : protocol::split_frames(out)) {
    if (frame.tag == protocol::backend_tag::kDataRow) {
      answer.row = protocol::OwnedDataRow{protocol::decode_data_row(frame.body).value()}.columns;
    } else if (frame.tag == protocol::backend_tag::kErrorResponse) {
      const auto error = protocol::decode_error_response(frame.body).value();
      answer.sqlstate = error.sqlstate();
      answer.message = error.message();
    } else if (frame.tag == protocol::backend_tag::kReadyForQuery) {
      answer.ready = true;
    }
  }
  return answer;
}

spdlog::logger& test_log() {
  static const auto log = std::make_shared<spdlog::logger>("cutover-console-test");
  return *log;
}

/// What the commands wrote to the audit trail, as "who: what".
std::vector<std::string>& audited() {
  static std::vector<std::string> lines;
  return lines;
}

void audit(const std::string& who, std::string what) { audited().push_back(who + ": " + what); }

// The command lives in this frame, as it lives in the console's loop while it runs.
Awaitable<std::vector<std::byte>> pause_writes(std::chrono::milliseconds timeout, WriteGate& gate, std::string who) {
  const AdminCommand command{.verb = AdminVerb::pause_writes, .pause_timeout = timeout};
  co_return co_await answer_pause_writes(command, gate, test_log(), audit, std::move(who));
}

/// A console session's PAUSE WRITES on `io`: `answer` is set once it has answered.
void spawn_pause(asio::io_context& io, WriteGate& gate, std::chrono::milliseconds timeout, std::string who,
                 std::optional<Answer>& answer) {
  asio::co_spawn(io, pause_writes(timeout, gate, std::move(who)),
                 [&answer](std::exception_ptr error, std::vector<std::byte> out) {
                   if (error) std::rethrow_exception(error);
                   answer = read_answer(out);
                 });
}

Answer resume(WriteGate& gate, const std::string& who) {
  std::vector<std::byte> out;
  resume_writes(gate, test_log(), audit, who, out);
  return read_answer(out);
}

std::vector<std::string> shown(const WriteGate& gate) {
  return cutover_table(gate.snapshot(), std::nullopt, {}).rows.at(0);
}

}  // namespace

TEST_CASE("SHOW CUTOVER follows a gate from open through pausing and paused to open again",
          "[unit][admin][cutover]") {
  asio::io_context io;
  WriteGate gate;
  audited().clear();
  CHECK(shown(gate) == std::vector<std::string>{"open", "0", "0", "", "0", "", "", "", "", "0", ""});
  auto running = gate.join(7);
  std::optional<Answer> paused;
  spawn_pause(io, gate, 10s, "ops@10.0.0.5:50102", paused);
  run_until(io, [&] { return gate.snapshot().state == WriteGate::State::pausing; });
  auto pausing = shown(gate);
  CHECK(pausing[0] == "pausing");
  CHECK(pausing[1] == "1");
  CHECK(pausing[3] == "ops@10.0.0.5:50102");

  running.release();
  run_until(io, [&] { return paused.has_value(); });
  CHECK(paused->sqlstate.empty());
  REQUIRE(paused->row.size() == 3);
  CHECK(paused->row[0] == "paused");
  CHECK(paused->row[2] == "1");
  CHECK(paused->ready);
  const auto in_force = shown(gate);
  CHECK(in_force[0] == "paused");
  CHECK(in_force[1] == "0");
  CHECK(in_force[3] == "ops@10.0.0.5:50102");
  CHECK(in_force[5].starts_with("PAUSE by ops@10.0.0.5:50102: paused after "));

  const auto resumed = resume(gate, "ops@10.0.0.6:50200");
  CHECK(resumed.sqlstate.empty());
  REQUIRE(resumed.row.size() == 3);
  CHECK(resumed.row[0] == "open");
  CHECK(resumed.row[2] == "0");
  const auto reopened = shown(gate);
  CHECK(reopened[0] == "open");
  CHECK(reopened[3].empty());
  CHECK(reopened[5].starts_with("RESUME by ops@10.0.0.6:50200 after "));
  CHECK(resume(gate, "ops").sqlstate == "55000");
  CHECK(resume(gate, "ops").message == "writes are not paused");
  // Each step that took effect is on the audit trail, with who ran it.
  REQUIRE(audited().size() == 2);
  CHECK(audited()[0].starts_with("ops@10.0.0.5:50102: PAUSE WRITES: paused, 1 write transaction running drained in "));
  CHECK(audited()[1].starts_with("ops@10.0.0.6:50200: RESUME WRITES: writes go on after "));
}

TEST_CASE("A pause that cannot drain in time answers 55P03 naming the session, and writes go on",
          "[unit][admin][cutover]") {
  asio::io_context io;
  WriteGate gate;
  const auto running = gate.join(7);
  std::optional<Answer> paused;
  spawn_pause(io, gate, 50ms, "ops", paused);
  run_until(io, [&] { return paused.has_value(); });
  CHECK(paused->sqlstate == "55P03");
  CHECK(paused->message.starts_with(
      "writes could not be paused within 0.05 s: 1 write transaction still running (session 7 for "));
  CHECK(paused->message.ends_with(" ms); writes go on"));
  CHECK(paused->row.empty());
  CHECK(paused->ready);
  CHECK(gate.snapshot().state == WriteGate::State::open);
  REQUIRE_FALSE(audited().empty());
  CHECK(audited().back().starts_with("ops: PAUSE WRITES failed: writes could not be paused within 0.05 s"));
}

TEST_CASE("A second pause, a pause ended by RESUME and a pause at shutdown are refused, naming why",
          "[unit][admin][cutover]") {
  asio::io_context io;
  WriteGate gate;
  std::optional<Answer> answer;
  SECTION("a pause under way") {
    const auto running = gate.join(7);
    spawn_pause(io, gate, 10s, "first", answer);
    run_until(io, [&] { return gate.snapshot().state == WriteGate::State::pausing; });
    std::optional<Answer> second;
    spawn_pause(io, gate, 10s, "second", second);
    run_until(io, [&] { return second.has_value(); });
    CHECK(second->sqlstate == "55000");
    CHECK(second->message == "a pause is under way");

    CHECK(resume(gate, "ops@10.0.0.6:50200").row.at(0) == "open");
    run_until(io, [&] { return answer.has_value(); });
    CHECK(answer->sqlstate == "55000");
    CHECK(answer->message ==
          "the pause was ended by RESUME WRITES from ops@10.0.0.6:50200 before the running writes ended; writes go on");
  }
  SECTION("writes paused already") {
    spawn_pause(io, gate, 1s, "first@10.0.0.5:50102", answer);
    run_until(io, [&] { return answer.has_value(); });
    std::optional<Answer> second;
    spawn_pause(io, gate, 1s, "second", second);
    run_until(io, [&] { return second.has_value(); });
    CHECK(second->sqlstate == "55000");
    CHECK(second->message == "writes are already paused (by first@10.0.0.5:50102)");
  }
  SECTION("pgdual shutting down") {
    const auto running = gate.join(7);
    spawn_pause(io, gate, 10s, "ops", answer);
    run_until(io, [&] { return gate.snapshot().state == WriteGate::State::pausing; });
    gate.shut_down();
    run_until(io, [&] { return answer.has_value(); });
    CHECK(answer->sqlstate == "57P01");
    CHECK(answer->message == "pgdual is shutting down; writes go on");
  }
}

}  // namespace pgdual::proxy
