#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <spdlog/logger.h>

#include "conflict/conflict_log.h"
#include "conflict/conflict_record.h"
#include "proxy/idempotency_key.h"

namespace pgdual::proxy {

/// Takes ConflictRecords from the session threads and writes them to the
/// conflict log on a thread of its own, so that no session waits for the disk.
/// The same thread appends the resolutions `pgdual reconcile` leaves in the
/// log's inbox (conflict/log_inbox.h), which it checks every `inbox_interval`.
///
/// A failed append or flush is logged (with a record's kind and id at most,
/// never its contents), counted in failed(), and the sink goes on with later
/// records.
///
/// Thread safety: every member function may be called from any thread.
class ConflictSink {
 public:
  /// Starts the writer thread. With SyncPolicy::on_flush the writer calls
  /// log.flush() at most `group_commit` after an append, so records that
  /// arrive together share one fdatasync (group commit); with every_append,
  /// log.append() syncs each record itself. `logger` must not be null.
  ConflictSink(conflict::ConflictLog log, std::chrono::milliseconds group_commit,
               std::shared_ptr<spdlog::logger> logger,
               std::chrono::milliseconds inbox_interval = std::chrono::seconds{1});
  /// Writes every record still queued, flushes and joins the writer thread.
  ~ConflictSink();

  ConflictSink(const ConflictSink&) = delete;
  ConflictSink& operator=(const ConflictSink&) = delete;

  /// Queues `record` for the writer; never waits for I/O. Fills in an empty
  /// id (a UUIDv7) and an empty time (rfc3339_utc of now). Never throws:
  /// a record that cannot even be queued (out of memory) is logged and counted
  /// in failed().
  void submit(conflict::ConflictRecord record) noexcept;

  /// Blocks until every record submitted before the call is settled: appended
  /// and flushed, or counted in failed(). Asks the writer to flush at once
  /// rather than at the end of the group-commit interval. For tests and shutdown.
  void wait_durable();

  /// What SHOW CONFLICTS lists of a recent conflict: its shape, never row data.
  struct RecentConflict {
    std::string time;
    std::string id;
    conflict::ConflictKind kind = conflict::ConflictKind::unclassified;
    std::vector<std::string> tables;
    std::string statement_fingerprint;
    std::string database;
  };
  /// The last kRecentConflicts conflicts submitted, oldest first.
  [[nodiscard]] std::vector<RecentConflict> recent() const;
  /// Conflicts submitted since the start, by kind; kinds without one are left out.
  [[nodiscard]] std::map<conflict::ConflictKind, std::uint64_t> counts_by_kind() const;
  static constexpr std::size_t kRecentConflicts = 20;

  /// Records appended and flushed, resolutions from the inbox not included.
  [[nodiscard]] std::uint64_t written() const noexcept;
  /// Resolution records appended from the inbox and flushed.
  [[nodiscard]] std::uint64_t resolutions_appended() const noexcept;
  /// Records lost to a failed append, a failed flush, or a full memory.
  [[nodiscard]] std::uint64_t failed() const noexcept;
  /// Conflicts whose latest record is open: those the log held at the start, plus those
  /// submitted since, less those resolved since (by a session, or `pgdual reconcile` through the
  /// inbox). Kept as the records pass, so that asking costs nothing.
  [[nodiscard]] std::size_t open_conflicts() const;

 private:
  using Clock = std::chrono::steady_clock;
  using Batch = std::vector<conflict::ConflictRecord>;

  void write_until_stopped();
  /// Counts `record` and keeps it among the recent ones. Under mutex_.
  void remember(const conflict::ConflictRecord& record);
  /// Appends `record` to the log; false (logged and counted) when it fails.
  bool append(const conflict::ConflictRecord& record);
  /// Flushes the `unflushed` records appended since the last flush and counts
  /// them written, or failed.
  void flush(std::uint64_t unflushed);
  /// Appends what waits in the log's inbox; logs what it did, and a failure only when it
  /// differs from the last one, since the inbox is checked every second.
  void drain_inbox();
  /// Takes the conflicts `resolved` names off the open ones.
  void forget_resolved(const std::vector<std::string>& resolved);

  conflict::ConflictLog log_;  ///< used by the writer thread only
  const std::chrono::milliseconds group_commit_;
  const std::chrono::milliseconds inbox_interval_;
  std::string last_inbox_failure_;  ///< used by the writer thread only
  const std::shared_ptr<spdlog::logger> logger_;

  mutable std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable settled_changed_;
  // Guarded by mutex_:
  IdempotencyKeyGenerator ids_;
  Batch queue_;
  std::uint64_t submitted_ = 0;  ///< records queued since the start
  std::uint64_t settled_ = 0;    ///< of those, the first settled_ are flushed or failed
  bool flush_requested_ = false;
  bool stopping_ = false;
  std::deque<RecentConflict> recent_;
  std::map<conflict::ConflictKind, std::uint64_t> counts_;
  std::unordered_set<std::string> open_ids_;  ///< seeded from the log before the writer starts

  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> resolutions_appended_{0};
  std::thread writer_;  ///< last, so that it starts after everything it uses
};

}  // namespace pgdual::proxy
