#include "proxy/session/session.h"

#include <algorithm>
#include <array>

#include <spdlog/spdlog.h>

#include "conflict/time_text.h"
#include "protocol/authentication.h"
#include "protocol/error_response.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/admin/admin_console.h"
#include "proxy/admin/live_settings.h"
#include "proxy/admin/metrics.h"
#include "proxy/cancel_registry.h"
#include "proxy/ledger_pruner.h"
#include "proxy/net/timeouts.h"
#include "proxy/mirror/wal_mirrors.h"
#include "proxy/session/dual_write.h"
#include "proxy/session/refused_writes.h"
#include "proxy/session/wal_mirror.h"
#include "proxy/session_registry.h"

namespace pgdual::proxy {
namespace {

/// ReadyForQuery is always six bytes: tag, Int32 length 5, status.
constexpr std::size_t kReadyForQuerySize = 6;

/// Each worker thread classifies with its own cache (Classifier is not thread-safe).
sql::Classifier& thread_classifier(const config::ProxyConfig& config) {
  thread_local sql::Classifier classifier{
      sql::ClassifierOptions{.read_only_functions = config.sql.read_only_functions}};
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

/// Why a login ended to admit a newcomer (ClientSlots).
constexpr const char* kEvicted = "too many connections logging in";

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

Session::Session(tcp::socket client, SessionContext context, std::uint64_t id, ClientSlots& slots)
    : client_{std::move(client)},
      context_{std::move(context)},
      id_{id},
      slot_{slots.begin_login(id_, client_address(client_.lowest_layer()), client_.get_executor(),
                              [this] { evict_login(); })},
      client_reader_{context_.config->limits.max_message_bytes},
      planner_{thread_classifier(*context_.config)},
      primary_tap_{*context_.rows_digest_key},
      answer_released_{client_.get_executor()},
      primary_progress_{client_.get_executor()},
      primary_switched_{client_.get_executor()},
      login_{client_, client_reader_, context_, id_},
      mirror_{context_, id_, client_.get_executor()},
      reads_{context_, id_, mirror_, planner_, client_},
      recorder_{context_, id_, reads_},
      shadow_{context_, id_, session_info_, mirror_, reads_, planner_, recorder_, client_.get_executor()} {
  mirror_.on_lost([this](const MirrorFailure& failure) {
    const bool committing = writes_ != nullptr && writes_->mirror_lost(failure);
    reads_.keep_on_primary("the mirror connection was lost");
    return committing;
  });
  mirror_.on_change([this] { publish_summary(); });
  reads_.on_change([this] { publish_summary(); });
  context_.sessions.add(id_, this, client_.get_executor());
}

Session::~Session() {
  if (client_key_) context_.cancels.release(*client_key_);
  context_.sessions.remove(id_);
}

Awaitable<void> Session::run() {
  std::optional<SessionError> fatal;
  std::vector<std::byte> refusal;
  bool startup_read = false;
  try {
    auto startup = co_await with_timeout(negotiate_startup(), context_.config->limits.startup_timeout);
    if (!startup) co_return;
    startup_read = true;
    check_startup(*startup);
    const auto asked = login_as_asked(*startup);
    const auto database = startup->parameter("database");
    session_info_ = {asked.user, std::string{startup->parameter("application_name")},
                     client_address(client_.lowest_layer()), database.empty() ? asked.user : std::string{database}};
    reads_.set_facts(steering_facts(session_info_, client_));
    co_await login_.authenticate(session_info_, reads_.facts().client_address);
    enter_session();
    // The console's virtual database has no WAL mirror to start or wait for.
    if (co_await serve_admin_console_if_asked()) co_return;
    logins_ = login_.backend_logins(asked);
    const auto setup = co_await database_set_up();
    writes_ = make_write_mirror(setup);
    if (context_.wal_mirrors != nullptr && setup.writes_allowed) co_await wait_for_wal_slot();
    connected_at_ = conflict::rfc3339_utc(std::chrono::system_clock::now());
    context_.metrics.count_session_started();
    context_.log->info("session={} connecting user={} database={}", id_, session_info_.user, session_info_.database);
    auto backend = co_await connect_backends();
    primary_.emplace(std::move(backend));
    context_.ledger_pruner.note_database(session_info_.database, session_info_.user);
    co_await greet_client(*primary_);
    publish_summary();
    co_await relay(*primary_);
  } catch (const SessionError& error) {
    fatal = error;
  } catch (const BackendUnavailable& error) {
    fatal = SessionError{protocol::sqlstate::kConnectionFailure, error.what()};
  } catch (const BackendRefused& error) {
    context_.log->info("session={} backend refused the login: {}", id_, error.what());
    refusal.assign(error.error_response().begin(), error.error_response().end());
  } catch (const boost::system::system_error& error) {
    if (error.code() == asio::error::timed_out)
      fatal = SessionError{protocol::sqlstate::kProtocolViolation, "incomplete startup packet"};
    // A client expects an ErrorResponse only once it has sent its startup packet.
    if (login_evicted_ && startup_read) fatal = SessionError{protocol::sqlstate::kTooManyConnections, kEvicted};
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
  if (client_.is_tls())
    throw SessionError{protocol::sqlstate::kProtocolViolation, "SSL request on a connection already encrypted"};
  auto tls = context_.settings.client_tls();
  if (!tls) {
    co_await send_bytes(kDeclined);
    co_return;
  }
  // Bytes behind the SSLRequest were sent in the clear before the handshake, where anyone on the
  // path could have put them (CVE-2021-23214).
  if (!client_reader_.unread().empty())
    throw SessionError{protocol::sqlstate::kProtocolViolation, "received unencrypted data after SSL request"};
  static constexpr std::array<std::byte, 1> kAccepted{std::byte{'S'}};
  co_await send_all(client_, kAccepted);
  try {
    co_await client_.accept_tls(std::move(tls));
  } catch (const boost::system::system_error& error) {
    context_.log->info("session={} TLS handshake failed: {}", id_, error.code().message());
    throw;
  }
}

// Reads end, writes do not: the client still gets the reason once it sent its startup packet. A
// plain cancel() would miss a read the session has yet to start.
void Session::evict_login() {
  login_evicted_ = true;
  context_.log->debug("session={} login ended to admit a new connection", id_);
  boost::system::error_code ignored;
  client_.lowest_layer().shutdown(tcp::socket::shutdown_receive, ignored);
}

// Counted once the client proved who it is, so that clients still logging in, or pretending to,
// never keep one that has logged in out. Cancel requests never get here, as in PostgreSQL.
void Session::enter_session() {
  if (login_evicted_) throw SessionError{protocol::sqlstate::kTooManyConnections, kEvicted};
  if (!slot_.enter_session()) {
    throw SessionError{protocol::sqlstate::kTooManyConnections, "sorry, too many clients already"};
  }
}

void Session::check_startup(const protocol::StartupMessage& startup) const {
  if (!client_.is_tls() && context_.settings.current()->tls.mode == config::TlsMode::require) {
    throw SessionError{protocol::sqlstate::kInvalidAuthorizationSpecification,
                       "pgdual accepts TLS connections only (tls.mode is \"require\"): connect with sslmode=require"};
  }
  if (startup.parameter("user").empty()) {
    throw SessionError{protocol::sqlstate::kInvalidAuthorizationSpecification,
                       "no PostgreSQL user name specified in startup packet"};
  }
  if (requests_replication(startup.parameter("replication"))) {
    throw SessionError{protocol::sqlstate::kFeatureNotSupported, "pgdual does not proxy replication connections"};
  }
}

Awaitable<bool> Session::serve_admin_console_if_asked() {
  if (session_info_.database != kAdminDatabase) co_return false;
  const auto settings = context_.settings.current();
  const auto& user = session_info_.user;
  if (std::ranges::find(settings->admin.users, user) == settings->admin.users.end()) {
    context_.log->info("session={} rejected: user is not an admin", id_);
    throw SessionError{protocol::sqlstate::kInvalidAuthorizationSpecification,
                       "user \"" + user + "\" may not use the admin console (admin.users)"};
  }
  const AdminContext admin{context_.settings,  context_.steering, context_.brake, context_.shadows,
                           context_.sessions,  context_.conflicts, context_.log,  context_.write_gate,
                           context_.roles,     context_.metrics,   context_.wal_mirrors};
  co_await serve_admin_console(client_, client_reader_, admin, user);
  co_return true;
}

Awaitable<BackendConnection> Session::connect_backends() {
  // In wal mode the mirror connection serves reads only: the login does not wait for it.
  if (context_.wal_mirrors != nullptr) co_return co_await mirror_.open_primary(logins_.primary, logins_.mirror);
  auto opened = co_await mirror_.open_both(logins_.primary, logins_.mirror);
  if (opened.mirror) co_await adopt_mirror(std::move(*opened.mirror));
  co_return std::move(opened.primary);
}

Awaitable<void> Session::adopt_mirror(BackendConnection connection) {
  mirror_.attach(std::move(connection));
  planner_.forget_mirror_statements();
  co_await recorder_.resolve_unknown_commits(mirror_);
  co_await mirror_.replay_session_state();
}

// The first session in a database sets it up; the others find it done. Bounded by the time the
// set-up's two connections may take, and the mirror's own bound.
Awaitable<DatabaseSetup::Verdict> Session::database_set_up() {
  const auto& config = *context_.config;
  const auto deadline = DatabaseSetup::Clock::now() + config.primary_backend().connect_timeout +
                        config.mirror_backend().connect_timeout + config.mirror.timeout;
  auto verdict = co_await context_.database_setup.verdict(session_info_.database, session_info_.user, deadline);
  if (!verdict.writes_allowed) {
    context_.log->warn("session={} database={}: writes refused: the database is not set up for mirroring", id_,
                       session_info_.database);
  }
  co_return verdict;
}

// Known once the client has logged in: the WAL mirror is per database.
std::unique_ptr<WriteMirror> Session::make_write_mirror(const DatabaseSetup::Verdict& setup) {
  if (!setup.writes_allowed) return std::make_unique<RefusedWrites>(planner_, setup.refusal, id_, context_.log);
  if (context_.wal_mirrors == nullptr) {
    return std::make_unique<DualWrite>(
        DualWrite::Parts{context_, id_, session_info_, planner_, mirror_, reads_, recorder_});
  }
  return std::make_unique<WalMirror>(
      WalMirror::Parts{.context = context_,
                       .session_id = id_,
                       .session = session_info_,
                       .planner = planner_,
                       .recorder = recorder_,
                       .applied = context_.wal_mirrors->units_for(session_info_.database),
                       .executor = client_.get_executor(),
                       .run_on_primary = [this](std::string sql) { return run_own_statement(std::move(sql)); }});
}

// A write committed on the primary before the database's slot exists would never reach the mirror.
Awaitable<void> Session::wait_for_wal_slot() {
  const auto& units = context_.wal_mirrors->units_for(session_info_.database);
  if (units.is_slot_ready()) co_return;
  const bool ready = co_await units.wait_slot_ready(AppliedUnits::Clock::now() + context_.config->mirror.timeout);
  if (ready) co_return;
  auto why = context_.wal_mirrors->unmet_prerequisites(session_info_.database);
  if (why.empty()) why = "try again; pgdual's log says why";
  throw SessionError{protocol::sqlstate::kCannotConnectNow, "the WAL mirror of database \"" + session_info_.database +
                                                                "\" has no replication slot yet: " + why};
}

Awaitable<void> Session::greet_client(const BackendConnection& backend) {
  client_key_ = context_.cancels.issue({context_.config->primary_backend(), backend.key(), std::nullopt});
  mirror_.set_client_key(*client_key_);
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

void Session::publish_summary() const {
  const auto& why = reads_.primary_only_reason();
  const auto reads = why.empty() ? "primary or mirror" : "primary only: " + why;
  context_.sessions.describe(id_, {.user = session_info_.user, .database = session_info_.database,
                                   .application_name = session_info_.application_name,
                                   .client_address = session_info_.client_address, .connected_at = connected_at_,
                                   .mirror = mirror_.connected() ? "connected" : "reconnecting", .reads = reads,
                                   .unmovable = unmovable_});
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
