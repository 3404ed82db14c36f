#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/table_copy.h"
#include "conflict/sync_progress.h"

/// What `pgdual sync` finds on, and does to, the mirror's database (docs/sync.md).
namespace pgdual::jobs {

/// What the mirror's database holds before a sync.
enum class MirrorHolds : std::uint8_t {
  nothing,        ///< no object of the application's: the whole database is copied
  schema_only,    ///< the primary's tables, with the same columns, every one empty: the rows are copied
  other,          ///< anything else: objects or rows the sync did not put there
};

struct MirrorContents {
  MirrorHolds holds = MirrorHolds::nothing;
  std::string example;  ///< with other: what was found first, named
};

/// Compares the mirror's database with the primary's `tables`. pgdual's own schema is never counted.
/// Throws PgClientError.
[[nodiscard]] MirrorContents mirror_contents(PgClient& mirror, const std::vector<SyncTable>& tables);

/// pgdual sync's record on the mirror (pgdual.sync), as it last left it: "" when there is none,
/// else "waiting", "copying", "catching up" or "in sync". Throws PgClientError.
[[nodiscard]] std::string recorded_state(PgClient& mirror);

/// `pgdual init`'s part: when the mirror's database holds nothing of the application's while the
/// primary's has `tables`, and no sync was recorded, records it waiting for pgdual sync, so that
/// pgdual serve applies nothing onto it (every change would fail there) until the sync. Returns
/// whether it did. Throws PgClientError.
bool record_waiting_if_empty(PgClient& mirror, const std::vector<SyncTable>& tables);

/// Starts the record anew: state copying, nothing copied yet.
void record_copying(PgClient& mirror);
/// Writes what `progress` says was copied so far, and the copy's total.
void record_progress(PgClient& mirror, const conflict::SyncProgress& progress, std::int64_t bytes_total);
/// The copy ended at the primary's position `lsn`: state catching up. pgdual serve's apply goes on
/// from the slot, and marks the record in sync once past `lsn`.
void record_catching_up(PgClient& mirror, const std::string& lsn);

/// Drops everything of the application's from the mirror's database, so that a sync starts over:
/// every schema but the system's and pgdual's (public is made anew, as a new database has it),
/// every large object, every extension left. Throws PgClientError.
void empty_mirror(PgClient& mirror);

}  // namespace pgdual::jobs
