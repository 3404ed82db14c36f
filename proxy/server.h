#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "proxy/asio.h"
#include "proxy/cancel_registry.h"
#include "proxy/session_registry.h"

namespace pgdual::proxy {

/// The listening proxy: accepts clients, runs one Session each on a strand of
/// a thread pool, and shuts down gracefully on SIGTERM or SIGINT.
class Server {
 public:
  /// Binds the listening socket. Throws std::runtime_error naming the address
  /// when it cannot.
  Server(std::shared_ptr<const config::ProxyConfig> config, std::shared_ptr<spdlog::logger> log);

  /// Serves until a shutdown signal, then lets running statements finish
  /// within the configured grace period and closes everything.
  void run();

 private:
  Awaitable<void> accept_loop();
  Awaitable<void> serve(tcp::socket client, std::uint64_t id);
  Awaitable<void> shut_down_on_signal();
  Awaitable<void> wait_until_sessions_end(std::chrono::milliseconds limit);

  std::shared_ptr<const config::ProxyConfig> config_;
  std::shared_ptr<spdlog::logger> log_;
  unsigned threads_;
  asio::io_context io_;
  /// Serializes the accept loop and the shutdown sequence, which share the acceptor.
  asio::strand<asio::io_context::executor_type> control_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  CancelRegistry cancels_;
  SessionRegistry sessions_;
  std::uint64_t next_session_id_ = 1;
};

}  // namespace pgdual::proxy
