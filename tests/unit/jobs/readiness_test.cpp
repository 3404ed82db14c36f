#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/jobs/readiness.h"

namespace pgdual::jobs {
namespace {

using Checks = std::vector<ReadinessCheck>;

ReadinessCheck ok(std::string subject, std::string name, std::string found) {
  return {std::move(subject), std::move(name), Verdict::ok, std::move(found), ""};
}

ReadinessCheck warning(std::string subject, std::string name, std::string found, std::string fix) {
  return {std::move(subject), std::move(name), Verdict::warning, std::move(found), std::move(fix)};
}

ReadinessCheck failed(std::string subject, std::string name, std::string found, std::string fix) {
  return {std::move(subject), std::move(name), Verdict::failed, std::move(found), std::move(fix)};
}

TEST_CASE("A report with every check ok lists them by subject and ends with ready", "[unit][jobs][check]") {
  const Checks checks{ok("server onprem", "wal_level", "logical"), ok("server cloud", "login", "as \"app\""),
                      ok("server onprem", "replication slots", "1 of 10 in use")};
  CHECK(ready(checks));
  CHECK(render_report(checks) ==
        "server onprem\n"
        "  ok      wal_level: logical\n"
        "  ok      replication slots: 1 of 10 in use\n"
        "server cloud\n"
        "  ok      login: as \"app\"\n"
        "ready\n");
}

TEST_CASE("A failure gets its fix on the line under it and makes the report not ready, counted",
          "[unit][jobs][check]") {
  const Checks checks{failed("server onprem", "wal_level", "\"replica\"", "set wal_level = logical and restart"),
                      ok("server onprem", "login", "as \"app\""),
                      failed("database \"shop\" on cloud", "pgdual schema", "not installed",
                             "run pgdual init --config pgdual.toml --database shop")};
  CHECK_FALSE(ready(checks));
  CHECK(count_of(checks, Verdict::failed) == 2);
  CHECK(render_report(checks) ==
        "server onprem\n"
        "  FAILED  wal_level: \"replica\"\n"
        "          fix: set wal_level = logical and restart\n"
        "  ok      login: as \"app\"\n"
        "database \"shop\" on cloud\n"
        "  FAILED  pgdual schema: not installed\n"
        "          fix: run pgdual init --config pgdual.toml --database shop\n"
        "not ready: 2 problems\n");
}

TEST_CASE("Warnings keep the report ready and are counted on its last line; one failure is one problem",
          "[unit][jobs][check]") {
  Checks checks{warning("database \"shop\" on cloud", "disk", "free space cannot be read over SQL", "run df")};
  CHECK(ready(checks));
  CHECK(render_report(checks) ==
        "database \"shop\" on cloud\n"
        "  WARNING disk: free space cannot be read over SQL\n"
        "          fix: run df\n"
        "ready, 1 warning\n");
  checks.push_back(warning("server cloud", "disk", "unknown", ""));
  CHECK(render_report(checks).ends_with("  WARNING disk: unknown\nready, 2 warnings\n"));
  checks.push_back(failed("configuration", "file", "pgdual.toml:3:1: listen.port: must be 1..65535", "fix line 3"));
  CHECK_FALSE(ready(checks));
  CHECK(render_report(checks).ends_with("not ready: 1 problem\n"));
}

TEST_CASE("An empty list of checks is ready: nothing was found wrong", "[unit][jobs][check]") {
  CHECK(ready({}));
  CHECK(render_report({}) == "ready\n");
}

TEST_CASE("Verdicts have the names SHOW CHECKS shows", "[unit][jobs][check]") {
  CHECK(to_string(Verdict::ok) == "ok");
  CHECK(to_string(Verdict::warning) == "warning");
  CHECK(to_string(Verdict::failed) == "failed");
}

}  // namespace
}  // namespace pgdual::jobs
