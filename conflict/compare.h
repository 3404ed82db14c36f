#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "conflict/outcome.h"

namespace pgdual::conflict {

/// Why a write unit is a conflict. The names (to_string) are what the
/// conflict log and the report print; renaming one is a format change.
enum class ConflictKind {
  /// The primary's answer is incomplete (connection lost, or timed out), so
  /// whether it applied the unit is unknown; the idempotency key settles it.
  primary_unavailable,
  /// The mirror could not be reached, or its connection broke before it answered.
  mirror_unavailable,
  /// The mirror did not answer within the mirror timeout; it may still apply the unit.
  mirror_timeout,
  /// The primary succeeded and the mirror reported an error: the mirror lacks the write.
  mirror_error,
  /// The primary reported an error and the mirror did not. The client saw the
  /// error; the mirror's copy must not commit.
  error_primary_only,
  /// Both failed, with different SQLSTATEs: they hold different data or schema.
  different_errors,
  /// Both succeeded, but the row counts of their command tags add up differently.
  row_count,
  /// Both succeeded with the same counts, but returned different rows (RETURNING).
  returning_differs,
  /// Same results, but one backend ended the unit in a transaction the other
  /// did not (ReadyForQuery idle / in transaction / failed).
  transaction_status_differs,
  /// The answers differ in a way no other kind names: a different number of
  /// commands completed, or the same total spread differently over them
  /// ("COMMIT" on one side and "ROLLBACK" on the other). A person must look.
  unclassified,
  /// Never returned by compare(): recorded by the proxy when a write used a
  /// value that differs between executions (now(), random(), a sequence)
  /// that it could not pin, so the backends may hold different values even
  /// though their answers agree.
  nondeterministic,
  /// Never returned by compare(): a read the primary answered was run on the
  /// mirror too (a shadow read, docs/read-ramp.md), and the mirror answered
  /// otherwise: another SQLSTATE, row count or rows digest. Recorded once a
  /// second run on the mirror confirmed it.
  read_mismatch,
  /// Never a disagreement: an operator's step of the cutover (PAUSE WRITES, SWAP ROLES, RESUME
  /// WRITES and their failures, docs/cutover.md), written to the log's chain for the audit trail,
  /// resolved from the start (resolved_by names who ran it, resolution_note what it did). Never
  /// counted, listed or reported as a conflict.
  cutover,
};

/// Every kind, in declaration order (for metrics and reports that list them all).
inline constexpr std::array kAllConflictKinds = {
    ConflictKind::primary_unavailable, ConflictKind::mirror_unavailable,  ConflictKind::mirror_timeout,
    ConflictKind::mirror_error,   ConflictKind::error_primary_only,  ConflictKind::different_errors,
    ConflictKind::row_count,           ConflictKind::returning_differs,   ConflictKind::transaction_status_differs,
    ConflictKind::unclassified,        ConflictKind::nondeterministic,    ConflictKind::read_mismatch,
    ConflictKind::cutover};

/// The kind's name in the log: the enumerator's own name, e.g. "row_count".
[[nodiscard]] std::string_view to_string(ConflictKind kind) noexcept;
/// The inverse of to_string; std::nullopt for an unknown name.
[[nodiscard]] std::optional<ConflictKind> conflict_kind_from_string(std::string_view name) noexcept;

/// Compares what the two backends reported for the same write unit.
///
/// Rules, first match wins: availability (primary, then mirror), then errors
/// (an error on one side only, or different SQLSTATEs; the same SQLSTATE on
/// both sides is agreement about the error and the comparison goes on, since
/// after a savepoint the unit may still have committed), then command tags,
/// returned rows, and transaction status. Messages are not compared: they are
/// localized and redacted, and the SQLSTATE says what went wrong.
///
/// @return std::nullopt when the backends agree
[[nodiscard]] std::optional<ConflictKind> compare(const Outcome& primary, const Outcome& mirror) noexcept;

}  // namespace pgdual::conflict
