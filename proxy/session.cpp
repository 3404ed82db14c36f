#include "proxy/session.h"

#include <algorithm>
#include <array>
#include <variant>

#include <spdlog/spdlog.h>

#include "protocol/authentication.h"
#include "protocol/error_response.h"
#include "protocol/frame_scanner.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sql/classifier.h"
#include "protocol/writer.h"
#include "proxy/admin_console.h"
#include "proxy/cancel_registry.h"
#include "proxy/idempotency_key.h"
#include "proxy/ledger_pruner.h"
#include "proxy/live_settings.h"
#include "proxy/metrics.h"
#include "proxy/session_registry.h"
#include "proxy/timeouts.h"

namespace pgdual::proxy {
namespace {

/// The backend-to-client relay buffer starts at kFirstRelayBufferSize, so that thousands of idle
/// sessions stay cheap, and doubles whenever a read fills it, up to kRelayBufferSize, so that a
/// big result moves in few system calls.
constexpr std::size_t kFirstRelayBufferSize = 4 * 1024;
constexpr std::size_t kRelayBufferSize = 32 * 1024;

/// Client messages held back until their segment ends: beyond this, a batch
/// without Sync or Flush goes on in parts, as PostgreSQL itself would run it.
constexpr std::size_t kMaxHeldSegment = 16 * 1024 * 1024;

/// ReadyForQuery is always six bytes: tag, Int32 length 5, status.
constexpr std::size_t kReadyForQuerySize = 6;

/// Where the client's messages may pause for answers: a Query, Sync or
/// FunctionCall asks for ReadyForQuery, a Flush for what is pending; during
/// COPY data, CopyDone or CopyFail end it.
bool ends_segment(char tag, bool copy_data) {
  namespace tags = protocol::frontend_tag;
  if (copy_data) return tag == tags::kCopyDone || tag == tags::kCopyFail;
  return tag == tags::kQuery || tag == tags::kSync || tag == tags::kFunctionCall || tag == tags::kFlush;
}

/// Each worker thread classifies with its own cache (Classifier is not thread-safe).
sql::Classifier& thread_classifier(const config::ProxyConfig& config) {
  thread_local sql::Classifier classifier{sql::ClassifierOptions{.read_only_functions = config.sql.read_only_functions}};
  return classifier;
}

std::string client_address(const tcp::socket& client) {
  boost::system::error_code error;
  const auto endpoint = client.remote_endpoint(error);
  if (error) return {};
  const auto address = endpoint.address();
  const auto host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

/// The answer to an SSLRequest or GSSENCRequest that pgdual will not take up.
constexpr std::array<std::byte, 1> kDeclined{std::byte{'N'}};

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
      client_reader_{context_.config->limits.max_message_bytes},
      planner_{thread_classifier(*context_.config)},
      primary_tap_{*context_.rows_digest_key},
      primary_progress_{client_.get_executor()},
      reconnect_{std::make_shared<MirrorReconnect>()} {
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
    require_tls_if_configured();
    check_startup(*startup);
    // The startup packet's views last until the next read: authentication reads on.
    prepare_logins(*startup);
    const auto database = startup->parameter("database");
    session_info_ = {login_.user, std::string{startup->parameter("application_name")},
                     client_address(client_.lowest_layer()), database.empty() ? login_.user : std::string{database}};
    steering_facts_ = steering_facts(session_info_, client_);
    co_await authenticate_in_time();
    choose_backend_passwords();
    connected_at_ = rfc3339_utc(std::chrono::system_clock::now());
    if (co_await serve_admin_console_if_asked()) co_return;
    context_.metrics.count_session_started();
    context_.log->info("session={} connecting user={} database={}", id_, login_.user, session_info_.database);
    auto backend = co_await connect_backends();
    context_.ledger_pruner.note_database(session_info_.database, login_.user);
    co_await greet_client(backend);
    publish_summary();
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
  co_await client_.close_gracefully();
  context_.log->info("session={} closed", id_);
}

Awaitable<void> Session::authenticate_in_time() {
  try {
    co_await with_timeout(authenticate_client(), context_.config->limits.startup_timeout);
  } catch (const boost::system::system_error& error) {
    if (error.code() != asio::error::timed_out) throw;
    throw SessionError{"08P01", "canceling authentication due to timeout"};
  }
}

Awaitable<std::optional<protocol::StartupMessage>> Session::negotiate_startup() {
  for (;;) {
    auto packet = co_await client_reader_.next_startup_packet(client_);
    if (auto* startup = std::get_if<protocol::StartupMessage>(&packet)) co_return *startup;
    if (auto* cancel = std::get_if<protocol::CancelRequest>(&packet)) {
      if (auto target = context_.cancels.find({cancel->process_id, cancel->secret_key})) {
        context_.log->info("session={} forwarding a cancel request to {}", id_, target->backend.name);
        co_await send_cancel_request(target->backend, target->backend_key);
        if (target->mirror) co_await send_cancel_request(target->mirror->first, target->mirror->second);
      }
      co_return std::nullopt;
    }
    if (std::holds_alternative<protocol::SSLRequest>(packet)) {
      co_await negotiate_tls();
    } else {
      co_await send_bytes(kDeclined);  // GSSENCRequest: pgdual has no GSSAPI
    }
  }
}

// As PostgreSQL: 'S' and the handshake, or 'N' and the client goes on in the clear (or gives up,
// with sslmode=require). Either way the next packet is a new startup packet.
Awaitable<void> Session::negotiate_tls() {
  if (client_.is_tls()) throw SessionError{"08P01", "SSL request on a connection already encrypted"};
  auto tls = context_.settings.client_tls();
  if (!tls) {
    co_await send_bytes(kDeclined);
    co_return;
  }
  // Bytes behind the SSLRequest were sent in the clear before the handshake, where anyone on the
  // path could have put them (CVE-2021-23214).
  if (!client_reader_.unread().empty()) throw SessionError{"08P01", "received unencrypted data after SSL request"};
  static constexpr std::array<std::byte, 1> kAccepted{std::byte{'S'}};
  co_await send_all(client_, kAccepted);
  try {
    co_await client_.accept_tls(std::move(tls));
  } catch (const boost::system::system_error& error) {
    context_.log->info("session={} TLS handshake failed: {}", id_, error.code().message());
    throw;
  }
}

void Session::require_tls_if_configured() const {
  if (client_.is_tls() || context_.settings.current()->tls.mode != config::TlsMode::require) return;
  throw SessionError{"28000",
                     "pgdual accepts TLS connections only (tls.mode is \"require\"): connect with sslmode=require"};
}

void Session::check_startup(const protocol::StartupMessage& startup) const {
  if (startup.parameter("user").empty()) {
    throw SessionError{"28000", "no PostgreSQL user name specified in startup packet"};
  }
  if (requests_replication(startup.parameter("replication"))) {
    throw SessionError{"0A000", "pgdual does not proxy replication connections"};
  }
}

void Session::prepare_logins(const protocol::StartupMessage& startup) {
  login_ = {std::string{startup.parameter("user")}, {}, startup.protocol_version, {}};
  for (const auto& [name, value] : startup.parameters) login_.parameters.emplace_back(name, value);
}

void Session::choose_backend_passwords() {
  const auto* configured = context_.config->find_user(login_.user);
  if (configured == nullptr) {
    context_.log->info("session={} rejected: user is not configured", id_);
    throw SessionError{"28P01", "password authentication failed for user \"" + login_.user + "\""};
  }
  login_.password = configured->password_for(context_.config->primary_backend());
  mirror_login_ = login_;
  mirror_login_.password = configured->password_for(context_.config->mirror_backend());
}

Awaitable<bool> Session::serve_admin_console_if_asked() {
  if (session_info_.database != kAdminDatabase) co_return false;
  const auto settings = context_.settings.current();
  if (std::ranges::find(settings->admin.users, login_.user) == settings->admin.users.end()) {
    context_.log->info("session={} rejected: user is not an admin", id_);
    throw SessionError{"28000", "user \"" + login_.user + "\" may not use the admin console (admin.users)"};
  }
  const AdminContext admin{context_.settings, context_.steering,  context_.brake,
                           context_.sessions, context_.conflicts, context_.log};
  co_await serve_admin_console(client_, client_reader_, admin, login_.user);
  co_return true;
}

Awaitable<void> Session::greet_client(const BackendConnection& backend) {
  client_key_ = context_.cancels.issue({context_.config->primary_backend(), backend.key(), std::nullopt});
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
  auto& backend_stream = backend.stream();
  backend_stream_ = &backend_stream;
  auto outcome = co_await (settle(pump_client_to_backend(backend_stream)) ||
                           settle(pump_backend_to_client(backend_stream, backend.unread())));
  backend_stream_ = nullptr;
  const auto end = std::visit([](auto settled) { return std::move(settled).get(); }, std::move(outcome));
  if (end == RelayEnd::backend_closed) record_primary_lost();
  if (end == RelayEnd::shutdown) {
    co_await send_error("FATAL", "57P01", "terminating connection due to administrator command");
  } else if (end == RelayEnd::idle_timeout) {
    co_await send_error("FATAL", "57P05", "terminating connection due to idle-session timeout");
  } else if (end == RelayEnd::idle_in_transaction_timeout) {
    co_await send_error("FATAL", "25P03", "terminating connection due to idle-in-transaction timeout");
  }
  if (end != RelayEnd::backend_closed) {
    std::vector<std::byte> terminate;
    protocol::Writer out{terminate};
    protocol::encode(protocol::Terminate{}, out);
    co_await asio::async_write(backend_stream, asio::buffer(terminate), asio::as_tuple(use_awaitable));
  }
  if (mirror_) co_await settle_pending();
  if (mirror_) co_await mirror_->terminate();
}

// Whole messages from the client, collected into segments: a segment ends
// where the client waits for answers (Query, Sync, FunctionCall, Flush), or
// at each read during COPY FROM STDIN data. After a segment that asks for
// ReadyForQuery the pump waits until the primary has answered it, then
// settles the unit with the mirror, or leaves the mirror's answer for later
// (Session::answer_later): one unit at a time on the primary.
Awaitable<Session::RelayEnd> Session::pump_client_to_backend(Stream& backend) {
  for (;;) {
    if (!unit_.open && segment_.empty()) {
      if (shutdown_requested_) co_return RelayEnd::shutdown;
      co_await reconnect_mirror_when_due();
    }
    FrameBatch batch;
    const auto limit = idle_limit();
    try {
      waiting_for_client_ = true;
      // Two statements: GCC 12 mishandles co_await in the arms of ?:.
      if (limit.count() > 0) {
        batch = co_await with_timeout(client_reader_.next_frames(client_), limit);
      } else {
        batch = co_await client_reader_.next_frames(client_);
      }
      waiting_for_client_ = false;
    } catch (const boost::system::system_error& error) {
      if (error.code() == asio::error::timed_out) {
        co_return primary_tap_.transaction_status() == protocol::TransactionStatus::idle
            ? RelayEnd::idle_timeout
            : RelayEnd::idle_in_transaction_timeout;
      }
      co_return shutdown_requested_ && !unit_.open ? RelayEnd::shutdown : RelayEnd::client_closed;
    }
    for (const auto& frame : batch.frames) {
      if (frame.tag == protocol::frontend_tag::kTerminate) co_return RelayEnd::client_closed;
      // Held in a segment, a message no server takes would wait for a Sync that never comes.
      if (!protocol::frontend_tag::allowed_after_login(frame.tag)) {
        throw SessionError{"08P01", "invalid frontend message type " +
                                        std::to_string(static_cast<unsigned char>(frame.tag))};
      }
      // The server answers a Flush with a body with an error and skips to the next Sync: a
      // skip the request tracker, which sees tags only, would not know of.
      if (frame.tag == protocol::frontend_tag::kFlush && !frame.body.empty()) {
        throw SessionError{"08P01", "invalid message format"};
      }
      const bool copy_data = tracker_.awaiting_copy_data();
      protocol::append_frame(frame, segment_);
      if (!copy_data) planner_.observe(frame);
      if (!ends_segment(frame.tag, copy_data) && segment_.size() < kMaxHeldSegment) continue;
      if (!copy_data) {
        const bool served = co_await serve_read_from_mirror(frame.tag);
        if (served) continue;
      }
      co_await dispatch_segment(backend);
      co_await wait_for_primary();
      if (unit_.open && primary_done_) co_await finish_unit();
    }
    // COPY data moves on as it comes; anything else waits for its segment's end.
    if (tracker_.awaiting_copy_data() && !segment_.empty()) co_await dispatch_segment(backend);
  }
}

Awaitable<Session::RelayEnd> Session::pump_backend_to_client(Stream& backend, protocol::Bytes early) {
  protocol::FrameScanner scanner{protocol::kDefaultMaxMessageBody};
  std::vector<std::byte> buffer(std::max(kFirstRelayBufferSize, early.size()));
  std::vector<std::byte> filtered;
  std::copy(early.begin(), early.end(), buffer.begin());
  std::size_t size = early.size();
  for (;;) {
    if (size > 0) {
      const auto chunk = protocol::Bytes{buffer}.first(size);
      const auto violation = scanner.scan(
          chunk,
          [this](const protocol::FrameHeader& header) {
            static_cast<void>(tracker_.on_backend(header.tag));
            if (primary_tap_.on_header(header)) on_primary_message_end();
          },
          [this](protocol::Bytes part) {
            if (primary_tap_.on_body(part)) on_primary_message_end();
          });
      if (violation) throw SessionError{"08P01", "backend protocol violation: invalid message length"};
      if (own_answers_.active()) {
        own_answers_.filter(chunk, filtered);
        co_await send_all(client_, filtered);
        filtered.clear();
      } else {
        co_await send_all(client_, chunk);
      }
    }
    if (size == buffer.size() && buffer.size() < kRelayBufferSize) buffer.resize(2 * buffer.size());
    auto [error, received] = co_await backend.async_read_some(asio::buffer(buffer), asio::as_tuple(use_awaitable));
    if (error) co_return RelayEnd::backend_closed;
    size = received;
  }
}

std::chrono::milliseconds Session::idle_limit() const {
  if (unit_.open || !segment_.empty()) return std::chrono::milliseconds{0};
  const auto& limits = context_.config->limits;
  return primary_tap_.transaction_status() == protocol::TransactionStatus::idle ? limits.idle_session_timeout
                                                                                : limits.idle_in_transaction_timeout;
}

// The client's pump waits for three things from the primary: the end of the
// unit, the start of COPY FROM STDIN (it then has data to pass on), and an
// error, after which the server skips up to the next Sync: the Query or
// FunctionCall the pump waits on may be skipped, never to be answered.
void Session::on_primary_message_end() {
  const char tag = primary_tap_.completed_tag();
  if (tag == protocol::backend_tag::kReadyForQuery && unit_.open && tracker_.idle()) {
    if (primary_tap_.recording()) primary_outcome_ = primary_tap_.finish();
    primary_done_ = true;
    primary_progress_.notify();
  } else if (tag == protocol::backend_tag::kCopyInResponse || tag == protocol::backend_tag::kErrorResponse) {
    primary_progress_.notify();
  }
}

void Session::request_shutdown() {
  shutdown_requested_ = true;
  // An idle session waits for its client; wake it to see the request. A busy
  // one notices after its current unit.
  if (backend_stream_ == nullptr || (waiting_for_client_ && !unit_.open && segment_.empty())) {
    client_.lowest_layer().cancel();
  }
}

void Session::close_now() {
  boost::system::error_code ignored;
  if (backend_stream_ != nullptr) backend_stream_->lowest_layer().close(ignored);
  if (mirror_) mirror_->close();
  client_.lowest_layer().close(ignored);
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
