#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "protocol/replication.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/mirror/lag_history.h"
#include "proxy/mirror/task_stop.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// What a SlotLagMonitor last read of a database's slot on the primary (docs/wal-mirror.md, "Lag
/// and the primary's disk").
struct SlotLag {
  std::uint64_t lag_bytes = 0;  ///< the primary's WAL position minus the slot's confirmed position, 0 at least
  std::chrono::milliseconds lag{0};  ///< how long the oldest change not confirmed has waited, at least (LagHistory)
  std::uint64_t retained_bytes = 0;  ///< the WAL the slot keeps on the primary's disk, from its restart_lsn
  protocol::XLogRecPtr confirmed = 0;  ///< the slot's confirmed_flush_lsn
  bool slot_exists = false;
  bool slot_active = false;  ///< a walsender reads the slot
  std::string wal_status;    ///< pg_replication_slots.wal_status: reserved, extended, unreserved or lost
  /// When the figures were read; none before the first reading.
  std::optional<std::chrono::steady_clock::time_point> read_at;
  bool stale = false;  ///< the last attempt to read the slot failed: the figures are older
  /// The slot held more than mirror.max_lag_bytes, or the primary invalidated it (wal_status lost):
  /// given up for good.
  bool given_up = false;
  std::string given_up_because;  ///< why, naming the setting; sizes and names only
  bool slot_dropped = false;  ///< once given up: the slot is gone from the primary
  std::string last_error;     ///< why the last reading or drop failed; names and SQLSTATEs, never values
};

/// Watches one database's slot on the primary: every interval, one query on pg_replication_slots
/// over an ordinary connection as the replication user gives the lag (bytes and seconds) and the
/// WAL the slot retains. When the slot retains more than the limit (mirror.max_lag_bytes), the
/// monitor gives the slot up so that the primary's disk cannot fill: it calls `give_up` (which
/// stops what reads the slot), terminates the walsender still reading it and drops the slot, for
/// good: nothing here creates it again. A slot the primary itself invalidated (wal_status lost,
/// past its max_slot_wal_keep_size) can never be read again: it is given up the same way, rather
/// than left for every commit to wait mirror.timeout_ms on. A failure to read or drop is warned about once, kept in
/// lag().last_error with the figures marked stale, and tried again at the next interval.
///
/// run() and stop() on the executor run() was spawned on; lag() from any thread.
class SlotLagMonitor {
 public:
  struct Options {
    /// The replication user's login on the primary, with the database: it may read
    /// pg_replication_slots, end its own walsender and drop the slot.
    BackendLogin primary_login;
    std::string database;
    std::string slot;
    std::uint64_t max_retained_bytes = 0;  ///< mirror.max_lag_bytes
    std::chrono::milliseconds interval{1'000};
    /// How long the primary may take to answer one statement before its connection is given up.
    std::chrono::milliseconds answer_timeout{15'000};
  };
  /// Called once, on run()'s executor, when the slot is given up, before it is dropped.
  using GiveUp = std::function<void(const SlotLag&)>;

  SlotLagMonitor(config::BackendConfig primary, std::shared_ptr<ssl::context> tls, Options options, GiveUp give_up,
                 std::shared_ptr<spdlog::logger> log);

  /// Reads the slot every interval until stop(), or until it gave the slot up and dropped it.
  /// Throws nothing but its own cancellation, which ends it too (terminal cancellation through the
  /// slot of the completion token it was spawned with).
  Awaitable<void> run();
  /// Ends run() at once when it waits for the next interval, else once the reading under way is
  /// over (at the latest after answer_timeout).
  void stop() noexcept;
  [[nodiscard]] SlotLag lag() const;

 private:
  struct Reading;

  Awaitable<void> tick();
  Awaitable<void> connect();
  Awaitable<Reading> read_slot();
  void take(const Reading& reading, LagHistory::Clock::time_point at);
  /// Why `reading` means the slot must go; std::nullopt while it may stay.
  [[nodiscard]] std::optional<std::string> give_up_reason(const Reading& reading) const;
  void give_up_slot(const std::string& reason);
  Awaitable<void> drop_slot();
  Awaitable<void> run_statement(const std::string& sql, std::string_view what);
  void note_failure(const std::string& failure);
  void note_success();

  config::BackendConfig primary_;
  std::shared_ptr<ssl::context> tls_;
  Options options_;
  GiveUp give_up_;
  std::shared_ptr<spdlog::logger> log_;
  std::optional<BackendConnection> connection_;
  LagHistory history_;
  bool given_up_ = false;
  bool failing_ = false;  ///< the last tick failed, and was warned about
  TaskStop stop_;
  mutable std::mutex lag_mutex_;
  SlotLag lag_;
};

}  // namespace pgdual::proxy
