#include "proxy/route/ramp_guard.h"

#include <cstdio>

namespace pgdual::proxy {
namespace {

std::string seconds_text(std::chrono::milliseconds lag) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(lag.count()) / 1000.0);
  return text;
}

std::string wal_mirror_reason(const WalMirrorFact& mirror) {
  auto reason = "the WAL mirror of database " + mirror.database + " is " + mirror.state;
  if (mirror.state == "catching_up") reason += ", " + seconds_text(mirror.lag) + " behind";
  if (!mirror.problem.empty()) reason += " (" + mirror.problem + ")";
  return reason;
}

std::vector<std::string> out_of_step(const RampFacts& facts) {
  std::vector<std::string> reasons;
  if (facts.wal_mode) {
    for (const auto& mirror : facts.wal_mirrors) {
      if (mirror.state != "streaming") reasons.push_back(wal_mirror_reason(mirror));
    }
  } else if (facts.sessions_without_mirror > 0) {
    reasons.push_back("the mirror is unreachable: " + std::to_string(facts.sessions_without_mirror) + " of " +
                      std::to_string(facts.sessions) + " sessions are reconnecting to it");
  }
  return reasons;
}

}  // namespace

std::optional<std::string> ramp_refusal(const RampChange& change, const RampFacts& facts) {
  if (change.forced || change.to <= change.from) return std::nullopt;
  std::vector<std::string> reasons;
  if (facts.open_conflicts > 0) {
    reasons.push_back(std::to_string(facts.open_conflicts) +
                      (facts.open_conflicts == 1 ? " open conflict" : " open conflicts") + " in the conflict log");
  }
  for (auto& reason : out_of_step(facts)) reasons.push_back(std::move(reason));
  if (reasons.empty()) return std::nullopt;
  std::string text;
  for (const auto& reason : reasons) text += (text.empty() ? "" : "; ") + reason;
  return text;
}

}  // namespace pgdual::proxy
