#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "proxy/backend/backend_tls.h"
#include "proxy/conflict_sink.h"
#include "proxy/mirror/applied_units.h"
#include "proxy/mirror/applier.h"
#include "proxy/mirror/instance_link.h"
#include "proxy/mirror/sequence_copier.h"
#include "proxy/mirror/slot_lag.h"
#include "proxy/mirror/wal_mirror_state.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// The WAL mirror of every database clients use (docs/wal-mirror.md): per database a
/// MirrorApplier, a SequenceCopier and a SlotLagMonitor, started when the first session logs in to
/// it, as mirror.replication_user on the primary and mirror.apply_user on the mirror. They run on
/// one thread of their own: the apply waits on the network, never on the sessions' threads.
///
/// A database whose slot holds more WAL than mirror.max_lag_bytes is given up: its applier stops
/// for good, its slot is dropped, and its sessions no longer wait for the mirror (AppliedUnits::
/// give_up). It stays so until pgdual restarts, which creates the slot anew: the mirror has to be
/// copied again first.
///
/// Several pgdual instances may serve the same databases (docs/deployment.md): each runs all of
/// this, and per database the one holding the apply lease applies, while the others' appliers
/// stand by and their sequence copiers pause; each instance's link hears the keys its sessions
/// wait for from the applying one.
///
/// Thread safety: every member function may be called from any thread.
class WalMirrors {
 public:
  WalMirrors(std::shared_ptr<const config::ProxyConfig> config, const BackendTlsContexts& tls,
             ConflictSink& conflicts, std::shared_ptr<spdlog::logger> log);
  /// Stops every applier (the slot keeps what is not confirmed) and joins the thread.
  ~WalMirrors();

  WalMirrors(const WalMirrors&) = delete;
  WalMirrors& operator=(const WalMirrors&) = delete;

  /// This process among the pgdual instances in front of the same servers.
  [[nodiscard]] const InstanceIdentity& self() const noexcept { return self_; }

  /// Where the sessions of `database` wait for their transactions; its applier starts with the
  /// first call. Never waits for I/O.
  [[nodiscard]] AppliedUnits& units_for(const std::string& database);

  /// What the preflight check (jobs::check_wal_prerequisites) found missing for `database` when
  /// its mirror started, described; empty when nothing was, or the check has not ended.
  [[nodiscard]] std::string unmet_prerequisites(const std::string& database) const;

  struct DatabaseProgress {
    std::string database;
    ApplierProgress progress;
    std::size_t waiting = 0;  ///< sessions' transactions waiting to be applied
    SlotLag lag;              ///< what the lag monitor last read of the slot
    WalMirrorStatus status;
    /// Every pgdual instance using the database, as its pgdual.instances on the mirror last said.
    std::vector<InstanceRow> instances;
    std::uint64_t keys_heard = 0;  ///< unit keys another instance's apply committed for sessions here
  };
  /// Each database's WAL mirror, by name.
  [[nodiscard]] std::vector<DatabaseProgress> progress() const;

  /// Holds the apply of `database` for admin console session `owner` (MirrorApplier::hold) and
  /// answers, on the caller's executor, once it stands still; or why not, also when no client has
  /// used the database since pgdual started (its mirror does not run) or it was given up.
  Awaitable<Expected<protocol::XLogRecPtr, std::string>> hold_apply(const std::string& database, std::uint64_t owner,
                                                                    protocol::XLogRecPtr target);
  /// Ends `owner`'s hold of `database`'s apply: how long the apply stood still; std::nullopt when
  /// `owner` held nothing there. Answers on the caller's executor.
  Awaitable<std::optional<ApplyHold::Times>> resume_apply(const std::string& database, std::uint64_t owner);
  /// Ends every hold of `owner`, without waiting: its console session ended.
  void release_holds(std::uint64_t owner);

  /// What SWAP ROLES did to one database's WAL mirror.
  struct DatabaseSwap {
    std::string database;
    /// From the drain marker's commit on the old primary until the old mirror held it durably.
    std::chrono::milliseconds drained_in{0};
    std::size_t sequences_set = 0;  ///< sequences the last copy set on the old mirror
  };
  /// Swaps the roles of every running WAL mirror (docs/cutover.md, "Swapping the roles"), while
  /// writes are paused. First every database is drained: a marker transaction committed on the
  /// primary now must be applied, and durable, on the mirror. Then each one's apply stops, its
  /// sequences are copied once more, and its slot is dropped from the old primary; then every
  /// mirror runs with `swapped` (routing.primary the other way), from a new slot on the new
  /// primary. Answers, on the caller's executor, once every new slot exists. On a failure before
  /// `deadline`, nothing is swapped: the mirrors run as before (a slot already dropped is created
  /// anew, which loses nothing while writes are paused), and why is returned.
  Awaitable<Expected<std::vector<DatabaseSwap>, std::string>> swap_roles(
      std::shared_ptr<const config::ProxyConfig> swapped, std::chrono::steady_clock::time_point deadline);

 private:
  struct Database {
    std::string unmet_prerequisites;  ///< jobs::describe() of the preflight; empty when all are met. Under mutex_
    AppliedUnits units;
    std::unique_ptr<MirrorApplier> applier;
    std::unique_ptr<SequenceCopier> sequences;
    std::unique_ptr<SlotLagMonitor> lag;
    std::unique_ptr<InstanceLink> link;
    asio::cancellation_signal cancel_applier;
    asio::cancellation_signal cancel_sequences;
    asio::cancellation_signal cancel_lag;
    asio::cancellation_signal cancel_link;
    std::atomic<std::size_t> tasks{0};  ///< of the four above, those whose coroutine has not ended
  };


  [[nodiscard]] std::unique_ptr<Database> start(const std::string& database);
  /// Makes and spawns `entry`'s applier, sequence copier, lag monitor and instance link, with
  /// config_'s roles.
  void start_mirroring(const std::string& database, Database& entry);
  /// Asks what start_mirroring() spawned to stop, and cancels what it waits for. On the thread.
  static void request_stop(Database& entry);
  /// Stops what start_mirroring() spawned and waits, on the thread, until it has ended.
  Awaitable<void> stop_mirroring(Database& entry);

  // SWAP ROLES (wal_swap.cpp), on the thread.
  using SwapClock = std::chrono::steady_clock;
  Awaitable<Expected<std::vector<DatabaseSwap>, std::string>> swap_on_thread(
      std::shared_ptr<const config::ProxyConfig> swapped, SwapClock::time_point deadline);
  /// Commits a marker transaction on the primary and waits until the mirror holds it durably.
  Awaitable<Expected<DatabaseSwap, std::string>> drain(const std::string& database, Database& entry,
                                                      SwapClock::time_point deadline);
  /// Stops the drained mirror of `database`, copies its sequences once more and drops its slot.
  Awaitable<Expected<std::size_t, std::string>> retire(const std::string& database, Database& entry);
  /// Runs every database of `names` with `config`'s roles, and waits for their slots.
  Awaitable<Expected<void, std::string>> restart_all(const std::vector<std::string>& names,
                                                     std::shared_ptr<const config::ProxyConfig> config,
                                                     SwapClock::time_point deadline);
  [[nodiscard]] Database& entry_of(const std::string& database) const;
  /// The applier of `database`, or why its apply cannot be held.
  [[nodiscard]] Expected<MirrorApplier*, std::string> holdable(const std::string& database) const;
  /// Runs `task` on the thread until it ends or `cancel` is emitted.
  void spawn(Awaitable<void> task, asio::cancellation_signal& cancel, std::atomic<std::size_t>& tasks);
  [[nodiscard]] BackendLogin login(const std::string& user_name, const config::BackendConfig& backend,
                                   const std::string& database, std::string_view application) const;
  [[nodiscard]] std::string check_prerequisites(const std::string& database) const;
  /// What jobs::check_wal_prerequisites finds missing for `database` with `config`'s roles, described.
  [[nodiscard]] static std::string prerequisites_unmet(const config::ProxyConfig& config, const std::string& database);
  void warn_of_unlogged_tables(const std::string& database) const;
  /// Warns when the primary lacks init's event trigger (jobs::has_replica_identity_trigger).
  void warn_without_identity_trigger(const std::string& database) const;
  [[nodiscard]] MirrorApplier::Options options_for(const std::string& database) const;
  [[nodiscard]] SequenceCopier::Options sequence_options(const std::string& database) const;
  [[nodiscard]] SlotLagMonitor::Options lag_options(const std::string& database) const;
  [[nodiscard]] InstanceLink::Options link_options(const std::string& database) const;
  /// The lag monitor found the slot over the limit: stops what waits for it or reads it. On the thread.
  void give_up(const std::string& database, Database& entry, const SlotLag& lag);
  void stop_all();

  /// Whose roles the mirrors run with: replaced by swap_roles(), on the thread, under mutex_.
  std::shared_ptr<const config::ProxyConfig> config_;
  /// This process among the pgdual instances in front of the same servers.
  const InstanceIdentity self_;
  const BackendTlsContexts& tls_;
  ConflictSink& conflicts_;
  std::shared_ptr<spdlog::logger> log_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Database>, std::less<>> databases_;  ///< guarded by mutex_
  std::atomic<std::size_t> running_{0};  ///< appliers whose run() has not ended
  std::optional<asio::steady_timer> stop_deadline_;  ///< on the thread, once stopping
  std::thread thread_;  ///< last, so that it starts after everything it uses
};

}  // namespace pgdual::proxy
