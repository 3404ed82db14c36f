#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "protocol/backend_messages.h"
#include "protocol/request_tracker.h"
#include "protocol/startup.h"
#include "proxy/asio.h"
#include "proxy/backend_connection.h"
#include "proxy/wire_io.h"

namespace pgdual::proxy {

class CancelRegistry;
class SessionRegistry;

/// What every session shares: the configuration it started with, and the
/// server-wide registries.
struct SessionContext {
  std::shared_ptr<const config::ProxyConfig> config;
  CancelRegistry& cancels;
  SessionRegistry& sessions;
  std::shared_ptr<spdlog::logger> log;
};

/// One client connection, from its startup packet to its last byte. Runs on
/// one worker thread's io_context; every member is touched only from there.
class Session {
 public:
  Session(tcp::socket client, SessionContext context, std::uint64_t id);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  Awaitable<void> run();

  /// Finish the running statement, then say goodbye (57P01) and close.
  void request_shutdown();
  /// Close both connections now: the shutdown grace period is over.
  void close_now();

 private:
  enum class RelayEnd { client_closed, backend_closed, shutdown };

  Awaitable<std::optional<protocol::StartupMessage>> negotiate_startup();
  [[nodiscard]] BackendLogin make_login(const protocol::StartupMessage& startup) const;
  Awaitable<void> greet_client(const BackendConnection& backend);
  Awaitable<void> relay(BackendConnection& backend);
  Awaitable<RelayEnd> pump_client_to_backend(tcp::socket& backend);
  Awaitable<RelayEnd> pump_backend_to_client(tcp::socket& backend, protocol::Bytes early);
  Awaitable<void> send_error(std::string_view severity, std::string_view sqlstate, std::string_view message);
  Awaitable<void> send_bytes(protocol::Bytes bytes);

  tcp::socket client_;
  SessionContext context_;
  std::uint64_t id_;
  MessageReader client_reader_;
  protocol::RequestTracker tracker_;
  tcp::socket* backend_socket_ = nullptr;
  std::optional<protocol::BackendKeyData> client_key_;
  bool shutdown_requested_ = false;
};

}  // namespace pgdual::proxy
