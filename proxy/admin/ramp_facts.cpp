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
      // Reads do not go to a mirror that is no copy yet, whatever its apply does.
      const auto& sync = mirror.progress.sync;
      auto state = sync.syncing() ? "not in sync (pgdual sync: " + std::string{to_string(sync.state)} + ")"
                                  : std::string{to_string(mirror.status.state)};
      facts.wal_mirrors.push_back({.database = mirror.database,
                                   .state = std::move(state),
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

std::string databases_not_in_sync(const WalMirrors* wal_mirrors) {
  if (wal_mirrors == nullptr) return {};
  std::string text;
  for (const auto& mirror : wal_mirrors->progress()) {
    const auto& sync = mirror.progress.sync;
    if (!sync.syncing()) continue;
    text += text.empty() ? "not in sync: " : ", ";
    text += mirror.database + " ";
    if (sync.state == SyncState::waiting) {
      text += "waiting for pgdual sync";
    } else {
      text += std::string{to_string(sync.state)} + " " + std::to_string(sync.tables_done) + "/" +
              std::to_string(sync.tables_total) + " tables";
    }
  }
  return text;
}

}  // namespace pgdual::proxy
