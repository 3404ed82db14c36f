#pragma once

#include <string_view>

namespace pgdual::conflict {

/// What pgdual concludes from one SQLSTATE. The questions libpqxx's error classes answer about
/// the connection and the transaction, and the judgments pgdual's routing makes on them, as
/// data, in one table: every part of pgdual that judges an error code asks classify_sqlstate().
/// Policy (log, drop the mirror, fail the client) is decided by the caller from these answers.
/// https://www.postgresql.org/docs/15/errcodes-appendix.html
struct ErrorClass {
  /// The session is gone or unusable; reconnect before the next unit.
  bool poisons_connection = false;
  /// The backend rolled back the whole transaction, savepoints included; the
  /// unit is lost on that side and only a retry of the whole unit can apply it.
  bool poisons_transaction = false;
  /// If this error answered a COMMIT (or an autocommit write), the backend may
  /// have committed anyway; look the idempotency key up before retrying.
  bool outcome_unknown = false;
  /// The statement failed for this run only, on the server's own locks or timing: cancelled
  /// (by the client, or statement_timeout), a serialization failure or deadlock victim, a lock
  /// not obtained in time, or a statement of a transaction already aborted. Another server would
  /// likely run it: a write that failed so on the primary is not given to the mirror.
  bool failed_by_chance = false;
  /// The client's own doing, which any backend would have answered alike (bad data, a violated
  /// constraint, a syntax error, a cancel): it says nothing about the backend that returned it.
  bool client_fault = false;
  /// The statement cannot run inside a transaction block (VACUUM, CREATE DATABASE...): to apply
  /// it, run it again outside one.
  bool needs_own_transaction = false;
  /// A table or schema the statement names does not exist: when the statement is pgdual's own
  /// (its ledger), `pgdual init` was not run against that backend.
  bool missing_table_or_schema = false;

  friend bool operator==(const ErrorClass&, const ErrorClass&) = default;
};

/// Classifies a SQLSTATE by its code, else by its two-character class; anything else (an
/// unknown code, or not 5 characters) is an ordinary statement error: all false.
[[nodiscard]] ErrorClass classify_sqlstate(std::string_view sqlstate) noexcept;

}  // namespace pgdual::conflict
