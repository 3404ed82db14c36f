#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "conflict/conflict_record.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "proxy/backend/mirror_leg.h"
#include "proxy/net/asio.h"
#include "proxy/net/stream.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"
#include "proxy/route/unit_planner.h"
#include "proxy/session/mirror_link.h"
#include "proxy/session/session_context.h"

namespace pgdual::proxy {

/// A uniformly random draw for the steering's to_mirror_for_draw(), from the calling thread's generator.
[[nodiscard]] std::uint64_t random_draw();

/// What read rules (config::ReadRule) match a session on: its login and the client's address.
[[nodiscard]] SessionFacts steering_facts(const conflict::SessionInfo& session, const Stream& client);

/// Reads the mirror serves in the primary's place, by the read steering's percentage
/// (DESIGN.md, "Routing rules"; docs/read-ramp.md), and why a session's reads stay on the
/// primary when they must.
class MirrorReads {
 public:
  MirrorReads(const SessionContext& context, std::uint64_t session_id, MirrorLink& link, UnitPlanner& planner,
              Stream& client)
      : context_{context}, id_{session_id}, link_{link}, planner_{planner}, client_{client} {}

  /// Told when primary_only_reason() changes, for SHOW SESSIONS.
  void on_change(std::function<void()> handler) { on_change_ = std::move(handler); }
  void set_facts(SessionFacts facts) { facts_ = std::move(facts); }
  [[nodiscard]] const SessionFacts& facts() const noexcept { return facts_; }

  /// Whether the steering sends the session's next read to the mirror: outside a transaction by
  /// a draw at the session's percentage; inside one, as drawn at its BEGIN READ ONLY.
  [[nodiscard]] bool picks_mirror(bool in_transaction) const;
  /// At a unit's start: a transaction that begins READ ONLY draws once for all its reads, so
  /// that they share the mirror transaction's snapshot.
  void steer_transaction(protocol::TransactionStatus status_before);
  void transaction_ended() noexcept { transaction_on_mirror_ = false; }
  [[nodiscard]] bool transaction_on_mirror() const noexcept { return transaction_on_mirror_; }

  /// Serves `unit` (whole client messages the planner observed) from the mirror, passing its
  /// answer to the client. False when nothing reached the client, for the primary to answer:
  /// the mirror is not connected, broke off first, or failed the read (read_failover.h). `status`
  /// is the primary's transaction status, which a read cut short reports to the client.
  Awaitable<bool> serve(protocol::Bytes unit, protocol::TransactionStatus status);
  /// The read serve() just left to the primary failed on the mirror with an SQL error: the
  /// primary's answer to it decides whether that counts against the mirror.
  [[nodiscard]] bool awaits_primary_answer() const noexcept { return failed_over_.has_value(); }
  /// Once the primary has answered that read (its outcome, and its first error's SQLSTATE or
  /// empty): when it answered otherwise, counts the failure against the mirror in the brake and
  /// returns the conflict to record, its session left for the caller to fill in. Nothing when
  /// both failed alike: the client's doing. Forgets the read either way.
  [[nodiscard]] std::optional<conflict::ConflictRecord> judge_failover(const conflict::Outcome& primary,
                                                                       std::string_view primary_sqlstate);

  /// From now on the mirror serves none of the session's reads, for `why`; the first reason stays.
  /// Until the session runs DISCARD ALL: `why` is state of the session's that it ends.
  void keep_on_primary(std::string_view why);
  /// The same for a reason no DISCARD ALL ends: the mirror may lack a write the session made.
  void keep_on_primary_for_good(std::string_view why);
  /// The session ran DISCARD ALL, and its mirror connection will too: only a reason for good stays.
  void session_reset();
  /// Empty while the mirror may serve the session's reads.
  [[nodiscard]] const std::string& primary_only_reason() const noexcept { return primary_only_; }

 private:
  [[nodiscard]] bool steering_picks_mirror() const;
  void record_mirror_read(ReadBrake::Clock::time_point started, const MirrorLeg::ServedRead& served);
  /// A read the mirror failed with an SQL error, left to the primary: judged once it answers.
  void await_primary_answer(ReadBrake::Clock::time_point started, MirrorLeg::ServedRead& served);
  Awaitable<void> end_interrupted_read(protocol::TransactionStatus status);

  const SessionContext& context_;
  std::uint64_t id_;
  MirrorLink& link_;
  UnitPlanner& planner_;
  Stream& client_;
  std::function<void()> on_change_;
  SessionFacts facts_;
  /// Why the mirror serves none of this session's reads any more; empty while it may. Set when a
  /// conflict is recorded (the mirror may lack a write the session made: read-your-writes), when
  /// the mirror connection is lost (a new one lacks the session's temporary tables and cursors),
  /// and on LISTEN (notifications come from the primary, whose relay may write to the client at
  /// any time).
  std::string primary_only_;
  std::string for_good_;  ///< the first reason keep_on_primary_for_good() gave, which session_reset() keeps
  /// The open transaction began READ ONLY and the steering picked the mirror for it: its reads
  /// go there, all of them.
  bool transaction_on_mirror_ = false;
  /// The read serve() left to the primary after the mirror failed it, until judge_failover().
  struct FailedOverRead {
    std::string mirror_sqlstate;
    conflict::Outcome mirror;
    std::chrono::microseconds latency{0};  ///< the mirror's, counted in the brake if it was at fault
  };
  std::optional<FailedOverRead> failed_over_;
};

}  // namespace pgdual::proxy
