#include "proxy/route/ramp_guard.h"

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using std::chrono::milliseconds;

constexpr RampChange kRaise{.from = 0, .to = 10};

RampFacts wal_mirrors(std::vector<WalMirrorFact> mirrors) {
  return RampFacts{.wal_mode = true, .wal_mirrors = std::move(mirrors)};
}

}  // namespace

TEST_CASE("Raising the ramp goes ahead while nothing is open and the mirror is in step", "[unit][route][ramp]") {
  CHECK_FALSE(ramp_refusal(kRaise, RampFacts{}).has_value());
  CHECK_FALSE(ramp_refusal(kRaise, RampFacts{.sessions = 4}).has_value());
  CHECK_FALSE(ramp_refusal(kRaise, wal_mirrors({{.database = "ehr", .state = "streaming"}})).has_value());
}

TEST_CASE("Raising the ramp is refused for open conflicts, saying how many", "[unit][route][ramp]") {
  CHECK(ramp_refusal(kRaise, RampFacts{.open_conflicts = 1}) == "1 open conflict in the conflict log");
  CHECK(ramp_refusal(kRaise, RampFacts{.open_conflicts = 3}) == "3 open conflicts in the conflict log");
}

TEST_CASE("Raising the ramp is refused while a database's WAL mirror is out of step, naming it",
          "[unit][route][ramp]") {
  const auto facts =
      wal_mirrors({{.database = "ehr", .state = "streaming"},
                   {.database = "lab", .state = "catching_up", .lag = milliseconds{20'000}},
                   {.database = "billing", .state = "given_up", .problem = "past mirror.max_lag_bytes"}});
  CHECK(ramp_refusal(kRaise, facts) ==
        "the WAL mirror of database lab is catching_up, 20.0 s behind; "
        "the WAL mirror of database billing is given_up (past mirror.max_lag_bytes)");
  CHECK(ramp_refusal(kRaise, wal_mirrors({{.database = "ehr", .state = "failing", .problem = "slot missing"}})) ==
        "the WAL mirror of database ehr is failing (slot missing)");
}

TEST_CASE("In statement mode, sessions reconnecting to the mirror refuse a raise", "[unit][route][ramp]") {
  auto facts = RampFacts{.open_conflicts = 2, .sessions = 5, .sessions_without_mirror = 2};
  CHECK(ramp_refusal(kRaise, facts) ==
        "2 open conflicts in the conflict log; the mirror is unreachable: 2 of 5 sessions are reconnecting to it");
  // WAL mirrors say nothing in statement mode.
  facts = RampFacts{.wal_mirrors = {{.database = "ehr", .state = "failing"}}};
  CHECK_FALSE(ramp_refusal(kRaise, facts).has_value());
}

TEST_CASE("FORCE, a lower share and the same share are never refused", "[unit][route][ramp]") {
  const RampFacts trouble{.open_conflicts = 7, .sessions = 1, .sessions_without_mirror = 1};
  CHECK_FALSE(ramp_refusal({.from = 0, .to = 10, .forced = true}, trouble).has_value());
  CHECK_FALSE(ramp_refusal({.from = 50, .to = 10}, trouble).has_value());
  CHECK_FALSE(ramp_refusal({.from = 10, .to = 0}, trouble).has_value());
  CHECK_FALSE(ramp_refusal({.from = 10, .to = 10}, trouble).has_value());
  // Braked, the ramp is at 0: setting the old share again raises it.
  CHECK(ramp_refusal({.from = 0, .to = 10}, trouble).has_value());
}

}  // namespace pgdual::proxy
