#pragma once

#include <cstdint>
#include <string_view>

#include "protocol/backend_messages.h"
#include "protocol/replication.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// Where `pgdual sync` stands for a database (docs/sync.md), as the mirror's pgdual.sync says.
enum class SyncState : std::uint8_t {
  none,         ///< no sync was ever run there: the mirror is taken to be a copy already
  waiting,      ///< `pgdual init` found the mirror's database empty: nothing is applied until a sync
  copying,      ///< the sync copies the database: nothing may be applied onto the mirror
  catching_up,  ///< copied: the apply brings it up to the primary, sessions not waiting yet
  in_sync,      ///< caught up: the mirror is what the WAL mirror keeps it, an exact copy
};

/// "waiting", "copying", "catching up", "in sync", or "" for none: pgdual.sync's own words.
[[nodiscard]] std::string_view to_string(SyncState state) noexcept;

/// The mirror's record of the sync, and the progress the sync wrote into it.
struct SyncRecord {
  SyncState state = SyncState::none;
  /// The primary's WAL position when the copy ended: caught up once the apply is past it.
  protocol::XLogRecPtr catch_up_to = 0;
  std::int64_t tables_total = 0;
  std::int64_t tables_done = 0;
  std::int64_t rows_copied = 0;
  std::int64_t bytes_copied = 0;
  std::int64_t bytes_total = 0;

  /// Sessions do not wait for the mirror, nor read from it (AppliedUnits::set_syncing).
  [[nodiscard]] bool syncing() const noexcept {
    return state == SyncState::waiting || state == SyncState::copying || state == SyncState::catching_up;
  }
  /// Nothing may be applied onto the mirror: the apply stands still.
  [[nodiscard]] bool stands_still() const noexcept {
    return state == SyncState::waiting || state == SyncState::copying;
  }
};

/// The record in the row kReadSyncSql answers; a row it cannot read is none. Pure.
[[nodiscard]] SyncRecord sync_record_of(const protocol::OwnedDataRow& row);

/// Reads the record on `connection`, a mirror connection in pgdual's database: none when
/// pgdual.sync is empty, or missing (a schema older than version 7). Throws
/// boost::system::system_error (a broken connection).
Awaitable<SyncRecord> read_sync_record(BackendConnection& connection);

/// The apply has caught up: the record says in sync. Throws as read_sync_record(); a refusal is
/// returned, as its SQLSTATE, empty when none.
Awaitable<std::string> record_in_sync(BackendConnection& connection);

}  // namespace pgdual::proxy
