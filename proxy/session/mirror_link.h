#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/backend_messages.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/backend/mirror_leg.h"
#include "proxy/net/asio.h"
#include "proxy/session/session_context.h"

namespace pgdual::proxy {

/// A mirror connection being opened in the background, shared with the
/// coroutine that opens it so the session may end first.
struct MirrorReconnect {
  std::optional<BackendConnection> ready;
  bool connecting = false;
  std::chrono::steady_clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{0};
  bool failed = false;  ///< an attempt failed: the mirror could not be reached
  std::string failure;  ///< why the last attempt failed, until the session has logged it
};

/// A session's line to the mirror: opened beside the primary's, dropped when it fails, opened
/// again in the background with a growing pause, and given the session's state each time (the
/// primary's value settings, the session's SET and PREPARE statements). What the mirror runs
/// for the client is the business of the mirror mode (DualWrite) and of MirrorReads; this class
/// only keeps the line up.
class MirrorLink {
 public:
  using Clock = MirrorLeg::Clock;
  /// Told first when the connection is dropped, with why. Returns whether a COMMIT the mirror
  /// was sent is still in flight: what the mirror runs is then left to finish, not cancelled.
  using LostHandler = std::function<bool(const MirrorFailure&)>;

  MirrorLink(const SessionContext& context, std::uint64_t session_id, asio::any_io_executor executor);

  void on_lost(LostHandler handler) { on_lost_ = std::move(handler); }
  /// Told when the connection comes or goes, for SHOW SESSIONS.
  void on_change(std::function<void()> handler) { on_change_ = std::move(handler); }

  /// The primary's connection, and the mirror's if it could be opened: both at once, so that the
  /// mirror adds no latency to the login. A mirror that cannot be reached is logged and tried
  /// again later; the primary's failure is thrown as BackendConnection::open throws it.
  struct Opened {
    BackendConnection primary;
    std::optional<BackendConnection> mirror;
  };
  Awaitable<Opened> open_both(const BackendLogin& primary, const BackendLogin& mirror);
  /// The primary's connection alone; the mirror's is opened in the background (reconnected()), so
  /// that a mirror slow to answer never holds up a login. For a mirror mode whose mirror
  /// connection serves reads only (wal): the session's reads stay on the primary meanwhile.
  Awaitable<BackendConnection> open_primary(const BackendLogin& primary, const BackendLogin& mirror);
  /// Takes `connection` as the mirror.
  void attach(BackendConnection connection);
  /// Gives a mirror just attached the primary's value settings and the session's SET and
  /// PREPARE statements, in the order the client ran them.
  Awaitable<void> replay_session_state();
  /// Only between transactions (a mirror connected in the middle of one would get its end
  /// without its beginning): a connection opened again in the background, ready to attach, or
  /// nothing, after starting an attempt when one is due.
  [[nodiscard]] std::optional<BackendConnection> reconnected();

  [[nodiscard]] bool connected() const noexcept { return leg_.has_value(); }
  /// The session's first connection to the mirror is still being opened: none has been attached
  /// or has failed yet. A read steered to the mirror meanwhile says nothing of it.
  [[nodiscard]] bool opening() const noexcept { return connections_ == 0 && !reconnect_->failed; }
  /// The mirror's connection; only while connected().
  [[nodiscard]] MirrorLeg& leg() noexcept { return *leg_; }
  [[nodiscard]] const MirrorLeg& leg() const noexcept { return *leg_; }
  /// When what the mirror is sent now must be answered by.
  [[nodiscard]] Clock::time_point deadline() const;

  /// A SET or PREPARE the primary took, for every mirror connection after this one.
  void remember_session_statement(std::string statement);
  /// The same, and for the connection open now too: it is sent there by catch_up() (wal mode,
  /// where the client's statements reach the mirror's connection only when it serves a read).
  void pass_on_session_statement(std::string statement);
  /// The primary took `statement`, a DISCARD ALL: the connection open now runs it too, then is given
  /// the primary's settings again, as a new one is; the statements passed on before are forgotten.
  void pass_on_session_reset(std::string statement);
  /// Runs on the mirror the statements pass_on_session_statement() left for it, before anything
  /// else is sent there. False when the mirror refused one (its session then differs from the
  /// primary's) or broke off (the connection is then dropped).
  Awaitable<bool> catch_up();
  /// Queues those statements ahead of the next request, whose answer brings theirs along
  /// (MirrorLeg::injected_outcome()).
  void queue_catch_up();
  /// How many connections were attached so far: tells one from the next.
  [[nodiscard]] std::uint64_t connections() const noexcept { return connections_; }
  /// Counts a read the connection answered (served, or ran as a shadow read). Returns whether it
  /// had answered kWarmUpReads before: a new backend's first statements fill its caches and are
  /// slower than the same on the primary's older connection, which says nothing of the server.
  [[nodiscard]] bool read_answered_warm() noexcept { return reads_answered_++ >= kWarmUpReads; }
  static constexpr std::uint64_t kWarmUpReads = 10;
  /// Reads what the mirror owes for what it was sent, up to the mirror timeout; false, with
  /// the connection dropped, when it broke off.
  Awaitable<bool> read_owed_answers();
  /// Closes the connection after a failure, and plans the next one.
  void drop(const MirrorFailure& failure);

  /// The client's cancel key, issued once the session is logged in.
  void set_client_key(const protocol::BackendKeyData& key) { client_key_ = key; }
  /// Whether a cancel request of the client goes to the mirror too: only while it serves a read.
  void let_cancels_reach(bool reach);

  /// What a new connection to the primary needs of the session's state when the session follows
  /// SWAP ROLES: the statements that give it the old primary's value settings, then the session's
  /// SET and PREPARE statements, in the order the client ran them.
  [[nodiscard]] std::vector<std::string> session_state_for(const BackendConnection& connection) const;
  /// The session follows SWAP ROLES: its mirror is the other backend from now on, logged in to as
  /// `login`. The connection open now (to the new primary) is closed, and an attempt under way to
  /// open one forgotten; the next opens to the new mirror.
  void follow_swap(BackendLogin login);

  /// Says goodbye at the session's end.
  Awaitable<void> terminate();
  void close() noexcept;

 private:
  const SessionContext& context_;
  std::uint64_t id_;
  asio::any_io_executor executor_;
  LostHandler on_lost_;
  std::function<void()> on_change_;
  std::optional<MirrorLeg> leg_;
  std::shared_ptr<MirrorReconnect> reconnect_;
  std::string logged_failure_;  ///< the last reason a reconnection failed that the log has
  BackendLogin login_;
  std::optional<protocol::BackendKeyData> client_key_;
  /// The primary's DateStyle, IntervalStyle and TimeZone, which every mirror connection is given.
  std::map<std::string, std::string> primary_settings_;
  std::vector<std::string> session_statements_;  ///< SET, PREPARE... replayed on a new mirror connection
  std::vector<std::string> not_yet_on_mirror_;   ///< of those, the ones the connection open now lacks
  std::uint64_t connections_ = 0;
  std::uint64_t reads_answered_ = 0;  ///< on the connection open now
};

}  // namespace pgdual::proxy
