#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "config/proxy_config.h"

namespace pgdual::proxy {

/// Deletes ledger entries older than ledger.retention, every
/// ledger.prune_interval, on a thread of its own, from both backends of every
/// database a session has logged in to: the mirror's ledger holds every
/// unit's key, and the primary's may too.
///
/// Each round connects anew with libpq as the user last seen in that
/// database, deletes in batches (each its own short transaction, so a large
/// backlog neither holds locks for long nor bloats one transaction) and
/// disconnects. A database without pgdual's schema is skipped (debug log); a
/// backend that cannot be reached or refuses is a warning, and the next round
/// tries again. Logs name databases, backends and counts, never row data.
///
/// Thread safety: every member function may be called from any thread.
class LedgerPruner {
 public:
  /// Starts the pruning thread; its first round comes one prune_interval
  /// from now. `config` and `logger` must not be null.
  LedgerPruner(std::shared_ptr<const config::ProxyConfig> config, std::shared_ptr<spdlog::logger> logger);
  /// Stops and joins the thread: at once when it is waiting, after the
  /// statement or connection attempt under way (at most the backend's
  /// connect_timeout, or a batch's statement timeout) when it is pruning.
  ~LedgerPruner();

  LedgerPruner(const LedgerPruner&) = delete;
  LedgerPruner& operator=(const LedgerPruner&) = delete;

  /// A session logged in to `database` as `user`: prune that database's
  /// ledgers from now on, as `user` (the latest one noted for the database).
  /// Never waits for I/O; never throws (a note that cannot be stored for
  /// lack of memory is logged and dropped).
  void note_database(const std::string& database, const std::string& user) noexcept;

  /// Ledger entries deleted so far, on both backends together.
  [[nodiscard]] std::uint64_t pruned() const noexcept;

 private:
  /// Database name to the user to prune it as.
  using Databases = std::map<std::string, std::string, std::less<>>;

  void prune_until_stopped() noexcept;
  void prune_round() noexcept;
  /// Prunes `database` on `backend`. Throws PgClientError, or std::exception
  /// for an answer that is not a count.
  void prune_database(const config::BackendConfig& backend, const std::string& database,
                      const config::UserConfig& user);

  const std::shared_ptr<const config::ProxyConfig> config_;
  const std::shared_ptr<spdlog::logger> logger_;

  std::mutex mutex_;
  std::condition_variable wake_;
  Databases databases_;  ///< guarded by mutex_
  /// Set under mutex_ (so the wait cannot miss it), read without it between
  /// batches.
  std::atomic<bool> stopping_{false};

  std::atomic<std::uint64_t> pruned_{0};
  std::thread pruner_;  ///< last, so that it starts after everything it uses
};

}  // namespace pgdual::proxy
