#include "proxy/session/mirror_link.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <string_view>
#include <utility>

#include "protocol/frame.h"
#include "protocol/message_tags.h"
#include "proxy/cancel_registry.h"
#include "proxy/net/timeouts.h"

namespace pgdual::proxy {
namespace {

using Clock = MirrorLink::Clock;

void back_off(MirrorReconnect& state, const config::MirrorConfig& limits) {
  state.next_attempt = Clock::now() + state.backoff;
  state.backoff = std::min(state.backoff * 2, std::chrono::milliseconds{limits.reconnect_max});
}

Awaitable<void> reopen_mirror(std::shared_ptr<MirrorReconnect> state,
                              std::shared_ptr<const config::ProxyConfig> config, std::shared_ptr<ssl::context> tls,
                              BackendLogin login) {
  try {
    auto connection = co_await BackendConnection::open(config->mirror_backend(), std::move(tls), login,
                                                       config->limits.max_message_bytes);
    state->ready.emplace(std::move(connection));
    state->backoff = config->mirror.reconnect_min;
  } catch (const std::exception& error) {
    state->failed = true;
    state->failure = error.what();
    back_off(*state, config->mirror);
  }
  state->connecting = false;
}

Awaitable<void> cancel_on(std::shared_ptr<const config::ProxyConfig> config, protocol::BackendKeyData key) {
  co_await send_cancel_request(config->mirror_backend(), key);
}

/// The server settings that change how a statement's literals are read or
/// its time values computed: the same INSERT text stores different values
/// on two servers whose DateStyle or TimeZone differ.
constexpr std::array<std::string_view, 3> kValueSettings = {"DateStyle", "IntervalStyle", "TimeZone"};

std::map<std::string, std::string> value_settings(protocol::Bytes greeting) {
  std::map<std::string, std::string> settings;
  for (const auto& frame : protocol::split_frames(greeting)) {
    if (frame.tag != protocol::backend_tag::kParameterStatus) continue;
    const auto status = protocol::decode_parameter_status(frame.body);
    if (status && std::ranges::find(kValueSettings, status->name) != kValueSettings.end()) {
      settings.emplace(status->name, status->value);
    }
  }
  return settings;
}

/// SET statements that give the mirror the primary's value settings.
std::vector<std::string> settings_to_align(const std::map<std::string, std::string>& primary,
                                           const std::map<std::string, std::string>& mirror) {
  std::vector<std::string> statements;
  for (const auto& [name, value] : primary) {
    const auto theirs = mirror.find(name);
    if (theirs != mirror.end() && theirs->second == value) continue;
    std::string quoted;
    for (const char c : value) quoted += c == '\'' ? std::string{"''"} : std::string{c};
    statements.push_back("SET " + name + " = '" + quoted + "'");
  }
  return statements;
}

/// How many SET/PREPARE statements a session keeps for replay on a new mirror connection.
constexpr std::size_t kMaxSessionStatements = 256;

}  // namespace

MirrorLink::MirrorLink(const SessionContext& context, std::uint64_t session_id, asio::any_io_executor executor)
    : context_{context},
      id_{session_id},
      executor_{std::move(executor)},
      reconnect_{std::make_shared<MirrorReconnect>()} {}

// A session without its mirror still serves the client; what the mirror misses meanwhile is the
// mirror mode's to record.
Awaitable<MirrorLink::Opened> MirrorLink::open_both(const BackendLogin& primary_login,
                                                    const BackendLogin& mirror_login) {
  const auto& config = *context_.config;
  const auto max_message = config.limits.max_message_bytes;
  login_ = mirror_login;
  reconnect_->backoff = config.mirror.reconnect_min;
  const auto& primary_tls = context_.backend_tls.for_backend(config.primary_backend());
  const auto& mirror_tls = context_.backend_tls.for_backend(config.mirror_backend());
  auto both =
      co_await (settle(BackendConnection::open(config.primary_backend(), primary_tls, primary_login, max_message)) &&
                settle(BackendConnection::open(config.mirror_backend(), mirror_tls, mirror_login, max_message)));
  Opened opened{std::move(std::get<0>(both)).get(), std::nullopt};
  primary_settings_ = value_settings(opened.primary.greeting());
  auto& mirror = std::get<1>(both);
  if (mirror.value) {
    opened.mirror.emplace(std::move(*mirror.value));
    co_return opened;
  }
  try {
    std::move(mirror).get();
  } catch (const std::exception& error) {
    context_.log->warn("session={} the mirror is unavailable: {}", id_, error.what());
  }
  reconnect_->failed = true;
  back_off(*reconnect_, config.mirror);
  co_return opened;
}

Awaitable<BackendConnection> MirrorLink::open_primary(const BackendLogin& primary_login,
                                                      const BackendLogin& mirror_login) {
  const auto& config = *context_.config;
  login_ = mirror_login;
  reconnect_->backoff = config.mirror.reconnect_min;
  const auto& tls = context_.backend_tls.for_backend(config.primary_backend());
  auto primary = co_await BackendConnection::open(config.primary_backend(), tls, primary_login,
                                                  config.limits.max_message_bytes);
  primary_settings_ = value_settings(primary.greeting());
  co_return primary;
}

void MirrorLink::attach(BackendConnection connection) {
  leg_.emplace(std::move(connection), *context_.rows_digest_key);
  not_yet_on_mirror_.clear();  // replay_session_state() gives a new connection every statement
  ++connections_;
  reads_answered_ = 0;
  if (on_change_) on_change_();
}

Awaitable<void> MirrorLink::replay_session_state() {
  if (!leg_) co_return;
  const auto differing = settings_to_align(primary_settings_, value_settings(leg_->connection().greeting()));
  if (differing.empty() && session_statements_.empty()) co_return;
  for (const auto& statement : differing) leg_->queue_injected(statement);
  for (const auto& statement : session_statements_) leg_->queue_injected(statement);
  if (!co_await read_owed_answers()) co_return;
  if (const auto& error = leg_->injected_outcome().error) {
    context_.log->warn("session={} replaying the session's settings on the mirror failed with {}", id_,
                       error->sqlstate);
  }
}

std::optional<BackendConnection> MirrorLink::reconnected() {
  auto& state = *reconnect_;
  if (state.ready) {
    auto connection = std::move(*state.ready);
    state.ready.reset();
    context_.log->info("session={} the mirror is back", id_);
    return connection;
  }
  // Once per reason: a mirror that refuses this session's login (a role whose verifier differs
  // there) refuses it at every attempt.
  if (auto failure = std::exchange(state.failure, {}); !failure.empty() && failure != logged_failure_) {
    context_.log->warn("session={} the mirror could not be opened again: {}", id_, failure);
    logged_failure_ = std::move(failure);
  }
  if (state.connecting || Clock::now() < state.next_attempt) return std::nullopt;
  state.connecting = true;
  const auto& tls = context_.backend_tls.for_backend(context_.config->mirror_backend());
  asio::co_spawn(executor_, reopen_mirror(reconnect_, context_.config, tls, login_), asio::detached);
  return std::nullopt;
}

Clock::time_point MirrorLink::deadline() const { return Clock::now() + context_.config->mirror.timeout; }

void MirrorLink::remember_session_statement(std::string statement) {
  if (session_statements_.size() < kMaxSessionStatements) session_statements_.push_back(std::move(statement));
}

void MirrorLink::pass_on_session_statement(std::string statement) {
  if (leg_) not_yet_on_mirror_.push_back(statement);
  remember_session_statement(std::move(statement));
}

// What the connection was still to run would be undone by DISCARD ALL, and a setting it would
// refuse must not keep the session's reads on the primary after it.
void MirrorLink::pass_on_session_reset(std::string statement) {
  session_statements_.clear();
  not_yet_on_mirror_.clear();
  if (!leg_) return;
  not_yet_on_mirror_.push_back(std::move(statement));
  // DISCARD ALL brings the connection's settings back to those it logged in with.
  auto aligned = settings_to_align(primary_settings_, value_settings(leg_->connection().greeting()));
  std::ranges::move(aligned, std::back_inserter(not_yet_on_mirror_));
}

Awaitable<bool> MirrorLink::catch_up() {
  if (!leg_ || not_yet_on_mirror_.empty()) co_return true;
  queue_catch_up();
  if (!co_await read_owed_answers()) co_return false;
  const auto& error = leg_->injected_outcome().error;
  if (!error) co_return true;
  context_.log->warn("session={} the mirror refused a setting the session made, with {}", id_, error->sqlstate);
  co_return false;
}

void MirrorLink::queue_catch_up() {
  if (!leg_) return;
  for (const auto& statement : std::exchange(not_yet_on_mirror_, {})) leg_->queue_injected(statement);
}

Awaitable<bool> MirrorLink::read_owed_answers() {
  std::optional<MirrorFailure> failure;
  try {
    co_await leg_->finish(deadline());
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (!failure) co_return true;
  drop(*failure);
  co_return false;
}

// The mirror may still be running what it was given: cancel it, and close. Whatever it had not
// committed, it rolls back. A COMMIT in flight is left to finish: the ledger tells later whether
// it did.
void MirrorLink::drop(const MirrorFailure& failure) {
  context_.log->warn("session={} dropping the mirror connection: {}", id_, failure.what());
  const bool committing = on_lost_ && on_lost_(failure);
  if (!committing) asio::co_spawn(executor_, cancel_on(context_.config, leg_->connection().key()), asio::detached);
  leg_->close();
  leg_.reset();
  let_cancels_reach(false);
  back_off(*reconnect_, context_.config->mirror);
  if (on_change_) on_change_();
}

// The mirror runs a unit that writes only once the primary has answered it, and may still be
// running one while the primary runs the next: a cancel meant for the primary's statement would
// stop a write the primary has done. Only a read the mirror serves is the client's to cancel there.
void MirrorLink::let_cancels_reach(bool reach) {
  if (!client_key_) return;
  if (reach && leg_) {
    context_.cancels.set_mirror(*client_key_, std::pair{context_.config->mirror_backend(), leg_->connection().key()});
  } else {
    context_.cancels.set_mirror(*client_key_, std::nullopt);
  }
}

std::vector<std::string> MirrorLink::session_state_for(const BackendConnection& connection) const {
  auto statements = settings_to_align(primary_settings_, value_settings(connection.greeting()));
  statements.insert(statements.end(), session_statements_.begin(), session_statements_.end());
  return statements;
}

void MirrorLink::follow_swap(BackendLogin login) {
  login_ = std::move(login);
  not_yet_on_mirror_.clear();
  reconnect_ = std::make_shared<MirrorReconnect>();
  reconnect_->backoff = context_.config->mirror.reconnect_min;
  if (!leg_) return;
  leg_->close();
  leg_.reset();
  let_cancels_reach(false);
  if (on_change_) on_change_();
}

Awaitable<void> MirrorLink::terminate() {
  if (leg_) co_await leg_->terminate();
}

void MirrorLink::close() noexcept {
  if (leg_) leg_->close();
}

}  // namespace pgdual::proxy
