#include "conflict/sqlstate_names.h"

#include <array>

namespace pgdual::conflict {
namespace {

// PostgreSQL 15's classes, in the appendix's order.
constexpr std::array kClasses = {
    SqlstateClass{"00", "successful completion"},
    SqlstateClass{"01", "warning"},
    SqlstateClass{"02", "no data"},
    SqlstateClass{"03", "SQL statement not yet complete"},
    SqlstateClass{"08", "connection exception"},
    SqlstateClass{"09", "triggered action exception"},
    SqlstateClass{"0A", "feature not supported"},
    SqlstateClass{"0B", "invalid transaction initiation"},
    SqlstateClass{"0F", "locator exception"},
    SqlstateClass{"0L", "invalid grantor"},
    SqlstateClass{"0P", "invalid role specification"},
    SqlstateClass{"0Z", "diagnostics exception"},
    SqlstateClass{"20", "case not found"},
    SqlstateClass{"21", "cardinality violation"},
    SqlstateClass{"22", "data exception"},
    SqlstateClass{"23", "integrity constraint violation"},
    SqlstateClass{"24", "invalid cursor state"},
    SqlstateClass{"25", "invalid transaction state"},
    SqlstateClass{"26", "invalid SQL statement name"},
    SqlstateClass{"27", "triggered data change violation"},
    SqlstateClass{"28", "invalid authorization specification"},
    SqlstateClass{"2B", "dependent privilege descriptors still exist"},
    SqlstateClass{"2D", "invalid transaction termination"},
    SqlstateClass{"2F", "SQL routine exception"},
    SqlstateClass{"34", "invalid cursor name"},
    SqlstateClass{"38", "external routine exception"},
    SqlstateClass{"39", "external routine invocation exception"},
    SqlstateClass{"3B", "savepoint exception"},
    SqlstateClass{"3D", "invalid catalog name"},
    SqlstateClass{"3F", "invalid schema name"},
    SqlstateClass{"40", "transaction rollback"},
    SqlstateClass{"42", "syntax error or access rule violation"},
    SqlstateClass{"44", "WITH CHECK OPTION violation"},
    SqlstateClass{"53", "insufficient resources"},
    SqlstateClass{"54", "program limit exceeded"},
    SqlstateClass{"55", "object not in prerequisite state"},
    SqlstateClass{"57", "operator intervention"},
    SqlstateClass{"58", "system error"},
    SqlstateClass{"72", "snapshot failure"},
    SqlstateClass{"F0", "configuration file error"},
    SqlstateClass{"HV", "foreign data wrapper error"},
    SqlstateClass{"P0", "PL/pgSQL error"},
    SqlstateClass{"XX", "internal error"},
};

// The codes a reviewer of a migration meets: what clients send wrong, what differs between two
// copies of a database, and what ends sessions. Names as the appendix spells them.
constexpr std::array kCodes = {
    SqlstateName{"08000", "connection_exception", "the connection to the server failed"},
    SqlstateName{"08001", "sqlclient_unable_to_establish_sqlconnection", "the client could not connect"},
    SqlstateName{"08003", "connection_does_not_exist", "the connection was already closed"},
    SqlstateName{"08004", "sqlserver_rejected_establishment_of_sqlconnection", "the server refused the connection"},
    SqlstateName{"08006", "connection_failure", "the connection broke while in use"},
    SqlstateName{"08007", "transaction_resolution_unknown",
                 "the connection broke during a commit: whether it committed is unknown"},
    SqlstateName{"08P01", "protocol_violation", "a message broke the wire protocol"},
    SqlstateName{"0A000", "feature_not_supported", "the server does not support what the statement asks"},
    SqlstateName{"0B000", "invalid_transaction_initiation", "a transaction could not start here"},
    SqlstateName{"21000", "cardinality_violation", "a subquery or upsert matched more rows than allowed"},
    SqlstateName{"22000", "data_exception", "a value is not valid for its use"},
    SqlstateName{"22001", "string_data_right_truncation", "a text value is longer than its column allows"},
    SqlstateName{"22003", "numeric_value_out_of_range", "a number is too large for its column"},
    SqlstateName{"22004", "null_value_not_allowed", "a null was given where none is allowed"},
    SqlstateName{"22007", "invalid_datetime_format", "a date or time is not written in a known format"},
    SqlstateName{"22008", "datetime_field_overflow", "a date or time is out of range"},
    SqlstateName{"22012", "division_by_zero", "a division by zero"},
    SqlstateName{"22023", "invalid_parameter_value", "a function was given an invalid argument"},
    SqlstateName{"22P02", "invalid_text_representation", "a value is not valid text for its type"},
    SqlstateName{"23000", "integrity_constraint_violation", "a constraint of the table was violated"},
    SqlstateName{"23001", "restrict_violation", "rows elsewhere still refer to the row (ON DELETE RESTRICT)"},
    SqlstateName{"23502", "not_null_violation", "a required column was left empty"},
    SqlstateName{"23503", "foreign_key_violation",
                 "a row refers to a row that does not exist, or is still referred to"},
    SqlstateName{"23505", "unique_violation", "a row with the same unique key already exists"},
    SqlstateName{"23514", "check_violation", "a value fails a CHECK constraint of the table"},
    SqlstateName{"23P01", "exclusion_violation", "a row conflicts with another under an exclusion constraint"},
    SqlstateName{"24000", "invalid_cursor_state", "a cursor was used in a state that does not allow it"},
    SqlstateName{"25000", "invalid_transaction_state", "the statement is not allowed in the transaction's state"},
    SqlstateName{"25001", "active_sql_transaction", "the statement cannot run inside a transaction block"},
    SqlstateName{"25006", "read_only_sql_transaction", "a write was sent to a read-only transaction or server"},
    SqlstateName{"25P02", "in_failed_sql_transaction",
                 "an earlier error aborted the transaction; statements are ignored until its end"},
    SqlstateName{"25P03", "idle_in_transaction_session_timeout",
                 "the session sat idle in a transaction too long and was closed"},
    SqlstateName{"26000", "invalid_sql_statement_name", "a prepared statement of that name does not exist"},
    SqlstateName{"28000", "invalid_authorization_specification", "the login was refused"},
    SqlstateName{"28P01", "invalid_password", "the password was wrong"},
    SqlstateName{"2BP01", "dependent_objects_still_exist", "other objects depend on the one being dropped"},
    SqlstateName{"2D000", "invalid_transaction_termination", "a transaction was ended where that is not allowed"},
    SqlstateName{"34000", "invalid_cursor_name", "a cursor of that name does not exist"},
    SqlstateName{"3B001", "invalid_savepoint_specification", "a savepoint of that name does not exist"},
    SqlstateName{"3D000", "invalid_catalog_name", "the database does not exist"},
    SqlstateName{"3F000", "invalid_schema_name", "the schema does not exist"},
    SqlstateName{"40000", "transaction_rollback", "the transaction was rolled back"},
    SqlstateName{"40001", "serialization_failure",
                 "concurrent transactions collided; the transaction was rolled back and may be retried"},
    SqlstateName{"40002", "transaction_integrity_constraint_violation",
                 "a deferred constraint failed at commit; the transaction was rolled back"},
    SqlstateName{"40003", "statement_completion_unknown", "the server cannot say whether the statement completed"},
    SqlstateName{"40P01", "deadlock_detected",
                 "two transactions waited on each other; this one was rolled back and may be retried"},
    SqlstateName{"42000", "syntax_error_or_access_rule_violation", "the statement is malformed or not allowed"},
    SqlstateName{"42501", "insufficient_privilege", "the user lacks a privilege the statement needs"},
    SqlstateName{"42601", "syntax_error", "the statement is not valid SQL"},
    SqlstateName{"42602", "invalid_name", "a name is not valid"},
    SqlstateName{"42703", "undefined_column", "a column the statement names does not exist"},
    SqlstateName{"42704", "undefined_object", "an object (type, role, index...) the statement names does not exist"},
    SqlstateName{"42710", "duplicate_object", "an object of that name already exists"},
    SqlstateName{"42804", "datatype_mismatch", "a value's type does not match where it goes"},
    SqlstateName{"42809", "wrong_object_type", "the object is not of the kind the statement needs"},
    SqlstateName{"42830", "invalid_foreign_key", "a foreign key does not match a unique key of the referred table"},
    SqlstateName{"42883", "undefined_function", "a function with these argument types does not exist"},
    SqlstateName{"428C9", "generated_always", "a value was given for a column that is always generated"},
    SqlstateName{"42P01", "undefined_table", "a table the statement names does not exist"},
    SqlstateName{"42P06", "duplicate_schema", "a schema of that name already exists"},
    SqlstateName{"42P07", "duplicate_table", "a table of that name already exists"},
    SqlstateName{"42P10", "invalid_column_reference", "a column reference is not valid here (ON CONFLICT, ORDER BY)"},
    SqlstateName{"44000", "with_check_option_violation", "a row written through a view fails the view's condition"},
    SqlstateName{"53000", "insufficient_resources", "the server ran short of a resource"},
    SqlstateName{"53100", "disk_full", "the server's disk is full"},
    SqlstateName{"53200", "out_of_memory", "the server ran out of memory"},
    SqlstateName{"53300", "too_many_connections", "the server has no connection slot left"},
    SqlstateName{"54000", "program_limit_exceeded", "the statement exceeds a limit of the server"},
    SqlstateName{"55000", "object_not_in_prerequisite_state", "an object is not in the state the statement needs"},
    SqlstateName{"55006", "object_in_use", "another session is using the object"},
    SqlstateName{"55P03", "lock_not_available", "a lock was not obtained in time (NOWAIT or lock_timeout)"},
    SqlstateName{"57000", "operator_intervention", "an operator stopped the statement"},
    SqlstateName{"57014", "query_canceled", "the statement was cancelled, by the client or statement_timeout"},
    SqlstateName{"57P01", "admin_shutdown", "the server was shutting down"},
    SqlstateName{"57P02", "crash_shutdown", "the server was restarting after a crash"},
    SqlstateName{"57P03", "cannot_connect_now", "the server is starting up or in recovery and takes no connections"},
    SqlstateName{"57P04", "database_dropped", "the database was dropped"},
    SqlstateName{"57P05", "idle_session_timeout", "the session sat idle too long and was closed"},
    SqlstateName{"58000", "system_error", "the operating system reported an error"},
    SqlstateName{"58030", "io_error", "reading or writing a file failed on the server"},
    SqlstateName{"P0001", "raise_exception", "application code raised this error (RAISE)"},
    SqlstateName{"P0002", "no_data_found", "a PL/pgSQL query found no row (INTO STRICT)"},
    SqlstateName{"P0003", "too_many_rows", "a PL/pgSQL query found more than one row (INTO STRICT)"},
    SqlstateName{"P0004", "assert_failure", "a PL/pgSQL ASSERT failed"},
    SqlstateName{"XX000", "internal_error", "the server hit an internal error"},
    SqlstateName{"XX001", "data_corrupted", "the server found corrupted data"},
    SqlstateName{"XX002", "index_corrupted", "the server found a corrupted index"},
};

}  // namespace

SqlstateDescription describe_sqlstate(std::string_view sqlstate) noexcept {
  SqlstateDescription description;
  if (sqlstate.size() != 5) return description;
  for (const auto& row : kCodes) {
    if (row.code == sqlstate) {
      description.condition = row.condition;
      description.meaning = row.meaning;
    }
  }
  for (const auto& row : kClasses) {
    if (sqlstate.starts_with(row.code)) description.class_name = row.name;
  }
  return description;
}

std::string sqlstate_line(std::string_view sqlstate) {
  const auto description = describe_sqlstate(sqlstate);
  std::string line{sqlstate};
  if (!description.condition.empty()) {
    return line.append(" ").append(description.condition).append(": ").append(description.meaning);
  }
  if (!description.class_name.empty()) {
    return line.append(": class ").append(sqlstate.substr(0, 2)).append(", ").append(description.class_name);
  }
  return line.append(": not a SQLSTATE PostgreSQL documents");
}

std::span<const SqlstateName> known_sqlstates() noexcept { return kCodes; }
std::span<const SqlstateClass> known_sqlstate_classes() noexcept { return kClasses; }

}  // namespace pgdual::conflict
