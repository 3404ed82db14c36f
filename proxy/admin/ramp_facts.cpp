#include "proxy/admin/ramp_facts.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "proxy/conflict_sink.h"
#include "proxy/mirror/wal_mirrors.h"
#include "proxy/session_registry.h"

namespace pgdual::proxy {

RampFacts ramp_facts(config::MirrorMode mode, const ConflictSink& conflicts, const SessionRegistry& sessions,
                     const WalMirrors* wal_mirrors) {
  RampFacts facts{.open_conflicts = conflicts.open_conflicts(), .wal_mode = mode == config::MirrorMode::wal};
  if (facts.wal_mode) {
    if (wal_mirrors == nullptr) return facts;
    for (const auto& mirror : wal_mirrors->progress()) {
      facts.wal_mirrors.push_back({.database = mirror.database,
                                   .state = std::string{to_string(mirror.status.state)},
                                   .lag = std::chrono::duration_cast<std::chrono::milliseconds>(mirror.lag.lag),
                                   .problem = mirror.status.problem});
    }
    return facts;
  }
  const auto summaries = sessions.summaries();
  facts.sessions = summaries.size();
  facts.sessions_without_mirror = static_cast<std::size_t>(
      std::ranges::count_if(summaries, [](const auto& entry) { return entry.second.mirror != "connected"; }));
  return facts;
}

}  // namespace pgdual::proxy
