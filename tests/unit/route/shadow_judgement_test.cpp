#include "proxy/route/shadow_judgement.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "protocol/frame.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

const std::vector<std::byte> kKey(32, std::byte{7});

/// The outcome of a read that returned `rows` (one text column each), or failed with `sqlstate`.
conflict::Outcome answer(const std::vector<std::string>& rows, const std::string& sqlstate = "") {
  conflict::OutcomeBuilder builder{kKey};
  for (const auto& row : rows) {
    std::vector<std::byte> body;
    protocol::Writer out{body};
    out.int16(1);
    out.int32(static_cast<std::int32_t>(row.size()));
    out.bytes(row);
    REQUIRE(builder.add('D', body));
  }
  std::vector<std::byte> tail;
  protocol::Writer out{tail};
  if (sqlstate.empty()) {
    out.cstring("SELECT " + std::to_string(rows.size()));
    REQUIRE(builder.add('C', tail));
  } else {
    out.uint8(static_cast<std::uint8_t>('S'));
    out.cstring("ERROR");
    out.uint8(static_cast<std::uint8_t>('C'));
    out.cstring(sqlstate);
    out.uint8(static_cast<std::uint8_t>('M'));
    out.cstring("failed");
    out.uint8(0);
    REQUIRE(builder.add('E', tail));
  }
  return builder.finish();
}

TEST_CASE("A shadow read matches when the mirror answers as the primary did", "[unit][route][shadow]") {
  CHECK(judge_shadow(answer({"a", "b"}), answer({"a", "b"}), std::nullopt) == ShadowFinding::matched);
  CHECK(judge_shadow(answer({}, "42P01"), answer({}, "42P01"), std::nullopt) == ShadowFinding::matched);
}

TEST_CASE("A shadow read that differs is judged by the mirror's second answer", "[unit][route][shadow]") {
  const auto primary = answer({"a", "b"});
  const auto behind = answer({"a"});
  SECTION("none could be had: abandoned") {
    CHECK(judge_shadow(primary, behind, std::nullopt) == ShadowFinding::abandoned);
  }
  SECTION("the second matches the primary: the mirror had not caught up") {
    CHECK(judge_shadow(primary, behind, answer({"a", "b"})) == ShadowFinding::settled);
  }
  SECTION("the two differ from each other: the answer varies from run to run") {
    CHECK(judge_shadow(primary, behind, answer({"c"})) == ShadowFinding::varied);
  }
  SECTION("the two agree and differ from the primary: a mismatch") {
    CHECK(judge_shadow(primary, behind, answer({"a"})) == ShadowFinding::mismatched);
    CHECK(judge_shadow(primary, answer({}, "42P01"), answer({}, "42P01")) == ShadowFinding::mismatched);
  }
}

TEST_CASE("Answers agree on SQLSTATE, tags, row count and rows digest", "[unit][route][shadow]") {
  CHECK_FALSE(answers_agree(answer({"a"}), answer({"b"})));
  CHECK_FALSE(answers_agree(answer({}), answer({}, "57014")));
  CHECK_FALSE(answers_agree(answer({}, "42P01"), answer({}, "42703")));
  auto unreachable = answer({"a"});
  unreachable.reachability = conflict::Reachability::unreachable;
  CHECK_FALSE(answers_agree(answer({"a"}), unreachable));
}

TEST_CASE("The shadow ledger bounds the reads in flight and learns statements whose answers vary",
          "[unit][route][shadow]") {
  ShadowLedger ledger{2};
  CHECK(ledger.try_start());
  CHECK(ledger.try_start());
  CHECK_FALSE(ledger.try_start());
  ledger.finish();
  CHECK(ledger.try_start());

  ledger.count("f1", "SELECT $1", ShadowFinding::matched);
  ledger.count("f1", "SELECT $1", ShadowFinding::settled);
  for (int i = 0; i < 7; ++i) ledger.count("f1", "SELECT $1", ShadowFinding::varied);
  CHECK_FALSE(ledger.excluded("f1"));  // agreed twice: varied 7 times is not 4 times as often
  ledger.count("f1", "SELECT $1", ShadowFinding::varied);
  CHECK(ledger.excluded("f1"));
  ledger.count("f2", "SELECT now()", ShadowFinding::abandoned);
  ledger.count("f2", "SELECT now()", ShadowFinding::mismatched);
  const auto all = ledger.counts();
  REQUIRE(all.size() == 2);
  CHECK(all[0].fingerprint == "f1");
  CHECK(all[0].compared() == 10);
  CHECK(all[1].of(ShadowFinding::mismatched) == 1);
  CHECK(all[1].compared() == 1);
  const auto totals = ledger.totals();
  CHECK(totals.of(ShadowFinding::varied) == 8);
  CHECK(totals.compared() == 11);
}

TEST_CASE("A mismatch counts as the mirror's when it repeats the statement's last verdict", "[unit][route][shadow]") {
  ShadowLedger ledger{1};
  CHECK_FALSE(ledger.count("f", "", ShadowFinding::mismatched));
  CHECK_FALSE(ledger.count("f", "", ShadowFinding::varied));  // no verdict: the last one stands
  CHECK(ledger.count("f", "", ShadowFinding::mismatched));
  CHECK(ledger.count("f", "", ShadowFinding::mismatched));
  CHECK_FALSE(ledger.count("f", "", ShadowFinding::matched));
  CHECK_FALSE(ledger.count("f", "", ShadowFinding::mismatched));
  CHECK_FALSE(ledger.count("g", "", ShadowFinding::mismatched));  // each statement its own
}

TEST_CASE("The shadow ledger counts fingerprints past its limit together", "[unit][route][shadow]") {
  ShadowLedger ledger{1};
  for (std::size_t i = 0; i < ShadowLedger::kMaxFingerprints + 5; ++i) {
    for (std::uint64_t n = 0; n < ShadowLedger::kVariedToExclude; ++n) {
      ledger.count("f" + std::to_string(i), "", ShadowFinding::varied);
    }
  }
  const auto all = ledger.counts();
  CHECK(all.size() == ShadowLedger::kMaxFingerprints + 1);
  CHECK_FALSE(ledger.excluded(ShadowLedger::kOtherFingerprint));
}

}  // namespace
}  // namespace pgdual::proxy
