#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/sync_progress.h"

/// The rows part of `pgdual sync` (docs/sync.md): every table's rows, as the primary's exported
/// snapshot shows them, streamed into the mirror by parallel COPY.
namespace pgdual::jobs {

/// One table whose rows are copied.
struct SyncTable {
  std::string name;     ///< "schema"."table", quoted
  std::string columns;  ///< its stored columns, quoted and in order ("a", "b"); empty when it has none
  std::int64_t rows_expected = 0;  ///< the catalog's estimate; 0 when unknown
  std::int64_t bytes = 0;          ///< its heap's size on the primary, which orders the copy
};

/// The primary's tables that hold rows: ordinary and unlogged tables, partitions among them (their
/// partitioned parents hold none), outside the system's schemas, pgdual's and extensions'; the
/// largest first, so that the longest copy starts first. Throws PgClientError.
[[nodiscard]] std::vector<SyncTable> tables_to_copy(PgClient& primary);

/// A server and the login to copy with.
struct CopyEnd {
  config::BackendConfig backend;
  config::UserConfig user;
};

/// Copies the tables on `jobs` threads, each with a connection to the primary in a transaction
/// that imported `snapshot`, and one to the mirror with session_replication_role = replica (so
/// that a schema already there fires no trigger and checks no foreign key). Thread safe: progress()
/// and done() from any thread.
class TableCopy {
 public:
  TableCopy(CopyEnd primary, CopyEnd mirror, std::string database, std::string snapshot, std::vector<SyncTable> tables,
            std::size_t jobs, const std::atomic<bool>& stop);
  /// Joins the threads.
  ~TableCopy();
  TableCopy(const TableCopy&) = delete;
  TableCopy& operator=(const TableCopy&) = delete;

  /// Whether every thread has ended, copied or failed.
  [[nodiscard]] bool done() const noexcept { return running_ == 0; }
  /// Waits for the threads, then rethrows the first failure, if any.
  void finish();
  /// Fills `progress`'s tables, rows, bytes and running tables.
  void fill(conflict::SyncProgress& progress) const;

 private:
  /// One thread's table under way.
  struct Slot {
    std::atomic<std::int64_t> rows{0};
    std::atomic<std::int64_t> bytes{0};
    std::optional<std::size_t> table;  ///< guarded by mutex_
  };

  void work(Slot& slot);
  /// The next table to copy, or none when all are taken or the copy stops.
  std::optional<std::size_t> take(Slot& slot);
  void copy_table(PgClient& primary, PgClient& mirror, Slot& slot, std::size_t index);
  void failed(std::exception_ptr failure);

  CopyEnd primary_;
  CopyEnd mirror_;
  std::string database_;
  std::string snapshot_;
  std::vector<SyncTable> tables_;
  const std::atomic<bool>& stop_;
  mutable std::mutex mutex_;
  std::size_t next_ = 0;                ///< guarded by mutex_
  std::size_t tables_done_ = 0;         ///< guarded by mutex_
  std::int64_t rows_done_ = 0;          ///< of the tables done; guarded by mutex_
  std::int64_t bytes_done_ = 0;         ///< of the tables done; guarded by mutex_
  std::exception_ptr failure_;          ///< the first; guarded by mutex_
  std::atomic<bool> failing_{false};
  std::atomic<std::size_t> running_{0};
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::jthread> threads_;  ///< last: they use everything above
};

}  // namespace pgdual::jobs
