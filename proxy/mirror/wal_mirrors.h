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
/// Thread safety: every member function may be called from any thread.
class WalMirrors {
 public:
  WalMirrors(std::shared_ptr<const config::ProxyConfig> config, const BackendTlsContexts& tls,
             ConflictSink& conflicts, std::shared_ptr<spdlog::logger> log);
  /// Stops every applier (the slot keeps what is not confirmed) and joins the thread.
  ~WalMirrors();

  WalMirrors(const WalMirrors&) = delete;
  WalMirrors& operator=(const WalMirrors&) = delete;

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

 private:
  struct Database;

  [[nodiscard]] std::unique_ptr<Database> start(const std::string& database);
  /// The applier of `database`, or why its apply cannot be held.
  [[nodiscard]] Expected<MirrorApplier*, std::string> holdable(const std::string& database) const;
  /// Runs `task` on the thread until it ends or `cancel` is emitted.
  void spawn(Awaitable<void> task, asio::cancellation_signal& cancel);
  [[nodiscard]] BackendLogin login(const std::string& user_name, const config::BackendConfig& backend,
                                   const std::string& database, std::string_view application) const;
  [[nodiscard]] std::string check_prerequisites(const std::string& database) const;
  void warn_of_unlogged_tables(const std::string& database) const;
  /// Warns when the primary lacks init's event trigger (jobs::has_replica_identity_trigger).
  void warn_without_identity_trigger(const std::string& database) const;
  [[nodiscard]] MirrorApplier::Options options_for(const std::string& database) const;
  [[nodiscard]] SequenceCopier::Options sequence_options(const std::string& database) const;
  [[nodiscard]] SlotLagMonitor::Options lag_options(const std::string& database) const;
  /// The lag monitor found the slot over the limit: stops what waits for it or reads it. On the thread.
  void give_up(const std::string& database, Database& entry, const SlotLag& lag);
  void stop_all();

  std::shared_ptr<const config::ProxyConfig> config_;
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
