#include "proxy/admin/cutover_console.h"

#include <catch2/catch.hpp>

#include "proxy/admin/admin_console.h"

namespace pgdual::proxy {
namespace {

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

TEST_CASE("SHOW CUTOVER shows the gate's state, its writes and who paused them", "[unit][admin][cutover]") {
  const std::vector<std::string> columns{"state",     "writes_in_flight", "writes_waiting",
                                         "paused_by", "paused_ms",        "last_event"};
  SECTION("open") {
    const auto table = cutover_table({.in_flight = 4, .last_event = "RESUME WRITES by ops@10.0.0.5:50102"});
    CHECK(table.columns == columns);
    CHECK(table.rows == std::vector<std::vector<std::string>>{
                            {"open", "4", "0", "", "0", "RESUME WRITES by ops@10.0.0.5:50102"}});
  }
  SECTION("pausing") {
    const auto table = cutover_table({.state = WriteGate::State::pausing,
                                      .in_flight = 2,
                                      .waiting = 5,
                                      .paused_by = "ops@10.0.0.5:50102",
                                      .paused_for = milliseconds{1'250}});
    CHECK(table.rows == std::vector<std::vector<std::string>>{{"pausing", "2", "5", "ops@10.0.0.5:50102", "1250", ""}});
  }
  SECTION("paused") {
    const auto table = cutover_table({.state = WriteGate::State::paused,
                                      .waiting = 9,
                                      .paused_by = "ops",
                                      .paused_for = milliseconds{40'000},
                                      .last_event = "PAUSE WRITES by ops: paused"});
    CHECK(table.rows ==
          std::vector<std::vector<std::string>>{{"paused", "0", "9", "ops", "40000", "PAUSE WRITES by ops: paused"}});
  }
}

}  // namespace pgdual::proxy
