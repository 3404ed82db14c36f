#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "proxy/admin/http_endpoint.h"
#include "proxy/admin/live_settings.h"
#include "proxy/admin/metrics.h"
#include "proxy/backend/backend_tls.h"
#include "proxy/cancel_registry.h"
#include "proxy/client_slots.h"
#include "proxy/conflict_sink.h"
#include "proxy/cutover/rollback_watch.h"
#include "proxy/cutover/running_roles.h"
#include "proxy/cutover/write_gate.h"
#include "proxy/ledger_pruner.h"
#include "proxy/mirror/database_setup.h"
#include "proxy/mirror/wal_mirrors.h"
#include "proxy/net/asio.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"
#include "proxy/route/statement_latencies.h"
#include "proxy/route/shadow_judgement.h"
#include "proxy/session_registry.h"

namespace pgdual::proxy {

/// The listening proxy: accepts clients and runs one Session each, spread
/// round-robin over one single-threaded io_context per worker thread; shuts
/// down gracefully on SIGTERM or SIGINT, and reloads `config_file` on SIGHUP.
///
/// A session stays on one thread for its whole life: no strand, and no
/// cross-thread wake-up between reading a message and forwarding it, which
/// on a shared thread pool doubled the single-client latency.
class Server {
 public:
  /// Makes the backends' TLS contexts, opens the conflict log, binds the
  /// listening socket and starts pruning the ledgers. Throws
  /// std::runtime_error naming the key, the file or the address when it
  /// cannot.
  Server(std::filesystem::path config_file, std::shared_ptr<const config::ProxyConfig> config,
         std::shared_ptr<spdlog::logger> log);

  /// Serves until a shutdown signal, then lets running statements finish
  /// within the configured grace period and closes everything.
  void run();

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

  Awaitable<void> accept_loop();
  Awaitable<void> serve(tcp::socket client, std::uint64_t id);
  Awaitable<void> shut_down_on_signal();
  Awaitable<void> wait_until_sessions_end(std::chrono::milliseconds limit);
  /// Judges the mirror's reads every second; a trip sets read steering to 0 until an operator
  /// sets read_percent again.
  Awaitable<void> watch_read_brake();
  Awaitable<void> reload_on_hangup();
  [[nodiscard]] HttpHandlers http_handlers();
  /// Each database's WAL mirror; none in statement mode.
  [[nodiscard]] std::vector<WalMirrors::DatabaseProgress> wal_progress() const;
  /// Statement mode: sessions that lost their mirror connection; none in wal mode.
  [[nodiscard]] std::size_t sessions_reconnecting() const;
  asio::io_context& next_worker();

  std::shared_ptr<const config::ProxyConfig> config_;
  std::shared_ptr<spdlog::logger> log_;
  BackendTlsContexts backend_tls_;  ///< first: a root certificate OpenSSL refuses stops the start early
  /// Before the workers: a session's pass, destroyed with its io_context, gives itself back to it.
  WriteGate write_gate_;
  RunningRoles roles_;  ///< what new sessions take as their configuration
  /// Runs the accept loop and the shutdown sequence (on the main thread).
  asio::io_context control_;
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<WorkGuard> worker_guards_;
  std::size_t next_worker_ = 0;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  CancelRegistry cancels_;
  SessionRegistry sessions_;
  std::shared_ptr<const std::vector<std::byte>> rows_digest_key_;
  ConflictSink conflicts_;
  LedgerPruner ledger_pruner_;
  DatabaseSetup database_setup_;
  ReadSteering steering_;
  ReadBrake brake_;
  PrimaryLatencies primary_latencies_;  ///< what sessions measure the primary at, for the brake
  ShadowLedger shadows_;
  asio::steady_timer brake_tick_;
  LiveSettings settings_;
  asio::signal_set hangups_;
  Metrics metrics_;
  ClientSlots client_slots_;
  std::optional<HttpEndpoint> http_;  ///< /metrics and /health, when metrics.port is set
  std::unique_ptr<WalMirrors> wal_mirrors_;  ///< in mirror.mode wal
  std::optional<RollbackWatch> rollback_watch_;  ///< in mirror.mode wal with cutover.auto_rollback
  std::uint64_t next_session_id_ = 1;
};

}  // namespace pgdual::proxy
