#include "proxy/route/read_steering.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/route/ip_network.h"

namespace pgdual::proxy {
namespace {

using config::ReadRule;
using config::ReadStickiness;

using test::network;

SessionFacts clinic_session() {
  return SessionFacts{.user = "clinic_app",
                      .database = "ehr",
                      .application_name = "scheduler",
                      .client_address = ClientAddress::v4({10, 1, 2, 3})};
}

ReadRule rule_for_user(std::string_view user, double percent) {
  ReadRule rule;
  rule.user = std::string(user);
  rule.read_percent = percent;
  return rule;
}

// The share of `count` draws that go to the mirror must lie within 4 standard deviations of the
// binomial expectation.
template <class Decide>
void check_fraction(double percent, std::uint64_t count, Decide to_mirror) {
  std::uint64_t mirrored = 0;
  for (std::uint64_t i = 0; i < count; ++i) mirrored += to_mirror(i) ? 1 : 0;
  const double p = percent / 100.0;
  const double n = static_cast<double>(count);
  const double sigma = std::sqrt(n * p * (1.0 - p));
  INFO("percent " << percent << ": " << mirrored << " of " << count);
  CHECK(std::abs(static_cast<double>(mirrored) - n * p) <= 4.0 * sigma);
}

}  // namespace

TEST_CASE("A rule matches on each key it sets and ignores the keys it leaves out", "[unit][proxy][steering]") {
  const SessionFacts facts = clinic_session();
  ReadRule rule;
  rule.user = "clinic_app";
  CHECK(matches(rule, facts));
  rule.user = "other";
  CHECK_FALSE(matches(rule, facts));

  ReadRule database;
  database.database = "ehr";
  CHECK(matches(database, facts));
  database.database = "EHR";
  CHECK_FALSE(matches(database, facts));

  ReadRule application;
  application.application_name = "scheduler";
  CHECK(matches(application, facts));
  application.application_name = "";
  CHECK_FALSE(matches(application, facts));
  SessionFacts unnamed = facts;
  unnamed.application_name.clear();
  CHECK(matches(application, unnamed));

  ReadRule cidr;
  cidr.client_network = network("10.1.0.0/16");
  CHECK(matches(cidr, facts));
  cidr.client_network = network("10.2.0.0/16");
  CHECK_FALSE(matches(cidr, facts));
}

TEST_CASE("A rule with several keys matches only when all of them match", "[unit][proxy][steering]") {
  ReadRule rule;
  rule.user = "clinic_app";
  rule.database = "ehr";
  rule.application_name = "scheduler";
  rule.client_network = network("10.1.0.0/16");
  const SessionFacts facts = clinic_session();
  CHECK(matches(rule, facts));

  SessionFacts elsewhere = facts;
  elsewhere.client_address = ClientAddress::v4({10, 9, 2, 3});
  CHECK_FALSE(matches(rule, elsewhere));
  SessionFacts other_database = facts;
  other_database.database = "billing";
  CHECK_FALSE(matches(rule, other_database));
}

TEST_CASE("A client_cidr rule never matches a session without an IP address", "[unit][proxy][steering]") {
  ReadRule rule;
  rule.client_network = network("::/0");
  SessionFacts facts = clinic_session();
  facts.client_address.reset();
  CHECK_FALSE(matches(rule, facts));
}

TEST_CASE("percent_for takes the first matching rule, else the global percent", "[unit][proxy][steering]") {
  ReadRule by_network;
  by_network.client_network = network("10.1.0.0/16");
  by_network.read_percent = 100;
  const ReadSteering steering(5, ReadStickiness::session,
                              {rule_for_user("reporting", 50), by_network, rule_for_user("clinic_app", 0)});
  CHECK(steering.stickiness() == ReadStickiness::session);
  CHECK(steering.percent_for(clinic_session()) == 100);

  SessionFacts reporting = clinic_session();
  reporting.user = "reporting";
  CHECK(steering.percent_for(reporting) == 50);

  SessionFacts elsewhere = clinic_session();
  elsewhere.client_address = ClientAddress::v4({172, 16, 0, 1});
  CHECK(steering.percent_for(elsewhere) == 0);

  elsewhere.user = "app";
  CHECK(steering.percent_for(elsewhere) == 5);
}

TEST_CASE("ReadSteering takes the percent, stickiness and rules from the configuration", "[unit][proxy][steering]") {
  config::ProxyConfig config;
  config.read_percent = 12.5;
  config.read_stickiness = ReadStickiness::transaction;
  config.read_rules = {rule_for_user("clinic_app", 75)};
  config.routing.shadow_percent = 2.5;
  const ReadSteering steering(config);
  CHECK(steering.global_percent() == 12.5);
  CHECK(steering.shadow_percent() == 2.5);
  CHECK(steering.stickiness() == ReadStickiness::transaction);
  CHECK(steering.percent_for(clinic_session()) == 75);
  CHECK(steering.percent_for(SessionFacts{}) == 12.5);
}

TEST_CASE("The brake forces every percent to 0, and release or a new percent lifts it", "[unit][proxy][steering]") {
  ReadSteering steering(10, ReadStickiness::statement, {rule_for_user("clinic_app", 100)});
  steering.brake();
  CHECK(steering.braked());
  CHECK(steering.percent_for(clinic_session()) == 0);
  CHECK(steering.percent_for(SessionFacts{}) == 0);
  CHECK(steering.global_percent() == 10);

  steering.release();
  CHECK_FALSE(steering.braked());
  CHECK(steering.percent_for(clinic_session()) == 100);
  CHECK(steering.percent_for(SessionFacts{}) == 10);

  steering.brake();
  steering.set_global_percent(2.5);
  CHECK_FALSE(steering.braked());
  CHECK(steering.percent_for(SessionFacts{}) == 2.5);
  CHECK(steering.percent_for(clinic_session()) == 100);
}

TEST_CASE("The shadow percent is set live, and the brake leaves it alone", "[unit][proxy][steering]") {
  ReadSteering steering(10, ReadStickiness::statement, {});
  CHECK(steering.shadow_percent() == 0);
  steering.set_shadow_percent(25);
  CHECK(steering.shadow_percent() == 25);

  steering.brake();
  CHECK(steering.percent_for(SessionFacts{}) == 0);
  CHECK(steering.shadow_percent() == 25);
  steering.set_global_percent(5);
  CHECK(steering.shadow_percent() == 25);
  steering.set_shadow_percent(0.5);
  CHECK(steering.shadow_percent() == 0.5);
  CHECK(steering.global_percent() == 5);
}

TEST_CASE("0 percent never steers to the mirror and 100 always does", "[unit][proxy][steering]") {
  std::mt19937_64 random(20240605);
  const std::uint64_t extremes[] = {0, 1, ~std::uint64_t{0}, ~std::uint64_t{0} - 1, std::uint64_t{1} << 63};
  std::uint64_t wrong = 0;
  for (std::uint64_t id = 0; id < 100'000; ++id) {
    const std::uint64_t draw = id < std::size(extremes) ? extremes[id] : random();
    wrong += to_mirror_for_session(id, 0.0) || !to_mirror_for_session(id, 100.0) ? 1 : 0;
    wrong += to_mirror_for_draw(draw, 0.0) || !to_mirror_for_draw(draw, 100.0) ? 1 : 0;
    wrong += to_mirror_for_draw(draw, -1.0) || to_mirror_for_draw(draw, std::nan("")) ? 1 : 0;
  }
  CHECK(wrong == 0);
}

TEST_CASE("Raising the percent only adds sessions to the mirror", "[unit][proxy][steering]") {
  const double percents[] = {0.0, 0.01, 0.5, 1.0, 5.0, 10.0, 25.0, 33.3, 50.0, 75.0, 99.99, 100.0};
  std::uint64_t left = 0;
  std::uint64_t moved_at_some_step = 0;
  for (std::uint64_t id = 0; id < 100'000; ++id) {
    bool mirrored = false;
    for (const double percent : percents) {
      const bool now = to_mirror_for_session(id, percent);
      left += mirrored && !now ? 1 : 0;
      moved_at_some_step += !mirrored && now && percent < 100.0 ? 1 : 0;
      mirrored = now;
    }
  }
  CHECK(left == 0);
  CHECK(moved_at_some_step > 99'000);  // the check above is not vacuous
}

TEST_CASE("The share of sessions on the mirror matches the percent within 4 standard deviations",
          "[unit][proxy][steering]") {
  for (const double percent : {0.5, 10.0, 50.0}) {
    check_fraction(percent, 100'000, [&](std::uint64_t id) { return to_mirror_for_session(id, percent); });
    // Session ids that are not consecutive spread the same way.
    check_fraction(percent, 100'000,
                   [&](std::uint64_t id) { return to_mirror_for_session(id * 4096 + 0x5eed, percent); });
  }
}

TEST_CASE("The share of random draws on the mirror matches the percent within 4 standard deviations",
          "[unit][proxy][steering]") {
  std::mt19937_64 random(8675309);
  for (const double percent : {0.5, 10.0, 50.0}) {
    check_fraction(percent, 100'000, [&](std::uint64_t) { return to_mirror_for_draw(random(), percent); });
  }
}

}  // namespace pgdual::proxy
