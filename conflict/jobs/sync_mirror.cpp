#include "conflict/jobs/sync_mirror.h"

#include <algorithm>

#include "conflict/sql_text.h"

namespace pgdual::jobs {
namespace {

/// The application's objects, named, outside the system's schemas and pgdual's: schemas other
/// than public, then relations, routines, types of their own, large objects, extensions.
constexpr std::string_view kObjectsSql = R"sql(
WITH own(nsp) AS (
  SELECT oid FROM pg_catalog.pg_namespace
  WHERE nspname NOT IN ('pgdual', 'information_schema') AND nspname NOT LIKE 'pg\_%'
)
SELECT 'schema ' || quote_ident(nspname) FROM pg_catalog.pg_namespace
  WHERE oid IN (SELECT nsp FROM own) AND nspname <> 'public'
UNION ALL
SELECT 'relation ' || c.oid::regclass::text FROM pg_catalog.pg_class AS c WHERE c.relnamespace IN (SELECT nsp FROM own)
UNION ALL
SELECT 'routine ' || p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p WHERE p.pronamespace IN (SELECT nsp FROM own)
UNION ALL
SELECT 'type ' || t.oid::regtype::text FROM pg_catalog.pg_type AS t
  WHERE t.typnamespace IN (SELECT nsp FROM own) AND t.typrelid = 0 AND t.typelem = 0
UNION ALL
SELECT 'large object ' || oid::text FROM pg_catalog.pg_largeobject_metadata
UNION ALL
SELECT 'extension ' || quote_ident(extname) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'
LIMIT 1
)sql";

/// Dropped with their schemas, but for those in pg_catalog.
constexpr std::string_view kEmptySql = R"sql(
DO $empty$
DECLARE
  name text;
BEGIN
  FOR name IN SELECT quote_ident(extname) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE 'DROP EXTENSION IF EXISTS ' || name || ' CASCADE';
  END LOOP;
  FOR name IN SELECT quote_ident(nspname) FROM pg_catalog.pg_namespace
              WHERE nspname NOT IN ('pgdual', 'information_schema') AND nspname NOT LIKE 'pg\_%' LOOP
    EXECUTE 'DROP SCHEMA ' || name || ' CASCADE';
  END LOOP;
  PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata;
END
$empty$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
COMMENT ON SCHEMA public IS 'standard public schema';
GRANT USAGE ON SCHEMA public TO PUBLIC;
)sql";

bool same_tables(const std::vector<SyncTable>& primary, std::vector<SyncTable> mirror) {
  if (primary.size() != mirror.size()) return false;
  auto by_name = [](const SyncTable& left, const SyncTable& right) { return left.name < right.name; };
  auto sorted = primary;
  std::ranges::sort(sorted, by_name);
  std::ranges::sort(mirror, by_name);
  for (std::size_t index = 0; index < sorted.size(); ++index) {
    if (sorted[index].name != mirror[index].name || sorted[index].columns != mirror[index].columns) return false;
  }
  return true;
}

/// The first of `tables` that has a row on the mirror, or "".
std::string first_with_rows(PgClient& mirror, const std::vector<SyncTable>& tables) {
  for (const auto& table : tables) {
    if (mirror.query_value("SELECT EXISTS (SELECT FROM ONLY " + table.name + ")") == "t") return table.name;
  }
  return {};
}

}  // namespace

MirrorContents mirror_contents(PgClient& mirror, const std::vector<SyncTable>& tables) {
  const auto first = mirror.query(std::string{kObjectsSql});
  if (first.empty()) return {};
  const auto found = first.front().at(0).value_or("");
  if (!same_tables(tables, tables_to_copy(mirror))) return {.holds = MirrorHolds::other, .example = found};
  if (const auto filled = first_with_rows(mirror, tables); !filled.empty()) {
    return {.holds = MirrorHolds::other, .example = "rows in table " + filled};
  }
  if (mirror.query_value("SELECT count(*) FROM pg_catalog.pg_largeobject_metadata") != "0") {
    return {.holds = MirrorHolds::other, .example = "large objects"};
  }
  return {.holds = MirrorHolds::schema_only, .example = {}};
}

std::string recorded_state(PgClient& mirror) {
  if (mirror.query_value("SELECT to_regclass('pgdual.sync') IS NOT NULL") != "t") return {};
  return mirror.query_value("SELECT state FROM pgdual.sync");
}

bool record_waiting_if_empty(PgClient& mirror, const std::vector<SyncTable>& tables) {
  if (tables.empty() || !recorded_state(mirror).empty()) return false;
  if (mirror_contents(mirror, tables).holds != MirrorHolds::nothing) return false;
  mirror.execute("INSERT INTO pgdual.sync (state) VALUES ('waiting') ON CONFLICT (only_row) DO NOTHING");
  return true;
}

void record_copying(PgClient& mirror) {
  mirror.execute(
      "INSERT INTO pgdual.sync (state) VALUES ('copying') ON CONFLICT (only_row) DO UPDATE SET state = 'copying', "
      "started_at = clock_timestamp(), updated_at = clock_timestamp(), slot_lsn = NULL, catch_up_to = NULL, "
      "tables_total = 0, tables_done = 0, rows_copied = 0, bytes_copied = 0, bytes_total = 0");
}

void record_progress(PgClient& mirror, const conflict::SyncProgress& progress, std::int64_t bytes_total) {
  static_cast<void>(mirror.execute(
      "UPDATE pgdual.sync SET updated_at = clock_timestamp(), tables_total = $1, tables_done = $2, rows_copied = $3, "
      "bytes_copied = $4, bytes_total = $5",
      PgClient::Row{std::to_string(progress.tables), std::to_string(progress.tables_done),
                    std::to_string(progress.rows_done), std::to_string(progress.bytes_done),
                    std::to_string(bytes_total)}));
}

void record_catching_up(PgClient& mirror, const std::string& lsn) {
  static_cast<void>(mirror.execute(
      "UPDATE pgdual.sync SET state = 'catching up', catch_up_to = $1::pg_lsn, updated_at = clock_timestamp()",
      PgClient::Row{lsn}));
}

void empty_mirror(PgClient& mirror) { mirror.execute(std::string{kEmptySql}); }

}  // namespace pgdual::jobs
