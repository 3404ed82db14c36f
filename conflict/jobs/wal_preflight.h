#pragma once

#include <string>
#include <vector>

#include "config/proxy_config.h"

// Whether the two servers allow mirror mode "wal" (docs/wal-mirror.md), asked before pgdual
// relies on it, so that an operator learns every missing setting and right at once, each with its
// fix, rather than one failure at a time from deep inside the stream.
namespace pgdual::jobs {

/// A server and the login to check it with: what PgClient connects with.
struct PreflightTarget {
  config::BackendConfig backend;
  config::UserConfig user;
  std::string database;
};

/// One prerequisite of mirror mode "wal" that a server does not meet.
struct PreflightProblem {
  std::string backend;  ///< the backend's name, "onprem" or "cloud"
  std::string problem;  ///< what is wrong, naming the setting, role or object
  std::string fix;      ///< the exact setting or SQL that cures it, and the alternative when there is one

  friend bool operator==(const PreflightProblem&, const PreflightProblem&) = default;
};

/// Connects to `primary` as the replication user and to `mirror` as the apply user and returns
/// every prerequisite of mirror mode "wal" either does not meet; empty when all are met.
/// The primary: wal_level = logical; a free replication slot, unless pgdual's slot for the database
/// (conflict::slot_name_for) exists; a free WAL sender; a login with REPLICATION or superuser; a
/// login that may create the publication FOR ALL TABLES (a superuser on PostgreSQL 15), unless it
/// exists. The mirror: a login that may set session_replication_role; pgdual.applied (`pgdual
/// init`); the database in the primary's encoding. A server that cannot be reached or queried is one problem carrying libpq's message, and
/// its other checks are skipped; the other server is still checked. Reads settings, role
/// attributes and catalog names only, never rows. Never throws PgClientError.
[[nodiscard]] std::vector<PreflightProblem> check_wal_prerequisites(const PreflightTarget& primary,
                                                                    const PreflightTarget& mirror);

/// Whether `primary`'s database has pgdual init's event trigger (conflict::kReplicaIdentityTrigger),
/// enabled. Without it a table created later without a primary key has no replica identity, and
/// the primary refuses its UPDATE and DELETE once it is published: no refusal of the mirror's
/// start, since init as a superuser fixes it, but a warning to give. Throws PgClientError.
[[nodiscard]] bool has_replica_identity_trigger(const PreflightTarget& primary);

/// The problems as text for a log line or an exception: a headline, then each problem and its fix
/// on lines of their own. "" when there is none.
[[nodiscard]] std::string describe(const std::vector<PreflightProblem>& problems);

}  // namespace pgdual::jobs
