#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "conflict/conflict_record.h"
#include "protocol/replication.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/mirror/applied_units.h"
#include "proxy/mirror/apply_hold.h"
#include "proxy/mirror/apply_connection.h"
#include "proxy/mirror/slot_stream.h"
#include "proxy/mirror/sync_record.h"
#include "proxy/mirror/task_stop.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// Where an applier stands, for SHOW BACKENDS, /metrics and tests.
struct ApplierProgress {
  protocol::XLogRecPtr applied = 0;  ///< the end LSN of the last transaction applied (or found applied)
  protocol::XLogRecPtr durable = 0;  ///< the end LSN up to which the mirror's WAL is flushed: the slot's confirmed
  std::uint64_t transactions = 0;    ///< transactions committed on the mirror by this applier
  std::uint64_t skipped_changes = 0;  ///< changes the mirror refused, left out and recorded
  std::uint64_t rounds = 0;          ///< times the slot and the mirror were opened
  /// Rounds that found the mirror without transactions it had applied (it stopped before they
  /// were durable there): the slot sent them again.
  std::uint64_t mirror_losses = 0;
  std::string last_error;            ///< why the last round ended; empty while none has
  SyncRecord sync;                   ///< pgdual sync's record on the mirror, as last read
};

/// The WAL mirror of one database (docs/wal-mirror.md): reads the primary's slot, applies each
/// transaction to the mirror in commit order, tells the sessions waiting for the transaction's
/// unit key once the mirror's COMMIT is in (AppliedUnits), and confirms the slot once that COMMIT
/// is durable on the mirror's disk.
///
/// Before each round it reads pgdual sync's record on the mirror (docs/sync.md): while the
/// database waits for a sync, or a sync copies it, it stands still; once it has applied past the point where the copy
/// ended, it marks the record in sync, and the sessions wait for their transactions again.
///
/// A round opens the slot stream and the apply connection and runs until something fails: the
/// primary, the mirror, or either connection. The next round starts after a growing pause and
/// goes on from the slot, whose resent transactions the mirror's ledger skips: nothing lost,
/// nothing applied twice. A transaction the mirror refuses is read again at once and applied in
/// careful mode, each refused change left out and recorded as a conflict, so the stream never
/// stalls on it.
///
/// run() and stop() on the executor run() was spawned on; progress() from any thread.
class MirrorApplier {
 public:
  struct Options {
    SlotStreamOptions slot;
    /// The mirror's login, with its database: a role that may set session_replication_role.
    BackendLogin mirror_login;
    ApplyOptions apply{};
    std::chrono::milliseconds retry_min{100};
    std::chrono::milliseconds retry_max{5'000};
  };
  /// Receives each conflict: a change the mirror refused.
  using Recorder = std::function<void(conflict::ConflictRecord)>;

  MirrorApplier(config::BackendConfig primary, std::shared_ptr<ssl::context> primary_tls,
                config::BackendConfig mirror, std::shared_ptr<ssl::context> mirror_tls, Options options,
                AppliedUnits& units, Recorder recorder, std::shared_ptr<spdlog::logger> log);

  /// Applies until stop().
  Awaitable<void> run();
  /// Ends run() once its current step is over: a round waiting for the primary ends at the next
  /// message or keepalive (at the latest after the slot's receive timeout). To end the wait at
  /// once, cancel run()'s coroutine as well (terminal cancellation through the slot of the
  /// completion token it was spawned with). The slot keeps what was confirmed.
  void stop() noexcept;
  [[nodiscard]] ApplierProgress progress() const;

  /// Holds the apply at one point of the primary's WAL for admin console session `owner`
  /// (ApplyHold::hold: before the first transaction committed at or after `target`, 0 for the
  /// next one); answers once it stands there. On run()'s executor.
  Awaitable<Expected<protocol::XLogRecPtr, std::string>> hold(std::uint64_t owner, protocol::XLogRecPtr target) {
    return hold_.hold(owner, target);
  }
  /// Ends `owner`'s hold (ApplyHold::release). On run()'s executor.
  std::optional<ApplyHold::Times> release(std::uint64_t owner) { return hold_.release(owner); }

 private:
  /// One round: opens both sides and applies until a failure, which it throws.
  Awaitable<void> round();
  /// Reads pgdual sync's record on the mirror and tells the sessions (applier_sync.cpp). Throws
  /// as a round does when the mirror cannot be reached.
  Awaitable<SyncRecord> read_sync();
  /// Whether the apply has everything the primary committed before the copy ended.
  [[nodiscard]] bool caught_up(const SlotStream& stream, const ApplyConnection& apply) const;
  /// Marks the record in sync and lets the sessions wait for their transactions again.
  Awaitable<void> finish_catch_up();
  /// Settles `results` in order. False when one failed: the round is to end (its transaction is
  /// read again and applied carefully by the next one).
  bool take(const std::vector<TransactionResult>& results);
  /// Before the unit at `unit` while a hold stops the apply there: commits what is held for a
  /// shared COMMIT, then stands still until the hold ends. False when that commit failed, as take().
  Awaitable<bool> stand_still(SlotStream& stream, ApplyConnection& apply, protocol::XLogRecPtr unit);
  /// A transaction's result: announced, its skipped changes recorded, and waiting to be durable.
  void settle(const TransactionResult& result);
  /// At a round's start: whether the mirror's ledger (`ledger`, from the apply connection) lacks
  /// transactions applied before; if so, sessions keep their reads off it until they are back.
  void check_mirror_kept(std::optional<protocol::XLogRecPtr> ledger);
  /// Confirms the slot up to the results the mirror's WAL now holds durably (`flushed`).
  void confirm_durable(SlotStream& stream, protocol::XLogRecPtr flushed);
  /// The stream's next message. While applied transactions wait to be durable and the stream is
  /// quiet, asks the mirror how far its WAL is flushed every kDurablePoll meanwhile.
  Awaitable<SlotItem> next_message(SlotStream& stream, ApplyConnection& apply);
  void record_skipped(const TransactionResult& result, const FailedChange& change);

  config::BackendConfig primary_;
  std::shared_ptr<ssl::context> primary_tls_;
  config::BackendConfig mirror_;
  std::shared_ptr<ssl::context> mirror_tls_;
  Options options_;
  AppliedUnits& units_;
  Recorder recorder_;
  std::shared_ptr<spdlog::logger> log_;
  std::string source_;
  /// The commit LSN of a transaction the mirror refused in fast mode: applied carefully next.
  protocol::XLogRecPtr careful_at_ = 0;
  /// Applied in this round and not durable yet: the mirror's WAL position each needs flushed, and
  /// the end LSN the slot is confirmed to then. In commit order.
  struct Undurable {
    protocol::XLogRecPtr mirror_lsn;
    protocol::XLogRecPtr end_lsn;
  };
  std::deque<Undurable> undurable_;
  /// The commit LSN of the last transaction applied (or found applied), across rounds.
  protocol::XLogRecPtr last_commit_applied_ = 0;
  /// While the mirror has lost transactions: the commit LSN it must have applied again; 0 otherwise.
  protocol::XLogRecPtr lost_through_ = 0;
  /// pgdual sync's record, as read_sync() last read it.
  SyncRecord sync_;
  TaskStop stop_;
  ApplyHold hold_;
  mutable std::mutex progress_mutex_;
  ApplierProgress progress_;
};

}  // namespace pgdual::proxy
