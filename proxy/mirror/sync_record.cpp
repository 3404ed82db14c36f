#include "proxy/mirror/sync_record.h"

#include <charconv>
#include <optional>
#include <string>

#include "proxy/backend/simple_query.h"

namespace pgdual::proxy {
namespace {

constexpr std::string_view kReadSyncSql =
    "SELECT state, catch_up_to, tables_total, tables_done, rows_copied, bytes_copied, bytes_total FROM pgdual.sync";
constexpr std::string_view kInSyncSql =
    "UPDATE pgdual.sync SET state = 'in sync', updated_at = clock_timestamp() WHERE state = 'catching up'";

SyncState state_named(const std::optional<std::string>& name) {
  if (name == "waiting") return SyncState::waiting;
  if (name == "copying") return SyncState::copying;
  if (name == "catching up") return SyncState::catching_up;
  if (name == "in sync") return SyncState::in_sync;
  return SyncState::none;
}

}  // namespace

std::string_view to_string(SyncState state) noexcept {
  switch (state) {
    case SyncState::waiting: return "waiting";
    case SyncState::copying: return "copying";
    case SyncState::catching_up: return "catching up";
    case SyncState::in_sync: return "in sync";
    case SyncState::none: break;
  }
  return "";
}

SyncRecord sync_record_of(const protocol::OwnedDataRow& row) {
  const auto& columns = row.columns;
  if (columns.size() != 7) return {};
  SyncRecord record{.state = state_named(columns[0]),
                    .catch_up_to = 0,
                    .tables_total = number_in(columns[2]),
                    .tables_done = number_in(columns[3]),
                    .rows_copied = number_in(columns[4]),
                    .bytes_copied = number_in(columns[5]),
                    .bytes_total = number_in(columns[6])};
  if (columns[1]) record.catch_up_to = protocol::parse_lsn(*columns[1]).value_or(0);
  return record;
}

Awaitable<SyncRecord> read_sync_record(BackendConnection& connection) {
  const auto answer = co_await run_simple_query(connection, kReadSyncSql);
  if (answer.refused || answer.rows.empty()) co_return SyncRecord{};
  co_return sync_record_of(answer.rows.front());
}

Awaitable<std::string> record_in_sync(BackendConnection& connection) {
  const auto answer = co_await run_simple_query(connection, kInSyncSql);
  co_return answer.refused ? answer.refused->sqlstate : std::string{};
}

}  // namespace pgdual::proxy
