#include "proxy/session.h"

#include <algorithm>
#include <array>
#include <variant>

#include <spdlog/spdlog.h>

#include "protocol/authentication.h"
#include "protocol/error_response.h"
#include "protocol/frame_scanner.h"
#include "protocol/frontend_messages.h"
#include "protocol/writer.h"
#include "proxy/cancel_registry.h"
#include "proxy/session_registry.h"
#include "proxy/timeouts.h"

namespace pgdual::proxy {
namespace {

/// Per-direction relay buffer: large enough that a big result moves in few
/// system calls, small enough that thousands of sessions stay cheap.
constexpr std::size_t kRelayBufferSize = 32 * 1024;

/// ReadyForQuery is always six bytes: tag, Int32 length 5, status.
constexpr std::size_t kReadyForQuerySize = 6;

/// "replication" may be true/on/yes/1 or "database" (logical); false/off/no/0
/// or absent ask for an ordinary session.
bool requests_replication(std::string_view value) {
  for (std::string_view plain : {"", "false", "off", "no", "0"}) {
    if (value == plain) return false;
  }
  return true;
}

}  // namespace

Session::Session(tcp::socket client, SessionContext context, std::uint64_t id)
    : client_{std::move(client)},
      context_{std::move(context)},
      id_{id},
      client_reader_{context_.config->limits.max_message_bytes} {
  context_.sessions.add(id_, this, client_.get_executor());
}

Session::~Session() {
  if (client_key_) context_.cancels.release(*client_key_);
  context_.sessions.remove(id_);
}

Awaitable<void> Session::run() {
  std::optional<SessionError> fatal;
  std::vector<std::byte> refusal;
  try {
    auto startup = co_await with_timeout(negotiate_startup(), context_.config->limits.startup_timeout);
    if (!startup) co_return;
    // Counted after the startup packet, as PostgreSQL does, so that cancel
    // requests still get through when pgdual is full.
    if (context_.sessions.size() > context_.config->limits.max_client_connections) {
      throw SessionError{"53300", "sorry, too many clients already"};
    }
    const auto login = make_login(*startup);
    context_.log->info("session={} connecting user={} database={}", id_, login.user, startup->parameter("database"));
    auto backend = co_await BackendConnection::open(context_.config->primary_backend(), login,
                                                    context_.config->limits.max_message_bytes);
    co_await greet_client(backend);
    co_await relay(backend);
  } catch (const SessionError& error) {
    fatal = error;
  } catch (const BackendUnavailable& error) {
    fatal = SessionError{"08006", error.what()};
  } catch (const BackendRefused& error) {
    context_.log->info("session={} backend refused the login: {}", id_, error.what());
    refusal.assign(error.error_response().begin(), error.error_response().end());
  } catch (const boost::system::system_error& error) {
    if (error.code() == asio::error::timed_out) fatal = SessionError{"08P01", "incomplete startup packet"};
    context_.log->debug("session={} ended: {}", id_, error.code().message());
  }
  // A coroutine cannot co_await inside a catch block, hence the two steps.
  if (fatal) {
    context_.log->info("session={} closing with {}: {}", id_, fatal->sqlstate(), fatal->what());
    co_await send_error("FATAL", fatal->sqlstate(), fatal->what());
  } else if (!refusal.empty()) {
    co_await send_bytes(refusal);
  }
  context_.log->info("session={} closed", id_);
}

Awaitable<std::optional<protocol::StartupMessage>> Session::negotiate_startup() {
  for (;;) {
    auto packet = co_await client_reader_.next_startup_packet(client_);
    if (auto* startup = std::get_if<protocol::StartupMessage>(&packet)) co_return *startup;
    if (auto* cancel = std::get_if<protocol::CancelRequest>(&packet)) {
      if (auto target = context_.cancels.find({cancel->process_id, cancel->secret_key})) {
        context_.log->info("session={} forwarding a cancel request to {}", id_, target->backend.name);
        co_await send_cancel_request(target->backend, target->backend_key);
      }
      co_return std::nullopt;
    }
    // SSLRequest and GSSENCRequest: 'N' means "not here, go on in the clear".
    // TLS towards clients arrives with the edge-security work.
    static constexpr std::array<std::byte, 1> kDecline{std::byte{'N'}};
    co_await send_bytes(kDecline);
  }
}

BackendLogin Session::make_login(const protocol::StartupMessage& startup) const {
  const auto user = startup.parameter("user");
  if (user.empty()) throw SessionError{"28000", "no PostgreSQL user name specified in startup packet"};
  if (requests_replication(startup.parameter("replication"))) {
    throw SessionError{"0A000", "pgdual does not proxy replication connections"};
  }
  const auto* configured = context_.config->find_user(user);
  if (configured == nullptr) {
    context_.log->info("session={} rejected: user is not configured", id_);
    throw SessionError{"28P01", "password authentication failed for user \"" + std::string{user} + "\""};
  }
  BackendLogin login{configured->name, configured->password, startup.protocol_version, {}};
  for (const auto& [name, value] : startup.parameters) login.parameters.emplace_back(name, value);
  return login;
}

Awaitable<void> Session::greet_client(const BackendConnection& backend) {
  client_key_ = context_.cancels.issue({context_.config->primary_backend(), backend.key()});
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::AuthenticationOk{}, out);
  // PostgreSQL sends BackendKeyData just before the first ReadyForQuery.
  const auto greeting = backend.greeting();
  const auto before_ready = greeting.first(greeting.size() - kReadyForQuerySize);
  out.bytes(before_ready);
  protocol::encode(*client_key_, out);
  out.bytes(greeting.last(kReadyForQuerySize));
  co_await send_bytes(bytes);
}

Awaitable<void> Session::relay(BackendConnection& backend) {
  auto& backend_socket = backend.socket();
  backend_socket_ = &backend_socket;
  auto outcome = co_await (settle(pump_client_to_backend(backend_socket)) ||
                           settle(pump_backend_to_client(backend_socket, backend.unread())));
  backend_socket_ = nullptr;
  const auto end = std::visit([](auto settled) { return std::move(settled).get(); }, std::move(outcome));
  if (end == RelayEnd::shutdown) {
    co_await send_error("FATAL", "57P01", "terminating connection due to administrator command");
  }
  if (end != RelayEnd::backend_closed) {
    std::vector<std::byte> terminate;
    protocol::Writer out{terminate};
    protocol::encode(protocol::Terminate{}, out);
    co_await asio::async_write(backend_socket, asio::buffer(terminate), asio::as_tuple(use_awaitable));
  }
}

Awaitable<Session::RelayEnd> Session::pump_client_to_backend(tcp::socket& backend) {
  for (;;) {
    FrameBatch batch;
    try {
      batch = co_await client_reader_.next_frames(client_);
    } catch (const boost::system::system_error&) {
      co_return RelayEnd::client_closed;
    }
    for (const auto& frame : batch.frames) tracker_.on_frontend(frame.tag);
    co_await send_all(backend, batch.wire);
  }
}

Awaitable<Session::RelayEnd> Session::pump_backend_to_client(tcp::socket& backend, protocol::Bytes early) {
  protocol::FrameScanner scanner{protocol::kDefaultMaxMessageBody};
  std::vector<std::byte> buffer(std::max(kRelayBufferSize, early.size()));
  std::copy(early.begin(), early.end(), buffer.begin());
  std::size_t size = early.size();
  for (;;) {
    if (size > 0) {
      const auto chunk = protocol::Bytes{buffer}.first(size);
      if (scanner.scan(chunk, [this](const protocol::FrameHeader& header) {
            static_cast<void>(tracker_.on_backend(header.tag));
          })) {
        throw SessionError{"08P01", "backend protocol violation: invalid message length"};
      }
      co_await send_all(client_, chunk);
    }
    if (shutdown_requested_ && tracker_.idle() && scanner.at_boundary()) co_return RelayEnd::shutdown;
    auto [error, received] = co_await backend.async_read_some(asio::buffer(buffer), asio::as_tuple(use_awaitable));
    if (error == asio::error::operation_aborted && shutdown_requested_) co_return RelayEnd::shutdown;
    if (error) co_return RelayEnd::backend_closed;
    size = received;
  }
}

void Session::request_shutdown() {
  shutdown_requested_ = true;
  // An idle session waits on both sockets; wake the backend side, which then
  // sees the request. A busy one notices after its current statement.
  if (backend_socket_ != nullptr && tracker_.idle()) backend_socket_->cancel();
  if (backend_socket_ == nullptr) client_.cancel();
}

void Session::close_now() {
  boost::system::error_code ignored;
  if (backend_socket_ != nullptr) backend_socket_->close(ignored);
  client_.close(ignored);
}

Awaitable<void> Session::send_error(std::string_view severity, std::string_view sqlstate, std::string_view message) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::make_error(severity, sqlstate, message), out);
  co_await send_bytes(bytes);
}

Awaitable<void> Session::send_bytes(protocol::Bytes bytes) {
  co_await asio::async_write(client_, asio::buffer(bytes.data(), bytes.size()), asio::as_tuple(use_awaitable));
}

}  // namespace pgdual::proxy
