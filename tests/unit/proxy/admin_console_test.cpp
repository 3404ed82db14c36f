#include "proxy/admin/admin_console.h"
#include "proxy/admin/console_commands.h"

#include <catch2/catch.hpp>

#include "protocol/backend_messages.h"
#include "protocol/frame.h"
#include "protocol/message_tags.h"

namespace pgdual::proxy {
namespace {

AdminVerb verb_of(std::string_view text) { return parse_admin_command(text).value().verb; }

AdminError error_of(std::string_view text) { return parse_admin_command(text).error(); }

}  // namespace

TEST_CASE("The console reads its commands in any case, with or without a semicolon", "[unit][admin]") {
  CHECK(verb_of("SHOW BACKENDS") == AdminVerb::show_backends);
  CHECK(verb_of("show stats;") == AdminVerb::show_stats);
  CHECK(verb_of("  Show   Sessions ; ") == AdminVerb::show_sessions);
  CHECK(verb_of("SHOW CONFLICTS") == AdminVerb::show_conflicts);
  CHECK(verb_of("show config") == AdminVerb::show_config);
  CHECK(verb_of("SHOW WAL") == AdminVerb::show_wal);
  CHECK(verb_of("SHOW INSTANCES") == AdminVerb::show_instances);
  CHECK(verb_of("RELOAD;") == AdminVerb::reload);
}

TEST_CASE("SET read_percent takes a number from 0 to 100, fractions too", "[unit][admin]") {
  CHECK(parse_admin_command("SET read_percent = 10").value().read_percent == 10);
  CHECK(parse_admin_command("set READ_PERCENT to 0.5;").value().read_percent == 0.5);
  CHECK(parse_admin_command("SET read_percent='100'").value().read_percent == 100);
  CHECK(parse_admin_command("SET read_percent = 0").value().verb == AdminVerb::set_read_percent);
  for (const auto* bad : {"SET read_percent = 150", "SET read_percent = -1", "SET read_percent = ten",
                          "SET read_percent = nan", "SET read_percent = 1e400"}) {
    INFO(bad);
    CHECK(error_of(bad).sqlstate == "22023");
  }
  CHECK(error_of("SET read_percent = 150").message ==
        "invalid value for parameter \"read_percent\": \"150\"; it takes a number from 0 to 100");
  CHECK(error_of("SET work_mem = 10").sqlstate == "42704");
}

TEST_CASE("SET read_percent = N FORCE insists past the ramp's guard", "[unit][admin]") {
  CHECK_FALSE(parse_admin_command("SET read_percent = 10").value().force);
  const auto forced = parse_admin_command("set read_percent to 10 Force;").value();
  CHECK(forced.force);
  CHECK(forced.read_percent == 10);
  CHECK(error_of("SET read_percent = 10 NOW").sqlstate == "42601");
  CHECK(error_of("SET read_percent = 10 FORCE FORCE").sqlstate == "42601");
}

TEST_CASE("SET shadow_percent takes a number from 0 to 100, and no FORCE", "[unit][admin]") {
  const auto set = parse_admin_command("SET shadow_percent = 10").value();
  CHECK(set.verb == AdminVerb::set_shadow_percent);
  CHECK(set.shadow_percent == 10);
  CHECK(parse_admin_command("set SHADOW_PERCENT to 0.5;").value().shadow_percent == 0.5);
  CHECK(parse_admin_command("SET shadow_percent='100'").value().shadow_percent == 100);
  CHECK(parse_admin_command("SET shadow_percent = 0").value().verb == AdminVerb::set_shadow_percent);
  for (const auto* bad : {"SET shadow_percent = 150", "SET shadow_percent = -1", "SET shadow_percent = ten",
                          "SET shadow_percent = nan", "SET shadow_percent = 1e400", "SET shadow_percent = ''"}) {
    INFO(bad);
    CHECK(error_of(bad).sqlstate == "22023");
  }
  CHECK(error_of("SET shadow_percent = 101").message ==
        "invalid value for parameter \"shadow_percent\": \"101\"; it takes a number from 0 to 100");
  const auto forced = error_of("SET shadow_percent = 10 FORCE");
  CHECK(forced.sqlstate == "42601");
  CHECK(forced.message ==
        "SET shadow_percent takes no FORCE: shadow reads never change what a client gets, so nothing refuses them");
  CHECK(error_of("SET shadow_percent").sqlstate == "42601");
  CHECK(error_of("SET shadow_percents = 10").sqlstate == "42704");
}

TEST_CASE("Anything else is a syntax error that lists the commands", "[unit][admin]") {
  for (const auto* bad : {"SELECT 1", "SHOW", "SHOW POOLS", "SHOW BACKENDS NOW", "SET read_percent", "RELOAD ALL"}) {
    INFO(bad);
    const auto error = error_of(bad);
    CHECK(error.sqlstate == "42601");
    CHECK(error.message.find("SHOW BACKENDS, SHOW STATS") != std::string::npos);
    CHECK(error.message.find("SET read_percent = N [FORCE], SET shadow_percent = N, RELOAD") != std::string::npos);
  }
}

TEST_CASE("HOLD APPLY and RESUME APPLY name a database as written, and an LSN", "[unit][admin][wal_hold]") {
  const auto next = parse_admin_command("hold apply Ehr;").value();
  CHECK(next.verb == AdminVerb::hold_apply);
  CHECK(next.database == "Ehr");
  CHECK(next.at == 0);
  const auto at = parse_admin_command("HOLD APPLY \"my \"\"db\"\"\" AT '16/B374D848'").value();
  CHECK(at.database == "my \"db\"");
  CHECK(at.at == 0x16'B374'D848);
  CHECK(parse_admin_command("HOLD APPLY ehr at 0/10").value().at == 0x10);
  const auto start = parse_admin_command("start apply \"Ward 7\";").value();
  CHECK(start.verb == AdminVerb::start_apply);
  CHECK(start.database == "Ward 7");
  const auto resume = parse_admin_command("Resume Apply ehr").value();
  CHECK(resume.verb == AdminVerb::resume_apply);
  CHECK(resume.database == "ehr");
  for (const auto* bad : {"HOLD APPLY", "HOLD ehr", "HOLD APPLY ehr AT", "HOLD APPLY ehr UNTIL '0/1'",
                          "RESUME APPLY ehr AT '0/1'", "HOLD APPLY \"ehr", "HOLD APPLY \"\"", "START APPLY",
                          "START APPLY ehr AT '0/1'"}) {
    INFO(bad);
    CHECK(error_of(bad).sqlstate == "42601");
  }
  const auto lsn = error_of("HOLD APPLY ehr AT 'soon'");
  CHECK(lsn.sqlstate == "22P02");
  CHECK(lsn.message == "invalid input syntax for type pg_lsn: \"soon\"");
}

TEST_CASE("A console table is a text RowDescription, its DataRows and SHOW", "[unit][admin]") {
  std::vector<std::byte> out;
  encode_table({{"name", "value"}, {{"sessions", "3"}, {"read_percent", "10%"}}}, out);
  const auto frames = protocol::split_frames(out);
  REQUIRE(frames.size() == 4);
  CHECK(frames[0].tag == protocol::backend_tag::kRowDescription);
  CHECK(frames[1].tag == protocol::backend_tag::kDataRow);
  CHECK(frames[3].tag == protocol::backend_tag::kCommandComplete);
  const auto description = protocol::decode_row_description(frames[0].body).value();
  REQUIRE(description.fields.size() == 2);
  CHECK(description.fields[1].name == "value");
  CHECK(description.fields[1].data_type_oid == 25);
  const auto row = protocol::OwnedDataRow{protocol::decode_data_row(frames[2].body).value()};
  CHECK(row.columns == std::vector<std::optional<std::string>>{"read_percent", "10%"});
}

}  // namespace pgdual::proxy

namespace pgdual::proxy {

TEST_CASE("SHOW VERSION, SHOW HELP and SHUTDOWN take no argument; KILL takes a positive session id",
          "[unit][admin]") {
  CHECK(verb_of("SHOW VERSION") == AdminVerb::show_version);
  CHECK(verb_of("show help;") == AdminVerb::show_help);
  CHECK(verb_of("Shutdown") == AdminVerb::shutdown);
  const auto kill = parse_admin_command("kill 42;").value();
  CHECK(kill.verb == AdminVerb::kill);
  CHECK(kill.session == 42);
  for (const auto* bad : {"KILL", "KILL 0", "KILL -1", "KILL 4x", "KILL 1 2", "KILL 99999999999999999999"}) {
    INFO(bad);
    CHECK(error_of(bad).sqlstate == "22023");
  }
  CHECK(error_of("SHUTDOWN NOW").sqlstate == "42601");
  CHECK(error_of("SHOW VERSION 2").sqlstate == "42601");
}

TEST_CASE("SHOW HELP lists every command once, and the unknown-command error names them all", "[unit][admin]") {
  const auto help = help_table();
  CHECK(help.columns == std::vector<std::string>{"command", "description"});
  REQUIRE(help.rows.size() == console_commands().size());
  const auto message = error_of("SELECT 1").message;
  for (const auto& row : help.rows) {
    INFO(row[0]);
    CHECK_FALSE(row[1].empty());
    CHECK(message.find(row[0]) != std::string::npos);
  }
  // Each command SHOW HELP lists, with sample arguments, is one the console reads.
  for (const auto* command :
       {"SHOW BACKENDS", "SHOW STATS", "SHOW SESSIONS", "SHOW CONFLICTS", "SHOW CONFIG", "SHOW WAL", "SHOW SHADOWS",
        "SHOW INSTANCES",
        "SHOW CUTOVER", "SHOW VERSION", "SHOW HELP", "SET read_percent = 1 FORCE", "SET shadow_percent = 1", "RELOAD",
        "HOLD APPLY db AT '0/1'", "RESUME APPLY db", "PAUSE WRITES TIMEOUT 1", "SWAP ROLES FORCE TIMEOUT 1", "RESUME WRITES", "KILL 1",
        "SHUTDOWN"}) {
    INFO(command);
    CHECK(parse_admin_command(command).has_value());
  }
  CHECK(version_table().rows == std::vector<std::vector<std::string>>{{"pgdual " + std::string{pgdual_version()}}});
}

}  // namespace pgdual::proxy
