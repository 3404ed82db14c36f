#include "proxy/route/rollback_judge.h"

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using std::chrono::seconds;

config::CutoverConfig watching() {
  return {.auto_rollback = true, .watch = seconds{900}, .rollback_error_rate_percent = 2.0, .rollback_min_answers = 100};
}

}  // namespace

TEST_CASE("The rollback is due when more of the new primary's answers fail than the limit, within the watch",
          "[unit][route][rollback]") {
  const auto reason = rollback_reason(watching(), {.since_swap = seconds{95}, .answers = 400, .faults = 12});
  REQUIRE(reason);
  CHECK(*reason == "3% of the new primary's 400 answers failed in the 95 s since the swap (more than 2%)");
}

TEST_CASE("The rollback waits for enough answers, ends with the watch, and is off unless configured",
          "[unit][route][rollback]") {
  CHECK_FALSE(rollback_reason(watching(), {.since_swap = seconds{10}, .answers = 99, .faults = 99}));
  CHECK_FALSE(rollback_reason(watching(), {.since_swap = seconds{10}, .answers = 0, .faults = 0}));
  CHECK_FALSE(rollback_reason(watching(), {.since_swap = seconds{901}, .answers = 1000, .faults = 1000}));
  CHECK(rollback_reason(watching(), {.since_swap = seconds{900}, .answers = 1000, .faults = 1000}));
  auto off = watching();
  off.auto_rollback = false;
  CHECK_FALSE(rollback_reason(off, {.since_swap = seconds{10}, .answers = 1000, .faults = 1000}));
}

TEST_CASE("A rate at the limit is no reason; just above it is", "[unit][route][rollback]") {
  CHECK_FALSE(rollback_reason(watching(), {.since_swap = seconds{60}, .answers = 1000, .faults = 20}));
  const auto over = rollback_reason(watching(), {.since_swap = seconds{60}, .answers = 1000, .faults = 21});
  REQUIRE(over);
  CHECK(over->starts_with("2.1% of the new primary's 1000 answers failed"));
}

}  // namespace pgdual::proxy
