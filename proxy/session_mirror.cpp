// Session, continued: the connection to the mirror, lost and found again.

#include <algorithm>
#include <array>
#include <map>

#include "protocol/message_tags.h"
#include "proxy/cancel_registry.h"
#include "proxy/conflict_sink.h"
#include "proxy/session.h"
#include "proxy/timeouts.h"

namespace pgdual::proxy {
namespace {

using Clock = MirrorLeg::Clock;

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
  } catch (const std::exception&) {
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

}  // namespace

// Both at once, so the mirror adds no latency to the login. A session
// without its mirror still serves the client; its writes become conflicts.
Awaitable<BackendConnection> Session::connect_backends() {
  const auto& config = *context_.config;
  const auto max_message = config.limits.max_message_bytes;
  reconnect_->backoff = config.mirror.reconnect_min;
  const auto& primary_tls = context_.backend_tls.for_backend(config.primary_backend());
  const auto& mirror_tls = context_.backend_tls.for_backend(config.mirror_backend());
  auto both =
      co_await (settle(BackendConnection::open(config.primary_backend(), primary_tls, login_, max_message)) &&
                settle(BackendConnection::open(config.mirror_backend(), mirror_tls, mirror_login_, max_message)));
  auto primary = std::move(std::get<0>(both)).get();
  primary_settings_ = value_settings(primary.greeting());
  auto& mirror = std::get<1>(both);
  if (mirror.value) {
    co_await adopt_mirror(std::move(*mirror.value));
  } else {
    try {
      std::move(mirror).get();
    } catch (const std::exception& error) {
      context_.log->warn("session={} the mirror is unavailable: {}", id_, error.what());
    }
    back_off(*reconnect_, config.mirror);
  }
  co_return primary;
}

std::optional<std::pair<config::BackendConfig, protocol::BackendKeyData>> Session::mirror_cancel_target() const {
  if (!mirror_) return std::nullopt;
  return std::pair{context_.config->mirror_backend(), mirror_->connection().key()};
}

// The mirror runs a unit that writes only once the primary has answered it, and may still be
// running one while the primary runs the next: a cancel meant for the primary's statement would
// stop a write the primary has done. Only a read the mirror serves is the client's to cancel there.
void Session::let_cancels_reach_mirror(bool reach) {
  if (client_key_) context_.cancels.set_mirror(*client_key_, reach ? mirror_cancel_target() : std::nullopt);
}

Awaitable<void> Session::adopt_mirror(BackendConnection connection) {
  mirror_.emplace(std::move(connection), *context_.rows_digest_key);
  publish_summary();
  planner_.forget_mirror_statements();
  co_await resolve_unknown_commits();
  if (!mirror_) co_return;
  const auto differing = settings_to_align(primary_settings_, value_settings(mirror_->connection().greeting()));
  if (differing.empty() && session_statements_.empty()) co_return;
  for (const auto& statement : differing) mirror_->queue_injected(statement);
  for (const auto& statement : session_statements_) mirror_->queue_injected(statement);
  if (!co_await settle_mirror()) co_return;
  if (const auto& error = mirror_->injected_outcome().error) {
    context_.log->warn("session={} replaying the session's settings on the mirror failed with {}", id_,
                       error->sqlstate);
  }
}

// A unit the mirror was committing when it broke off has its key in the
// mirror's ledger if the commit went through: its conflict is then resolved.
Awaitable<void> Session::resolve_unknown_commits() {
  if (unknown_commits_.empty()) co_return;
  std::string keys;
  for (const auto& record : unknown_commits_) keys += (keys.empty() ? "'" : ", '") + record.idempotency_key + "'";
  mirror_->queue_injected("SELECT idempotency_key::text FROM pgdual.ledger WHERE idempotency_key IN (" + keys + ")");
  const bool settled = co_await settle_mirror();
  if (!settled || mirror_->injected_outcome().error) co_return;
  for (const auto& row : mirror_->injected_rows()) {
    if (row.columns.empty() || !row.columns[0]) continue;
    const auto found = std::ranges::find(unknown_commits_, *row.columns[0], &conflict::ConflictRecord::idempotency_key);
    if (found == unknown_commits_.end()) continue;
    context_.log->info("session={} the mirror did commit {}: conflict {} resolved", id_, found->idempotency_key, found->id);
    auto resolved = *found;
    resolved.time.clear();
    resolved.resolution = conflict::Resolution::resolved;
    context_.conflicts.submit(std::move(resolved));
  }
  unknown_commits_.clear();
}

// Only between transactions: a mirror connected in the middle of one would
// get its end without its beginning.
Awaitable<void> Session::reconnect_mirror_when_due() {
  if (mirror_ || primary_tap_.transaction_status() != protocol::TransactionStatus::idle) co_return;
  auto& state = *reconnect_;
  if (state.ready) {
    auto connection = std::move(*state.ready);
    state.ready.reset();
    context_.log->info("session={} the mirror is back", id_);
    co_return co_await adopt_mirror(std::move(connection));
  }
  if (state.connecting || Clock::now() < state.next_attempt) co_return;
  state.connecting = true;
  const auto& tls = context_.backend_tls.for_backend(context_.config->mirror_backend());
  asio::co_spawn(client_.get_executor(), reopen_mirror(reconnect_, context_.config, tls, mirror_login_),
                 asio::detached);
}

// The mirror may still be running what it was given: cancel it, and close.
// Whatever it had not committed, it rolls back.
Awaitable<bool> Session::settle_mirror() {
  std::optional<MirrorFailure> failure;
  try {
    co_await mirror_->finish(mirror_deadline());
  } catch (const MirrorFailure& error) {
    failure = error;
  }
  if (!failure) co_return true;
  drop_mirror(*failure);
  co_return false;
}

// A COMMIT in flight is left to finish: the ledger tells later whether it did. Its conflict stands
// for its whole transaction, whose writes waiting for their answers are not recorded apart: the
// commit took them along or not. Anything else the mirror runs is cancelled.
void Session::drop_mirror(const MirrorFailure& failure) {
  context_.log->warn("session={} dropping the mirror connection: {}", id_, failure.what());
  std::vector<std::string> committing_keys;
  for (const auto& pending : pending_) {
    if (pending.of != PendingAnswer::Of::unit) committing_keys.push_back(pending.record.idempotency_key);
  }
  const bool committing = !committing_keys.empty();
  for (auto& pending : std::exchange(pending_, {})) {
    if (!pending.writes) continue;
    if (pending.of == PendingAnswer::Of::unit &&
        std::ranges::find(committing_keys, pending.record.idempotency_key) != committing_keys.end()) {
      continue;
    }
    auto& record = pending.record;
    record.kind = failure.reachability() == conflict::Reachability::timed_out ? conflict::ConflictKind::mirror_timeout
                                                                              : conflict::ConflictKind::mirror_unavailable;
    record.mirror.reachability = failure.reachability();
    record.nondeterministic.clear();
    submit(std::move(record), pending.of != PendingAnswer::Of::unit);
  }
  if (!committing) {
    asio::co_spawn(client_.get_executor(), cancel_on(context_.config, mirror_->connection().key()), asio::detached);
  }
  mirror_->close();
  mirror_.reset();
  let_cancels_reach_mirror(false);
  back_off(*reconnect_, context_.config->mirror);
  keep_reads_on_primary("the mirror connection was lost");
}

}  // namespace pgdual::proxy
