#include "proxy/route/read_steering.h"

#include <algorithm>
#include <utility>

namespace pgdual::proxy {
namespace {

constexpr double kAlways = 100.0;

// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", 2014; constants from Vigna's splitmix64.c). A bijection on 64 bits that spreads
// consecutive session ids evenly, and gives the same answer on every platform and release.
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The top 53 bits as a point in [0, 100): a double holds them exactly, so the point is below 100.
double point_of(std::uint64_t bits) noexcept {
  constexpr double kTwoToMinus53 = 0x1.0p-53;
  return static_cast<double>(bits >> 11) * kTwoToMinus53 * kAlways;
}

// !(percent > 0) also catches NaN.
bool below(double point, double percent) noexcept {
  if (!(percent > 0.0)) return false;
  if (percent >= kAlways) return true;
  return point < percent;
}

}  // namespace

bool matches(const config::ReadRule& rule, const SessionFacts& facts) noexcept {
  if (rule.user && *rule.user != facts.user) return false;
  if (rule.database && *rule.database != facts.database) return false;
  if (rule.application_name && *rule.application_name != facts.application_name) return false;
  if (rule.client_network) {
    return facts.client_address && contains(*rule.client_network, *facts.client_address);
  }
  return true;
}

bool to_mirror_for_session(std::uint64_t session_id, double percent) noexcept {
  return below(point_of(mix(session_id)), percent);
}

bool to_mirror_for_draw(std::uint64_t random_draw, double percent) noexcept {
  return below(point_of(random_draw), percent);
}

ReadSteering::ReadSteering(double global_percent, config::ReadStickiness stickiness,
                           std::vector<config::ReadRule> rules, double shadow_percent)
    : rules_{std::make_shared<const Rules>(Rules{stickiness, std::move(rules)})},
      global_percent_{global_percent},
      shadow_percent_{shadow_percent} {}

ReadSteering::ReadSteering(const config::ProxyConfig& config)
    : ReadSteering(config.read_percent, config.read_stickiness, config.read_rules, config.routing.shadow_percent) {}

double ReadSteering::percent_for(const SessionFacts& facts) const noexcept {
  if (braked()) return 0.0;
  const auto current = rules_.load();
  const auto& rules = current->rules;
  const auto rule = std::ranges::find_if(rules, [&](const config::ReadRule& r) { return matches(r, facts); });
  return rule != rules.end() ? rule->read_percent : global_percent();
}

void ReadSteering::reconfigure(config::ReadStickiness stickiness, std::vector<config::ReadRule> rules) {
  rules_.store(std::make_shared<const Rules>(Rules{stickiness, std::move(rules)}));
}

void ReadSteering::set_global_percent(double percent) noexcept {
  global_percent_.store(percent);
  braked_.store(false);
}

}  // namespace pgdual::proxy
