#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "conflict/conflict_record.h"
#include "conflict/outcome.h"
#include "protocol/frame.h"
#include "protocol/sql/classification.h"
#include "proxy/net/asio.h"
#include "proxy/net/wakeup.h"
#include "proxy/route/shadow_judgement.h"
#include "proxy/route/unit_planner.h"
#include "proxy/session/conflict_recorder.h"
#include "proxy/session/mirror_link.h"
#include "proxy/session/mirror_reads.h"
#include "proxy/session/session_context.h"

namespace pgdual::proxy {

/// A session's shadow reads (docs/read-ramp.md, "Shadow reads"), in wal mode: a sample of the
/// eligible reads the primary answers, at routing.shadow_percent, goes to the session's mirror
/// connection too, at the same moment. The client gets the primary's answer as ever; run()
/// reads the mirror's beside the relay, compares the two (ShadowFinding), asks the mirror a
/// second time when they differ, and records a confirmed mismatch as a read_mismatch conflict.
///
/// The mirror connection serves one shadow read at a time, and the session's own reads there wait
/// for it (leg_free()): at most until routing.shadow_timeout_ms after it was sent, when it is
/// abandoned and the connection dropped. Only statement mode, whose mirror connection carries the
/// session's writes, runs none.
class ShadowReads {
 public:
  ShadowReads(const SessionContext& context, std::uint64_t session_id, const conflict::SessionInfo& session,
              MirrorLink& link, MirrorReads& reads, UnitPlanner& planner, ConflictRecorder& recorder,
              asio::any_io_executor executor);

  /// Whether the eligible read about to go to the primary (the planner's unit) is to run on the
  /// mirror too: a draw at the live shadow_percent, while the mirror's connection is idle and a
  /// place is free (routing.shadow_max_in_flight), for a statement whose answer does not vary
  /// from run to run or with the plan (EXPLAIN, LIMIT...), as far as its text or earlier
  /// comparisons tell.
  [[nodiscard]] bool draw();
  /// Whether the drawn unit's rows are compared in order: when its statement orders them. The
  /// primary's answer is to be digested so too.
  [[nodiscard]] conflict::RowsOrder rows_order() const noexcept;
  /// Sends the drawn unit's `frames`, as the primary is to get them, to the mirror, just before
  /// the primary gets them. The planner hears of them as of a read the mirror serves.
  Awaitable<void> send(std::span<const protocol::Frame> frames);
  /// The primary's answer to the drawn unit, which took it `latency`.
  void primary_answered(conflict::Outcome primary, std::chrono::microseconds latency);

  /// Waits until no shadow read uses the mirror's connection.
  Awaitable<void> leg_free();
  /// The session uses the mirror's connection itself: no second ask may start meanwhile.
  void hold_leg(bool held) noexcept { held_by_session_ = held; }

  /// Reads and judges each shadow read's answers, until stop() and the read under way is done.
  Awaitable<void> run();
  /// The relay is over: run() ends once the shadow read under way, if any, is judged.
  void stop();

 private:
  /// Gives back the place among routing.shadow_max_in_flight that a shadow read took.
  struct GiveBack {
    void operator()(ShadowLedger* ledger) const noexcept { ledger->finish(); }
  };
  /// The shadow read under way.
  struct Pending {
    std::unique_ptr<ShadowLedger, GiveBack> place;
    std::shared_ptr<const sql::Classification> statement;
    std::vector<std::byte> sent;  ///< what the mirror was sent
    std::chrono::steady_clock::time_point sent_at{};
    std::optional<conflict::Outcome> primary;
    std::chrono::microseconds primary_latency{0};
    std::uint64_t connection = 0;  ///< MirrorLink::connections() when sent
  };

  struct Answer {
    std::optional<conflict::Outcome> outcome;  ///< none when the mirror broke off or refused a setting first
    bool timed_out = false;                     ///< it broke off for want of an answer in time
  };
  /// The mirror's answer to what it was sent, by `deadline`. A mirror that broke off has its
  /// connection dropped.
  Awaitable<Answer> mirror_answer(std::chrono::steady_clock::time_point deadline);
  /// The mirror's second answer, a moment after its first disagreed; nullopt when it cannot be asked.
  Awaitable<std::optional<conflict::Outcome>> ask_again(bool first_failed);
  Awaitable<void> wait_for_primary();
  /// The shadow read is given up: the mirror broke off, or did not answer in time.
  void abandon(bool timed_out);
  void conclude(ShadowFinding finding, const conflict::Outcome& first, std::chrono::microseconds mirror_latency);
  void record_mismatch(const conflict::Outcome& mirror);
  void release_leg();

  const SessionContext& context_;
  std::uint64_t id_;
  const conflict::SessionInfo& session_;
  MirrorLink& link_;
  MirrorReads& reads_;
  UnitPlanner& planner_;
  ConflictRecorder& recorder_;
  std::optional<Pending> pending_;
  bool leg_taken_ = false;          ///< a shadow read's request or second ask is on the mirror's connection
  bool held_by_session_ = false;
  bool stopping_ = false;
  Wakeup sent_;                     ///< run() waits for a shadow read
  Wakeup primary_in_;               ///< run() waits for the primary's answer
  Wakeup leg_released_;             ///< leg_free() waits for the shadow read
};

}  // namespace pgdual::proxy
