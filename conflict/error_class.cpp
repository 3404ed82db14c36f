#include "conflict/error_class.h"

#include <array>

namespace pgdual::conflict {
namespace {

constexpr ErrorClass kStatementOnly{};
constexpr ErrorClass kTransactionLost{.poisons_transaction = true};
constexpr ErrorClass kTransactionInDoubt{.poisons_transaction = true, .outcome_unknown = true};
/// The session ended with nothing in flight: what ran is known.
constexpr ErrorClass kConnectionClosed{.poisons_connection = true, .poisons_transaction = true};
/// The session died while a request may have been running.
constexpr ErrorClass kConnectionLost{.poisons_connection = true, .poisons_transaction = true, .outcome_unknown = true};
constexpr ErrorClass kClientFault{.client_fault = true};

/// One row of the table: a five-character code, or a two-character class for every code of it
/// that has no row of its own.
struct Judged {
  std::string_view code;
  ErrorClass judged;
};

constexpr std::array kTable = {
    // connection_exception. 08001 and 08004: the connection was never established, nothing ran.
    // 08P01: the server rejected a message it could not parse, so it did not run it. Every other
    // 08 means the connection died mid-request.
    Judged{"08001", kConnectionClosed},
    Judged{"08004", kConnectionClosed},
    Judged{"08P01", kConnectionClosed},
    Judged{"08", kConnectionLost},
    // data_exception and integrity_constraint_violation: the data the client sent.
    Judged{"22", kClientFault},
    Judged{"23", kClientFault},
    // invalid_transaction_state. 25001 active_sql_transaction: VACUUM and kin refuse a
    // transaction block. 25P02 in_failed_sql_transaction: an earlier error already aborted the
    // transaction. 25P03 idle_in_transaction_session_timeout is FATAL.
    Judged{"25001", {.needs_own_transaction = true}},
    Judged{"25P02", {.poisons_transaction = true, .failed_by_chance = true}},
    Judged{"25P03", kConnectionClosed},
    // invalid_authorization_specification: only sent at startup, then the server hangs up.
    Judged{"28", kConnectionClosed},
    // invalid_schema_name.
    Judged{"3F000", {.missing_table_or_schema = true}},
    // transaction_rollback. 40001 serialization_failure and 40P01 deadlock_detected depend on
    // what ran beside; 40003 statement_completion_unknown: the server itself cannot say whether
    // the statement completed (libpqxx's in_doubt_error).
    Judged{"40001", {.poisons_transaction = true, .failed_by_chance = true}},
    Judged{"40P01", {.poisons_transaction = true, .failed_by_chance = true}},
    Judged{"40003", kTransactionInDoubt},
    Judged{"40", kTransactionLost},
    // syntax_error; undefined_table.
    Judged{"42601", kClientFault},
    Judged{"42P01", {.missing_table_or_schema = true}},
    // insufficient_resources: 53300 too_many_connections refuses the login; disk_full and
    // out_of_memory fail only the statement.
    Judged{"53300", kConnectionClosed},
    // lock_not_available: NOWAIT or lock_timeout.
    Judged{"55P03", {.failed_by_chance = true}},
    // operator_intervention. 57014 query_canceled fails the statement only. 57P01 admin_shutdown
    // can answer a COMMIT that waits for synchronous replication after it is durable locally;
    // 57P02 crash_shutdown can land after the commit record is flushed. 57P03
    // cannot_connect_now, 57P04 database_dropped and 57P05 idle_session_timeout end a session
    // with nothing in flight.
    Judged{"57014", {.failed_by_chance = true, .client_fault = true}},
    Judged{"57P01", kConnectionLost},
    Judged{"57P02", kConnectionLost},
    Judged{"57P03", kConnectionClosed},
    Judged{"57P04", kConnectionClosed},
    Judged{"57P05", kConnectionClosed},
};

}  // namespace

ErrorClass classify_sqlstate(std::string_view sqlstate) noexcept {
  if (sqlstate.size() != 5) return kStatementOnly;
  for (const auto& row : kTable) {
    if (row.code == sqlstate) return row.judged;
  }
  for (const auto& row : kTable) {
    if (row.code.size() == 2 && sqlstate.starts_with(row.code)) return row.judged;
  }
  return kStatementOnly;
}

}  // namespace pgdual::conflict
