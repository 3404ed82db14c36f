#pragma once

#include <string>
#include <vector>

#include "conflict/jobs/wal_preflight.h"

// Unlogged tables have no WAL, so the WAL mirror never gets their rows (docs/wal-mirror.md, "What
// WAL does not carry"). pgdual refuses or records statements that make one, and names those that
// exist already when a database's mirror starts, so that an operator knows what the mirror lacks.
namespace pgdual::jobs {

/// The unlogged tables (and partitioned tables) of `primary`'s database outside the system schemas
/// and pgdual's own, as schema-qualified names quoted where needed, sorted. Names only, never rows.
/// Throws PgClientError when the server cannot be reached or queried.
[[nodiscard]] std::vector<std::string> unlogged_tables(const PreflightTarget& primary);

}  // namespace pgdual::jobs
