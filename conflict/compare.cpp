#include "conflict/compare.h"

namespace pgdual::conflict {
namespace {

std::optional<ConflictKind> compare_reachability(const Outcome& primary, const Outcome& mirror) noexcept {
  if (primary.reachability != Reachability::reached) return ConflictKind::primary_unavailable;
  switch (mirror.reachability) {
    case Reachability::reached: return std::nullopt;
    case Reachability::unreachable: return ConflictKind::mirror_unavailable;
    case Reachability::timed_out: return ConflictKind::mirror_timeout;
  }
  return ConflictKind::unclassified;
}

std::optional<ConflictKind> compare_errors(const Outcome& primary, const Outcome& mirror) noexcept {
  if (primary.error && mirror.error) {
    if (primary.error->sqlstate == mirror.error->sqlstate) return std::nullopt;
    return ConflictKind::different_errors;
  }
  if (primary.error) return ConflictKind::error_primary_only;
  if (mirror.error) return ConflictKind::mirror_error;
  return std::nullopt;
}

std::optional<ConflictKind> compare_results(const Outcome& primary, const Outcome& mirror) noexcept {
  if (primary.tags_digest != mirror.tags_digest) {
    // Both ran the same statements, so with as many tags on each side the
    // tags can only differ in their counts, or (COMMIT answered ROLLBACK)
    // in their command.
    if (primary.command_count == mirror.command_count && primary.row_count != mirror.row_count) {
      return ConflictKind::row_count;
    }
    return ConflictKind::unclassified;
  }
  if (primary.rows_digest != mirror.rows_digest) return ConflictKind::returning_differs;
  if (primary.transaction_status != mirror.transaction_status) return ConflictKind::transaction_status_differs;
  return std::nullopt;
}

// The two-character SQLSTATE class as one switchable number.
constexpr int class_code(char first, char second) noexcept { return first * 256 + second; }

// {poisons_connection, poisons_transaction, outcome_unknown}
constexpr ErrorClass kStatementOnly{false, false, false};
constexpr ErrorClass kTransactionLost{false, true, false};
constexpr ErrorClass kTransactionInDoubt{false, true, true};
// The session ended with nothing in flight: what ran is known.
constexpr ErrorClass kConnectionClosed{true, true, false};
// The session died while a request may have been running.
constexpr ErrorClass kConnectionLost{true, true, true};

}  // namespace

std::string_view to_string(ConflictKind kind) noexcept {
  switch (kind) {
    case ConflictKind::primary_unavailable: return "primary_unavailable";
    case ConflictKind::mirror_unavailable: return "mirror_unavailable";
    case ConflictKind::mirror_timeout: return "mirror_timeout";
    case ConflictKind::mirror_error: return "mirror_error";
    case ConflictKind::error_primary_only: return "error_primary_only";
    case ConflictKind::different_errors: return "different_errors";
    case ConflictKind::row_count: return "row_count";
    case ConflictKind::returning_differs: return "returning_differs";
    case ConflictKind::transaction_status_differs: return "transaction_status_differs";
    case ConflictKind::unclassified: return "unclassified";
    case ConflictKind::nondeterministic: return "nondeterministic";
  }
  return "unclassified";
}

std::optional<ConflictKind> conflict_kind_from_string(std::string_view name) noexcept {
  for (const auto kind : kAllConflictKinds) {
    if (to_string(kind) == name) return kind;
  }
  return std::nullopt;
}

std::optional<ConflictKind> compare(const Outcome& primary, const Outcome& mirror) noexcept {
  if (auto kind = compare_reachability(primary, mirror)) return kind;
  if (auto kind = compare_errors(primary, mirror)) return kind;
  return compare_results(primary, mirror);
}

ErrorClass classify_sqlstate(std::string_view sqlstate) noexcept {
  if (sqlstate.size() != 5) return kStatementOnly;
  const auto code = sqlstate.substr(2);
  switch (class_code(sqlstate[0], sqlstate[1])) {
    case class_code('0', '8'):  // connection_exception
      // 08001 and 08004: the connection was never established, nothing ran.
      // 08P01: the server rejected a message it could not parse, so it did
      // not run it. Every other 08 means the connection died mid-request.
      if (code == "001" || code == "004" || code == "P01") return kConnectionClosed;
      return kConnectionLost;
    case class_code('2', '5'):  // invalid_transaction_state
      // 25P02 in_failed_sql_transaction: an earlier error already aborted the
      // transaction; 25P03 idle_in_transaction_session_timeout is FATAL.
      if (code == "P02") return kTransactionLost;
      if (code == "P03") return kConnectionClosed;
      return kStatementOnly;
    case class_code('2', '8'):  // invalid_authorization_specification: only sent at startup, then the server hangs up
      return kConnectionClosed;
    case class_code('4', '0'):  // transaction_rollback: 40001 serialization, 40P01 deadlock, 40002 deferred constraint
      // 40003 statement_completion_unknown: the server itself cannot say
      // whether the statement completed (libpqxx's in_doubt_error).
      if (code == "003") return kTransactionInDoubt;
      return kTransactionLost;
    case class_code('5', '3'):  // insufficient_resources
      // 53300 too_many_connections refuses the login; disk_full and
      // out_of_memory fail only the statement.
      return code == "300" ? kConnectionClosed : kStatementOnly;
    case class_code('5', '7'):  // operator_intervention
      // 57P01 admin_shutdown can answer a COMMIT that waits for synchronous
      // replication after it is durable locally ("The transaction has already
      // committed locally"); 57P02 crash_shutdown can land after the commit
      // record is flushed. 57P03 cannot_connect_now (startup, recovery),
      // 57P04 database_dropped and 57P05 idle_session_timeout end a session
      // with nothing in flight. 57014 query_canceled fails the statement only.
      if (code == "P01" || code == "P02") return kConnectionLost;
      if (code == "P03" || code == "P04" || code == "P05") return kConnectionClosed;
      return kStatementOnly;
    default:
      return kStatementOnly;
  }
}

}  // namespace pgdual::conflict
