#pragma once

// When a read steered to the mirror fails, the primary answers it instead, and the mirror is held
// to account only when the primary's answer shows the failure was the mirror's (docs/read-ramp.md,
// "When the cloud fails a read"). Pure: the session says how the mirror's read ended and what the
// primary answered; this decides.

#include <cstddef>
#include <optional>
#include <string_view>

#include "conflict/compare.h"
#include "protocol/backend_messages.h"

namespace pgdual::proxy {

/// How much of the mirror's answer to an autocommit read is held back from the client until it
/// is known whether the read failed. Small results, the common case, are held whole and cost no
/// extra round trip (they go to the client in one write once the mirror's ReadyForQuery is in);
/// a bigger one streams on once this much has come, and an error after that is the client's.
inline constexpr std::size_t kHeldMirrorAnswerBytes = 64 * 1024;

/// How a read the mirror served ended, as far as the client is concerned.
struct MirrorReadEnd {
  /// Part of the mirror's answer was passed on to the client: it cannot be taken back.
  bool reached_client = false;
  /// The mirror's connection broke off (or it ended the session) before it answered in full.
  bool connection_lost = false;
  /// Of the mirror's first ErrorResponse; empty without one.
  std::string_view error_sqlstate = {};
  /// The primary's status before the read: a read inside a transaction is never run again
  /// elsewhere, since its transaction's other reads see the mirror's snapshot.
  protocol::TransactionStatus status_before = protocol::TransactionStatus::idle;
  /// The mirror's status after its answer: a failed read that left a transaction open there
  /// ("BEGIN READ ONLY; SELECT ...;" in one Query) must reach the client as it is, or the two
  /// servers would disagree about whether the session is in a transaction.
  protocol::TransactionStatus mirror_status_after = protocol::TransactionStatus::idle;
};

/// Whether the primary is to answer the read in the mirror's place. The rule is "nothing of the
/// answer has reached the client yet": an ErrorResponse anywhere in a held answer qualifies, even
/// after rows or a RowDescription, because the client has seen none of them; what was passed on
/// stays passed on. A cancelled read (57014) is not run again: the client asked for it to stop,
/// or set the statement_timeout that stopped it.
[[nodiscard]] bool primary_answers_instead(const MirrorReadEnd& read) noexcept;

/// What a read the primary answered in the mirror's place says about the mirror, given the
/// SQLSTATE of each one's first error (empty for success): nothing when both failed alike (the
/// client's doing: the statement fails anywhere), otherwise the conflict to record against the
/// mirror: mirror_error when the primary succeeded, different_errors when it failed otherwise.
[[nodiscard]] std::optional<conflict::ConflictKind> judge_failed_over_read(std::string_view mirror_sqlstate,
                                                                           std::string_view primary_sqlstate) noexcept;

}  // namespace pgdual::proxy
