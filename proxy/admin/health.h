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
  std::size_t sessions_reconnecting = 0;  ///< sessions whose connection to the mirror is lost (SHOW BACKENDS)
  std::chrono::seconds lag_bound{30};     ///< metrics.health_lag_seconds
};

/// The /health document. Its status, the first that holds:
///
/// - "wal_mirror_given_up" (HTTP 503): a database's WAL mirror is given up, so the mirror lacks
///   writes until an operator rebuilds it;
/// - "degraded" (200): the mirror is unreachable: a database's WAL mirror is failing, or sessions
///   are reconnecting to the mirror (in statement mode the only sign, and only while clients are
///   connected). 200, since pgdual still serves every client from the primary: a 503 would have a
///   load balancer take away the clients' only path to it;
/// - "syncing" (200): a database waits for pgdual sync (its mirror database empty), the sync is
///   copying it onto the mirror, or its apply is catching up after the copy (docs/sync.md): the
///   mirror is not a copy yet, and nothing relies on it;
/// - "lagging" (200): a database's WAL mirror has had a change waiting longer than `lag_bound`;
/// - "ok" (200).
///
/// `reason` says why, with the figures (empty when ok); `lag_seconds` is the largest WAL mirror's
/// lag (0 in statement mode, whose mirror writes go with the primary's). One line of JSON:
///
///   {"status":"ok"|"lagging"|"syncing"|"degraded"|"wal_mirror_given_up","reason":"...","lag_seconds":S,
///    "sessions":N,"read_percent":P,"read_brake":"engaged"|"released",
///    "wal_mirrors":[{"database":"...","state":"streaming"|"catching_up"|"failing"|"given_up"|"copying",
///                    "lag_bytes":N,"lag_seconds":S,"retained_bytes":N,"figures_age_seconds":S|null,
///                    "last_error":"...","sync":""|"waiting"|"copying"|"catching up"|"in sync",
///                    "sync_tables_done":N,"sync_tables_total":N,"sync_rows_copied":N,
///                    "sync_bytes_copied":N}]}
///
/// figures_age_seconds is how long ago the slot was last read (null before the first reading).
/// reason and last_error name what is wrong, never row data. Pure.
[[nodiscard]] HealthReport health_report(const HealthFacts& facts);

}  // namespace pgdual::proxy
