#include "proxy/admin/health.h"

#include <algorithm>
#include <string>
#include <string_view>

#include <spdlog/fmt/fmt.h>

#include "conflict/json.h"

namespace pgdual::proxy {
namespace {

using Mirror = WalMirrors::DatabaseProgress;

double seconds_of(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

std::string seconds_text(std::chrono::steady_clock::duration duration) {
  return fmt::format("{:.3f}", seconds_of(duration));
}

void append_wal_mirror(std::string& out, const Mirror& mirror, std::chrono::steady_clock::time_point now) {
  const auto& lag = mirror.lag;
  out += R"({"database":)";
  conflict::json::append_string(out, mirror.database);
  out += R"(,"state":")" + std::string{to_string(mirror.status.state)} + "\"";
  out += ",\"lag_bytes\":" + std::to_string(lag.lag_bytes);
  out += ",\"lag_seconds\":" + seconds_text(lag.lag);
  out += ",\"retained_bytes\":" + std::to_string(lag.retained_bytes);
  out += ",\"figures_age_seconds\":" + (lag.read_at ? seconds_text(now - *lag.read_at) : std::string{"null"});
  out += R"(,"last_error":)";
  conflict::json::append_string(out, mirror.status.problem);
  const auto& sync = mirror.progress.sync;
  out += R"(,"sync":)";
  conflict::json::append_string(out, std::string{to_string(sync.state)});
  out += fmt::format(R"(,"sync_tables_done":{},"sync_tables_total":{},"sync_rows_copied":{},"sync_bytes_copied":{})",
                     sync.tables_done, sync.tables_total, sync.rows_copied, sync.bytes_copied);
  out += "}";
}

void add_reason(std::string& reasons, const std::string& reason) {
  reasons += (reasons.empty() ? "" : "; ") + reason;
}

// Every mirror in `state`, with what is wrong with it.
std::string mirrors_in(const HealthFacts& facts, WalMirrorState state) {
  std::string reasons;
  for (const auto& mirror : facts.wal_mirrors) {
    if (mirror.status.state != state) continue;
    add_reason(reasons, fmt::format("the WAL mirror of database {} is {}: {}", mirror.database, to_string(state),
                                    mirror.status.problem));
  }
  return reasons;
}

std::string unreachable(const HealthFacts& facts) {
  auto reasons = mirrors_in(facts, WalMirrorState::failing);
  if (facts.sessions_reconnecting > 0) {
    const bool one = facts.sessions_reconnecting == 1;
    add_reason(reasons, fmt::format("{} session{} reconnecting to the mirror", facts.sessions_reconnecting,
                                    one ? " is" : "s are"));
  }
  return reasons;
}

// A mirror pgdual sync has not brought in step yet lags on purpose: that is what to say of it.
std::string syncing(const HealthFacts& facts) {
  std::string reasons;
  for (const auto& mirror : facts.wal_mirrors) {
    const auto& sync = mirror.progress.sync;
    if (!sync.syncing()) continue;
    if (sync.state == SyncState::waiting) {
      add_reason(reasons, fmt::format("database {} is empty on the mirror and waits for pgdual sync; reads and "
                                      "COMMITs do not use the mirror until it is in sync",
                                      mirror.database));
      continue;
    }
    add_reason(reasons, fmt::format("pgdual sync is {} database {} ({} of {} tables copied); reads and COMMITs do "
                                    "not use the mirror until it is in sync",
                                    to_string(sync.state), mirror.database, sync.tables_done, sync.tables_total));
  }
  return reasons;
}

std::string lagging(const HealthFacts& facts) {
  std::string reasons;
  for (const auto& mirror : facts.wal_mirrors) {
    if (mirror.lag.lag <= facts.lag_bound) continue;
    add_reason(reasons, fmt::format("the WAL mirror of database {} is {:.1f} s ({} bytes) behind, more than "
                                    "metrics.health_lag_seconds {}",
                                    mirror.database, seconds_of(mirror.lag.lag), mirror.lag.lag_bytes,
                                    facts.lag_bound.count()));
  }
  return reasons;
}

struct Verdict {
  std::string_view status;
  std::string reason;
};

// The worst that holds: see health.h.
Verdict verdict_of(const HealthFacts& facts) {
  if (auto reason = mirrors_in(facts, WalMirrorState::given_up); !reason.empty()) {
    return {"wal_mirror_given_up", std::move(reason)};
  }
  if (auto reason = unreachable(facts); !reason.empty()) return {"degraded", std::move(reason)};
  if (auto reason = syncing(facts); !reason.empty()) return {"syncing", std::move(reason)};
  if (auto reason = lagging(facts); !reason.empty()) return {"lagging", std::move(reason)};
  return {"ok", {}};
}

}  // namespace

HealthReport health_report(const HealthFacts& facts) {
  const auto verdict = verdict_of(facts);
  std::chrono::milliseconds lag{0};
  for (const auto& mirror : facts.wal_mirrors) lag = std::max(lag, mirror.lag.lag);
  std::string body = fmt::format(R"({{"status":"{}","reason":)", verdict.status);
  conflict::json::append_string(body, verdict.reason);
  body += fmt::format(R"(,"lag_seconds":{},"sessions":{},"read_percent":{},"read_brake":"{}","wal_mirrors":[)",
                      seconds_text(lag), facts.sessions, facts.read_percent, facts.braked ? "engaged" : "released");
  for (std::size_t index = 0; index < facts.wal_mirrors.size(); ++index) {
    if (index > 0) body += ",";
    append_wal_mirror(body, facts.wal_mirrors[index], facts.now);
  }
  body += "]}\n";
  return HealthReport{.healthy = verdict.status != "wal_mirror_given_up", .body = std::move(body)};
}

}  // namespace pgdual::proxy
