#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include "proxy/admin/http_endpoint.h"
#include "proxy/mirror/wal_mirrors.h"

namespace pgdual::proxy {

/// What /health reports on, read by the caller for each request.
struct HealthFacts {
  std::size_t sessions = 0;
  double read_percent = 0.0;  ///< the global read percent, as set (the brake may hold it at 0)
  bool braked = false;
  std::vector<WalMirrors::DatabaseProgress> wal_mirrors{};  ///< wal mode: WalMirrors::progress()
  std::chrono::steady_clock::time_point now{};  ///< for the age of each slot's figures
};

/// The /health document: unhealthy (503) while a database's WAL mirror is given up, since the
/// mirror then lacks writes until an operator rebuilds it; a mirror failing for a while is shown
/// but heals by itself. One line of JSON:
///
///   {"status":"ok"|"wal_mirror_given_up","sessions":N,"read_percent":P,"read_brake":"engaged"|"released",
///    "wal_mirrors":[{"database":"...","state":"streaming"|"catching_up"|"failing"|"given_up",
///                    "lag_bytes":N,"lag_seconds":S,"retained_bytes":N,"figures_age_seconds":S|null,
///                    "last_error":"..."}]}
///
/// figures_age_seconds is how long ago the slot was last read (null before the first reading).
/// last_error names what is wrong, never row data. Pure.
[[nodiscard]] HealthReport health_report(const HealthFacts& facts);

}  // namespace pgdual::proxy
