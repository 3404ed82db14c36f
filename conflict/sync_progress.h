#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// What `pgdual sync` shows while it runs (docs/sync.md): a picture for a terminal, one JSON line
/// for anything else, and the list of what pg_restore restores. Pure: figures in, text out. Counts
/// and names only, never a row value.
namespace pgdual::conflict {

/// One table being copied.
struct TableProgress {
  std::string name;                ///< "schema"."table", as SQL quotes it
  std::int64_t rows_done = 0;
  std::int64_t rows_expected = 0;  ///< the catalog's estimate (reltuples); 0 when unknown
};

struct SyncProgress {
  std::string database;
  std::string phase;  ///< "schema", "copying", "indexes", "catching up", "verifying"
  std::size_t tables_done = 0;
  std::size_t tables = 0;
  std::int64_t rows_done = 0;
  std::int64_t rows_expected = 0;  ///< the catalog's estimate for every table; 0 when unknown
  std::int64_t bytes_done = 0;     ///< COPY data copied
  double copy_seconds = 0.0;       ///< since the rows began to be copied; 0 before
  std::optional<std::int64_t> lag_bytes;  ///< catching up: WAL the mirror has not applied yet
  std::vector<TableProgress> running;     ///< the tables being copied now, in the order they began
};

/// Rows per second over copy_seconds; 0 before any.
[[nodiscard]] double rows_per_second(const SyncProgress& progress);

/// Seconds left at the rate so far, while copying with an estimate; std::nullopt otherwise.
[[nodiscard]] std::optional<double> eta_seconds(const SyncProgress& progress);

/// One JSON object, no newline: database, phase, tables_done, tables, rows_copied, rows_expected,
/// bytes_copied, elapsed_seconds, rows_per_second, mb_per_second, eta_seconds (null when unknown),
/// lag_bytes (null unless catching up), running ([{table, rows, rows_expected}]).
[[nodiscard]] std::string render_sync_json(const SyncProgress& progress);

/// The terminal picture, a line each, no newlines: a bar per table being copied, then the
/// overall bar with the rate and the ETA, e.g.
/// `  public.orders        [########------------]  40%  400,000 of ~1,000,000 rows`
/// `copying  3/12 tables [####----------------]  21%  1,234,567 rows  52.1 MB/s  61,000 rows/s  ETA 1m05s`.
/// Other phases: one line naming the phase (and the lag while catching up).
[[nodiscard]] std::vector<std::string> render_sync_lines(const SyncProgress& progress);

/// `seconds` as "45s", "1m05s" or "2h03m".
[[nodiscard]] std::string duration_text(double seconds);

/// pg_restore's list of a dump (`pg_restore --list`) without the entries pgdual sync must not
/// restore on the mirror: pgdual's own event trigger (its function is in schema pgdual, which the
/// dump leaves out; `pgdual init` makes the mirror's own). Every other line as it was.
[[nodiscard]] std::string restore_list_without_own(std::string_view list, std::string_view own_event_trigger);

/// pg_restore's list with only its large objects' entries (BLOB, which creates one, and BLOBS, their
/// data): for a mirror that holds the schema already.
[[nodiscard]] std::string restore_list_large_objects(std::string_view list);

}  // namespace pgdual::conflict
