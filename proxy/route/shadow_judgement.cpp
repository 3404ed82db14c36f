#include "proxy/route/shadow_judgement.h"

#include <numeric>
#include <utility>

namespace pgdual::proxy {

std::string_view to_string(ShadowFinding finding) noexcept {
  switch (finding) {
    case ShadowFinding::matched: return "matched";
    case ShadowFinding::settled: return "settled";
    case ShadowFinding::varied: return "varied";
    case ShadowFinding::mismatched: return "mismatched";
    case ShadowFinding::abandoned: return "abandoned";
  }
  return "unknown";
}

bool answers_agree(const conflict::Outcome& a, const conflict::Outcome& b) noexcept {
  using conflict::Reachability;
  if (a.reachability != Reachability::reached || b.reachability != Reachability::reached) return false;
  const auto sqlstate = [](const conflict::Outcome& outcome) {
    return outcome.error ? std::string_view{outcome.error->sqlstate} : std::string_view{};
  };
  return sqlstate(a) == sqlstate(b) && a.tags_digest == b.tags_digest && a.rows_returned == b.rows_returned &&
         a.rows_digest == b.rows_digest;
}

ShadowFinding judge_shadow(const conflict::Outcome& primary, const conflict::Outcome& first,
                           const std::optional<conflict::Outcome>& second) noexcept {
  if (answers_agree(primary, first)) return ShadowFinding::matched;
  if (!second) return ShadowFinding::abandoned;
  if (answers_agree(primary, *second)) return ShadowFinding::settled;
  if (!answers_agree(first, *second)) return ShadowFinding::varied;
  return ShadowFinding::mismatched;
}

std::uint64_t ShadowCounts::compared() const noexcept {
  return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}) - of(ShadowFinding::abandoned);
}

bool ShadowLedger::try_start() {
  const std::scoped_lock lock(mutex_);
  if (in_flight_ >= max_in_flight_) return false;
  ++in_flight_;
  return true;
}

void ShadowLedger::finish() {
  const std::scoped_lock lock(mutex_);
  if (in_flight_ > 0) --in_flight_;
}

bool ShadowLedger::excluded(std::string_view fingerprint) const {
  const std::scoped_lock lock(mutex_);
  const auto found = by_fingerprint_.find(fingerprint);
  return found != by_fingerprint_.end() && found->second.excluded;
}

bool ShadowLedger::count(std::string_view fingerprint, std::string_view normalized, ShadowFinding finding) {
  const std::scoped_lock lock(mutex_);
  auto found = by_fingerprint_.find(fingerprint);
  if (found == by_fingerprint_.end()) {
    const bool room = by_fingerprint_.size() < kMaxFingerprints;
    const std::string key{room ? fingerprint : kOtherFingerprint};
    ShadowCounts fresh{.fingerprint = key, .normalized = room ? std::string{normalized} : std::string{}};
    found = by_fingerprint_.emplace(key, std::move(fresh)).first;
  }
  auto& counts = found->second;
  ++counts.counts[static_cast<std::size_t>(finding)];
  bool repeated = false;
  if (finding == ShadowFinding::matched || finding == ShadowFinding::settled || finding == ShadowFinding::mismatched) {
    repeated = finding == ShadowFinding::mismatched && counts.last_mismatched;
    counts.last_mismatched = finding == ShadowFinding::mismatched;
  }
  const auto varied = counts.of(ShadowFinding::varied);
  const auto agreed = counts.of(ShadowFinding::matched) + counts.of(ShadowFinding::settled);
  if (varied >= kVariedToExclude && varied >= kVariedToExclude * agreed && counts.fingerprint != kOtherFingerprint) {
    counts.excluded = true;
  }
  return repeated;
}

std::vector<ShadowCounts> ShadowLedger::counts() const {
  const std::scoped_lock lock(mutex_);
  std::vector<ShadowCounts> all;
  all.reserve(by_fingerprint_.size());
  for (const auto& [fingerprint, counts] : by_fingerprint_) all.push_back(counts);
  return all;
}

ShadowCounts ShadowLedger::totals() const {
  const std::scoped_lock lock(mutex_);
  ShadowCounts sum;
  for (const auto& [fingerprint, counts] : by_fingerprint_) {
    for (std::size_t i = 0; i < kShadowFindings; ++i) sum.counts[i] += counts.counts[i];
  }
  return sum;
}

}  // namespace pgdual::proxy
