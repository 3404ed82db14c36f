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
#include "proxy/mirror/apply_lease.h"
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
  /// This instance holds the database's apply lease (docs/deployment.md): it applies. False while
  /// another instance does, or before the first round took it.
  bool applying = false;
  /// While another instance applies: where it listens, or its backend on the mirror when no
  /// instance's row names it; empty when nobody holds the lease.
  std::string applied_by;
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
/// Several pgdual instances may run it for the same database (docs/deployment.md): a round first
/// takes the database's apply lease, an advisory lock held by its apply connection on the mirror,
/// and stands by while another instance holds it, taking over when that one's connection ends or
/// it stays silent past lease_timeout. So one instance applies at a time, and one whose lease was
/// taken away can write nothing more: its mirror backend was ended.
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
    /// The replication user's login on the primary, with the database, for a plain connection: it
    /// may end a walsender of its own role that still reads the slot.
    BackendLogin primary_login;
    /// This instance, as pgdual.instances on the mirror names it.
    InstanceIdentity self;
    /// How long the lease's holder may be silent before this instance ends its apply and takes over.
    std::chrono::milliseconds lease_timeout{5'000};
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
  /// Takes in the sync record read: what the sessions are told, and progress() shows.
  void note_sync(const SyncRecord& record);

  // The apply lease (applier_lease.cpp).
  /// Takes the lease on `mirror`, the apply's own connection, standing by while another instance
  /// holds it. False when the round is to end without applying: stop() was called, or the sync
  /// record now says the apply must stand still.
  Awaitable<bool> take_lease(BackendConnection& mirror);
  /// While standing by: the slot exists on the primary, so logins need not wait for it.
  Awaitable<void> look_for_slot();
  /// Opens the slot stream; a walsender still reading the slot for an instance whose lease this
  /// one took is ended first.
  Awaitable<SlotStream> open_stream();
  /// A plain connection to the primary as the replication user.
  Awaitable<BackendConnection> open_primary();
  void note_lease(bool applying, std::string applied_by);
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
