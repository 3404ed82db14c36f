#pragma once

#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/readiness.h"

// The checks behind `pgdual check` and the console's SHOW CHECKS: both servers, as each configured
// role, against what the configured mirror mode and each database need. Blocking libpq; each
// connection is bounded by its backend's connect_timeout and each statement by a statement_timeout.
namespace pgdual::jobs {

/// What to check, beyond the configuration itself.
struct ReadinessScope {
  /// The databases clients use. Empty: every database on the primary that allows connections and
  /// is not a template, except "postgres" (which pgdual's users rarely use; name it to check it).
  std::vector<std::string> databases;
  /// The configuration file as fixes name it ("run pgdual init --config FILE ...").
  std::string config_file = "<your pgdual.toml>";
};

/// Every check, in the order run: the databases chosen; per database and server, each [[users]]
/// entry's login and its grants on pgdual's objects, pgdual's schema at the current version, in
/// mirror.mode wal the primary's tables without a replica identity, unlogged tables and the event
/// trigger, then the WAL mirror's prerequisites (check_wal_prerequisites), then the disk; in
/// mirror.mode wal, the primary's free replication slots and WAL senders. A server that cannot be
/// reached is a failed check naming it, its other checks skipped. Never throws PgClientError, and
/// never shows a password: libpq's messages carry none.
[[nodiscard]] std::vector<ReadinessCheck> check_readiness(const config::ProxyConfig& config,
                                                          const ReadinessScope& scope);

}  // namespace pgdual::jobs
