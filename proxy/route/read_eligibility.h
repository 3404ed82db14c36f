#pragma once

// Whether a unit's reads may be answered by the mirror instead of the primary (DESIGN.md, "Routing
// rules"; docs/read-ramp.md, "Which reads go to the cloud"), decided in one place. Only whether
// they may: how many of the eligible reads the mirror serves is the read steering's percentage
// (read_steering.h). Pure: the session gathers the facts, this decides.

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/proxy_config.h"
#include "protocol/backend_messages.h"
#include "protocol/sql/classification.h"

namespace pgdual::proxy {

/// Whether `backend`, as the mirror, may serve steered reads: only while it is the migration's
/// target, the backend named "cloud". Reads go to the cloud ahead of the cutover so that it is
/// tried under real traffic (the read ramp); once the cloud is made the primary, every read goes
/// there anyway, and the on-premises server, then the mirror, must not serve reads: it is the copy
/// being left behind, and the read percent, rules and brake were set and judged for the cloud.
[[nodiscard]] bool serves_steered_reads(const config::BackendConfig& backend) noexcept;

/// What a session knows, once a unit is collected, that bears on whether the mirror may answer it.
struct ReadFacts {
  /// The unit is complete: a Query, or extended-protocol messages up to Sync.
  bool whole_unit = false;
  /// From the primary's last ReadyForQuery.
  protocol::TransactionStatus primary_status = protocol::TransactionStatus::idle;
  /// The open transaction began READ ONLY and its reads were steered to the mirror as a whole.
  bool transaction_reads_on_mirror = false;
  /// From the mirror's last ReadyForQuery; nullopt while no mirror is connected.
  std::optional<protocol::TransactionStatus> mirror_status = std::nullopt;
  /// Why the session's reads stay on the primary for good (LISTEN, a conflict, a lost mirror);
  /// empty while they need not.
  std::string_view reads_on_primary_only = {};
  /// Commits whose outcome on the mirror is not known yet: a read could miss the session's writes.
  bool unknown_commits_pending = false;
  /// wal mode: a transaction the session committed is not applied on the mirror yet (answered
  /// past mirror.timeout_ms, or without a marker): a read there could miss it.
  bool own_writes_unapplied = false;
  /// Answers to pinned statement copies are still being taken out of the primary's stream.
  bool own_answers_filtered = false;
  /// serves_steered_reads() of the current mirror backend.
  bool mirror_serves_reads = false;
  /// UnitPlanner::may_read_from_mirror(): the unit executes only reads the mirror can answer.
  bool planner_allows = false;
};

/// Whether the mirror may answer a unit's reads, or the first reason it may not.
enum class ReadVerdict : std::uint8_t {
  eligible,
  mirror_not_read_target,      ///< the mirror is not the backend that serves steered reads
  reads_kept_on_primary,       ///< the session's reads stay on the primary for good
  unit_incomplete,             ///< the unit is not collected up to its Query or Sync yet
  primary_transaction_failed,  ///< the primary's transaction failed, or its status is unknown
  transaction_on_primary,      ///< inside a transaction not steered to the mirror as a whole
  mirror_transaction_lost,     ///< a transaction steered to the mirror, whose own transaction is gone
  unknown_commits_pending,     ///< a commit's outcome on the mirror is still unknown
  own_writes_unapplied,        ///< wal mode: the mirror has not applied all the session committed
  own_answers_pending,         ///< pgdual's own answers are still being filtered from the primary's
  not_a_mirror_read,           ///< the unit writes, controls a transaction, or needs the primary's answer
};

/// The verdict's name, for logs.
[[nodiscard]] std::string_view to_string(ReadVerdict verdict) noexcept;

/// Whether the mirror may answer the unit `facts` describe: outside a transaction, or inside a
/// READ ONLY transaction steered to the mirror whose transaction there is open, for a whole unit
/// the planner allows, while nothing the session did keeps its reads on the primary. Returns
/// ReadVerdict::eligible, or the first reason that holds in the enum's order.
[[nodiscard]] ReadVerdict read_eligibility(const ReadFacts& facts) noexcept;

/// Whether a session-state text the primary took may simply be run on the mirror's connection too,
/// so that it holds the session's state for the reads it serves (wal mode): one SET, RESET,
/// PREPARE or DEALLOCATE. Others, such as a temporary table (whose rows the WAL does not carry) or
/// a cursor, cannot be reproduced there by running their text.
[[nodiscard]] bool passes_to_mirror(const sql::Classification& statement) noexcept;

/// Whether `statement` is one DISCARD ALL: it ends every state of the session's that keeps its
/// reads on the primary (temporary tables, cursors, prepared statements, settings, LISTEN), and
/// can be run on the mirror's connection too, to bring that back to a session's start.
[[nodiscard]] bool resets_session(const sql::Classification& statement) noexcept;

/// Whether `statement` is one DISCARD ALL or DISCARD TEMP: the session's temporary relations are gone.
[[nodiscard]] bool discards_temporary_relations(const sql::Classification& statement) noexcept;

}  // namespace pgdual::proxy
