#include "proxy/server.h"

#include <algorithm>
#include <csignal>
#include <stdexcept>
#include <thread>
#include <vector>

#include <openssl/rand.h>

#include "conflict/jobs/log_options.h"
#include "proxy/admin/health.h"
#include "proxy/admin/ramp_facts.h"
#include "proxy/session/session.h"

namespace pgdual::proxy {
namespace {

unsigned thread_count(const config::ServerConfig& settings) {
  if (settings.threads > 0) return settings.threads;
  return std::max(1U, std::thread::hardware_concurrency());
}

tcp::acceptor listen_on(asio::io_context& io, const config::ListenConfig& listen) {
  const tcp::endpoint endpoint{asio::ip::make_address(listen.address), listen.port};
  tcp::acceptor acceptor{io};
  try {
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address{true});
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& error) {
    throw std::runtime_error{"could not listen on " + listen.address + ":" + std::to_string(listen.port) + ": " +
                             error.code().message()};
  }
  return acceptor;
}

conflict::ConflictLog open_conflict_log(const config::ConflictsConfig& settings) {
  auto log = conflict::ConflictLog::open(settings.log_path, jobs::conflict_log_options(settings));
  if (!log) throw std::runtime_error{log.error().message};
  return std::move(*log);
}

// Without a configured key, digests only need to match within this run.
std::shared_ptr<const std::vector<std::byte>> rows_digest_key(const config::ConflictsConfig& settings) {
  if (!settings.rows_digest_key.empty()) {
    const auto bytes = protocol::as_bytes(settings.rows_digest_key);
    return std::make_shared<const std::vector<std::byte>>(bytes.begin(), bytes.end());
  }
  std::vector<std::byte> key(conflict::kMinRowsDigestKeyBytes);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    throw std::runtime_error{"could not draw a random rows digest key"};
  }
  return std::make_shared<const std::vector<std::byte>>(std::move(key));
}

std::vector<WalMirrorGauges> wal_gauges(const std::vector<WalMirrors::DatabaseProgress>& mirrors) {
  std::vector<WalMirrorGauges> gauges;
  for (const auto& mirror : mirrors) {
    const auto state = mirror.status.state;
    const auto& sync = mirror.progress.sync;
    gauges.push_back({.database = mirror.database,
                      .lag_bytes = mirror.lag.lag_bytes,
                      .lag_seconds = std::chrono::duration<double>(mirror.lag.lag).count(),
                      .retained_bytes = mirror.lag.retained_bytes,
                      .applied_transactions = mirror.progress.transactions,
                      .up = state == WalMirrorState::streaming || state == WalMirrorState::catching_up,
                      .sync_state = static_cast<int>(sync.state),
                      .sync_tables_total = sync.tables_total,
                      .sync_tables_done = sync.tables_done,
                      .sync_rows_copied = sync.rows_copied,
                      .sync_bytes_copied = sync.bytes_copied,
                      .applying = mirror.progress.applying,
                      .instances = mirror.instances.size(),
                      .keys_heard = mirror.keys_heard});
  }
  return gauges;
}

}  // namespace

Server::Server(std::filesystem::path config_file, std::shared_ptr<const config::ProxyConfig> config,
               std::shared_ptr<spdlog::logger> log)
    : config_{std::move(config)},
      log_{std::move(log)},
      backend_tls_{*config_},
      roles_{config_},
      control_{1},
      acceptor_{listen_on(control_, config_->listen)},
      signals_{control_, SIGINT, SIGTERM},
      rows_digest_key_{rows_digest_key(config_->conflicts)},
      conflicts_{open_conflict_log(config_->conflicts), config_->conflicts.group_commit, log_},
      ledger_pruner_{config_, log_},
      database_setup_{config_, config_file, log_},
      steering_{*config_},
      brake_{config_->brake},
      shadows_{config_->routing.shadow_max_in_flight},
      brake_tick_{control_},
      settings_{std::move(config_file), config_, steering_, brake_, log_},
      hangups_{control_, SIGHUP},
      metrics_{config_->primary_backend().name, config_->mirror_backend().name},
      client_slots_{{.logins = config_->limits.max_logins_in_progress,
                     .sessions = config_->limits.max_client_connections},
                    metrics_, log_} {
  if (config_->metrics.port != 0) http_.emplace(control_, config_->metrics, http_handlers());
  if (config_->mirror.mode == config::MirrorMode::wal) {
    wal_mirrors_ = std::make_unique<WalMirrors>(config_, backend_tls_, conflicts_, log_);
    if (config_->cutover.auto_rollback) {
      rollback_watch_.emplace(control_.get_executor(), config_->cutover,
                              SwapParts{.gate = write_gate_, .roles = roles_, .mirrors = *wal_mirrors_,
                                        .settings = settings_, .metrics = metrics_,
                                        .audit = audit_trail(conflicts_), .log = *log_});
    }
  }
  settings_.guard_ramp_with(
      [this] { return ramp_facts(config_->mirror.mode, conflicts_, sessions_, wal_mirrors_.get()); });
  for (unsigned i = 0; i < thread_count(config_->server); ++i) {
    workers_.push_back(std::make_unique<asio::io_context>(1));
    worker_guards_.push_back(asio::make_work_guard(*workers_.back()));
  }
}

void Server::run() {
  const auto local = acceptor_.local_endpoint();
  log_->info("listening on {}:{} with {} worker threads, primary {} at {}:{}", local.address().to_string(),
             local.port(), workers_.size(), config_->primary, config_->primary_backend().host,
             config_->primary_backend().port);
  asio::co_spawn(control_, accept_loop(), asio::detached);
  asio::co_spawn(control_, shut_down_on_signal(), asio::detached);
  asio::co_spawn(control_, watch_read_brake(), asio::detached);
  if (rollback_watch_) asio::co_spawn(control_, rollback_watch_->run(), asio::detached);
  asio::co_spawn(control_, reload_on_hangup(), asio::detached);
  if (http_) http_->start();
  std::vector<std::jthread> threads;
  for (auto& worker : workers_) threads.emplace_back([&worker] { worker->run(); });
  control_.run();
}

asio::io_context& Server::next_worker() {
  auto& worker = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  return worker;
}

Awaitable<void> Server::accept_loop() {
  for (;;) {
    auto& worker = next_worker();
    auto [error, socket] = co_await acceptor_.async_accept(worker, asio::as_tuple(use_awaitable));
    if (error == asio::error::operation_aborted) co_return;
    if (error) {
      // Out of descriptors, typically: back off instead of spinning.
      log_->warn("accept failed: {}", error.message());
      asio::steady_timer pause{control_, std::chrono::milliseconds{100}};
      co_await pause.async_wait(use_awaitable);
      continue;
    }
    // A client that has already reset the connection fails here; its session
    // then ends at its first read. Nothing thrown may escape this loop.
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay{true}, ignored);
    const auto id = next_session_id_++;
    asio::co_spawn(worker, serve(std::move(socket), id), [log = log_, id](std::exception_ptr failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& exception) {
        log->error("session={} failed: {}", id, exception.what());
      }
    });
  }
}

Awaitable<void> Server::serve(tcp::socket client, std::uint64_t id) {
  SessionContext context{roles_.config(), cancels_,         sessions_, log_,         conflicts_,
                         ledger_pruner_,  rows_digest_key_, steering_, brake_,       primary_latencies_,
                         shadows_,        settings_,        metrics_,  backend_tls_, database_setup_,
                         write_gate_,     roles_,           wal_mirrors_.get()};
  Session session{std::move(client), std::move(context), id, client_slots_};
  co_await session.run();
}

Awaitable<void> Server::shut_down_on_signal() {
  const int signal = co_await signals_.async_wait(use_awaitable);
  log_->info("received signal {}: shutting down, {} sessions open", signal, sessions_.size());
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  brake_tick_.cancel();
  if (rollback_watch_) rollback_watch_->stop();
  hangups_.cancel();
  if (http_) http_->stop();
  write_gate_.shut_down();  // held writes go on, and end with their sessions
  sessions_.for_each([](Session& session) { session.request_shutdown(); });
  co_await wait_until_sessions_end(config_->server.shutdown_grace);
  if (sessions_.size() > 0) {
    log_->warn("closing {} sessions still busy after the grace period", sessions_.size());
    sessions_.for_each([](Session& session) { session.close_now(); });
    co_await wait_until_sessions_end(std::chrono::seconds{1});
  }
  log_->info("shut down");
  worker_guards_.clear();
  for (auto& worker : workers_) worker->stop();
}

Awaitable<void> Server::watch_read_brake() {
  for (;;) {
    brake_tick_.expires_after(std::chrono::seconds{1});
    const auto [error] = co_await brake_tick_.async_wait(asio::as_tuple(use_awaitable));
    if (error) co_return;
    if (const auto trip = brake_.check(ReadBrake::Clock::now())) {
      steering_.brake();
      metrics_.count_brake_trip();
      log_->warn("read brake: {}; no read goes to the mirror until an operator sets read_percent again",
                 trip->reason);
    }
  }
}

// Called on the control thread; what they read is thread safe.
HttpHandlers Server::http_handlers() {
  return {.metrics_text =
              [this] {
                const auto gate = write_gate_.snapshot();
                return metrics_.render({.read_percent = steering_.braked() ? 0.0 : steering_.global_percent(),
                                        .braked = steering_.braked(),
                                        .sessions = client_slots_.sessions(),
                                        .logins_in_progress = client_slots_.logins_in_progress(),
                                        .wal_mirrors = wal_gauges(wal_progress()),
                                        .shadow_percent = steering_.shadow_percent(),
                                        .shadows = shadows_.counts(),
                                        .latency_ratio_p99 = brake_.relative_p99(ReadBrake::Clock::now()),
                                        .writes_paused = gate.state != WriteGate::State::open,
                                        .writes_waiting = gate.waiting,
                                        .write_transactions_in_flight = gate.in_flight,
                                        .roles_swapped = roles_.config()->primary != settings_.file_primary()});
              },
          .health =
              [this] {
                return health_report({.sessions = client_slots_.sessions(),
                                      .read_percent = steering_.global_percent(),
                                      .braked = steering_.braked(),
                                      .wal_mirrors = wal_progress(),
                                      .now = std::chrono::steady_clock::now(),
                                      .sessions_reconnecting = sessions_reconnecting(),
                                      .lag_bound = config_->metrics.health_lag});
              }};
}

// In wal mode a session's mirror connection serves reads only, and the WAL mirrors say whether
// the mirror is reachable: counted in statement mode only, as the ramp's guard does.
std::size_t Server::sessions_reconnecting() const {
  if (wal_mirrors_) return 0;
  return static_cast<std::size_t>(std::ranges::count_if(
      sessions_.summaries(), [](const auto& entry) { return entry.second.mirror != "connected"; }));
}

std::vector<WalMirrors::DatabaseProgress> Server::wal_progress() const {
  if (!wal_mirrors_) return {};
  return wal_mirrors_->progress();
}

Awaitable<void> Server::reload_on_hangup() {
  for (;;) {
    const auto [error, signal] = co_await hangups_.async_wait(asio::as_tuple(use_awaitable));
    if (error) co_return;
    static_cast<void>(settings_.reload("SIGHUP"));
  }
}

Awaitable<void> Server::wait_until_sessions_end(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  asio::steady_timer tick{control_};
  while (sessions_.size() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds{20});
    co_await tick.async_wait(use_awaitable);
  }
}

}  // namespace pgdual::proxy
