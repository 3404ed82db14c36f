#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgdual::sql {

/// What a statement does, as far as routing is concerned (../shared/DESIGN.md,
/// "Routing rules"). The enumerators are ordered by strength: a string of
/// several statements is as strong as its strongest one (strongest()).
enum class StatementKind : std::uint8_t {
  read,                 ///< provably read-only: SELECT, VALUES, TABLE, SHOW, EXPLAIN
  copy_out,             ///< COPY ... TO STDOUT of a table or of a read-only query
  transaction_control,  ///< BEGIN, COMMIT, ROLLBACK, savepoints, two-phase commit
  listen,               ///< LISTEN, UNLISTEN: notifications come from the primary
  /// SET/RESET (also LOCAL and TRANSACTION), PREPARE, DEALLOCATE, DISCARD, LOAD,
  /// SET CONSTRAINTS, temporary tables, views and sequences, and cursors
  /// (DECLARE, FETCH, MOVE, CLOSE): a cursor lives on one backend, so both
  /// backends must run its DECLARE for either to serve its FETCHes.
  session_state,
  copy_in,  ///< COPY ... FROM STDIN: a write whose rows follow as CopyData
  write,    ///< everything not proven to be one of the above
};

/// The stronger of two kinds.
[[nodiscard]] constexpr StatementKind strongest(StatementKind a, StatementKind b) noexcept {
  return a < b ? b : a;
}

/// Which transaction statement a statement is.
enum class TransactionControl : std::uint8_t {
  none,
  begin,            ///< BEGIN / START TRANSACTION, read-write or unspecified
  begin_read_only,  ///< BEGIN / START TRANSACTION with READ ONLY as its last access mode
  commit,           ///< COMMIT / END (also AND CHAIN)
  rollback,         ///< ROLLBACK / ABORT (also AND CHAIN)
  savepoint,
  release_savepoint,
  rollback_to_savepoint,
  prepare_transaction,
  commit_prepared,
  rollback_prepared,
};

/// The classifier's verdict on one Query or Parse text.
struct Classification {
  /// False when libpg_query could not parse the text: a syntax error (which
  /// includes syntax newer than PostgreSQL 15), a NUL byte, or too_deep. Then
  /// kind is write and nothing else is known.
  bool parsed = true;
  /// Why parsed is false, when it is no syntax error: the text nests deeper than
  /// libpg_query can parse on the stack (about a thousand chained operators,
  /// hundreds of nested subqueries, two thousand UNIONs; see fits_parser_stack).
  /// PostgreSQL may well accept it, so it is not proven anything but a write.
  bool too_deep = false;
  /// The strongest of the statements' kinds; read for a text without statements
  /// (empty, or only comments), which the server answers with EmptyQueryResponse.
  StatementKind kind = StatementKind::read;
  std::vector<StatementKind> statements;  ///< each statement's kind, in order
  TransactionControl transaction = TransactionControl::none;  ///< of the first statement
  /// Some statement is PREPARE TRANSACTION: the transaction it ends commits later, at COMMIT
  /// PREPARED, if ever.
  bool prepares_transaction = false;
  /// Some statement's answer is specific to one server: it reads system catalogs
  /// or statistics views, OIDs (::regclass...), system columns (ctid, xmin...),
  /// server settings (SHOW, current_setting) or session-local values (currval,
  /// pg_backend_pid, txid_current...). A read with it goes to the primary only.
  /// On a write it warns that the two backends may answer (and, e.g. for
  /// `UPDATE ... WHERE ctid = ...`, change rows) differently.
  bool primary_only = false;
  /// Some statement must have its transaction to itself: PostgreSQL refuses it inside a
  /// transaction block or beside other statements (VACUUM, CREATE DATABASE, CREATE INDEX
  /// CONCURRENTLY...), or it may commit on its own (CALL, DO). Nothing may be run with it in
  /// one transaction, such as the unit marker of wal mode (docs/wal-mirror.md).
  bool alone_in_transaction = false;
  /// The statements that change the schema rather than rows (CREATE, ALTER, DROP, GRANT, COMMENT,
  /// REFRESH MATERIALIZED VIEW, CREATE TABLE AS...), which the WAL does not carry and wal mode
  /// sends along in the transaction itself (docs/wal-mirror.md): the text from the first
  /// statement through the last of those that come before any other statement, as written, the
  /// statements that set up the transaction at its start (transaction_setup_statements) left
  /// out. Empty when the text begins with no such statement.
  std::string schema_change_text;
  /// A statement that changes the schema comes after one that does not: it cannot be sent along
  /// ahead of the text.
  bool schema_change_late = false;
  /// The text's leading statements that open or set up a transaction: BEGIN and START TRANSACTION,
  /// and SET or RESET of any kind (SET TRANSACTION, its SNAPSHOT, SET LOCAL...), none of which takes
  /// a snapshot. PostgreSQL accepts some of them only before the transaction's first query, so a
  /// statement of pgdual's own that joins the transaction goes after them (wal mode's unit marker):
  /// how many there are, each answered by one CommandComplete (all of the text's when it holds
  /// nothing else), and the byte offset where the statement after them starts (just past the last
  /// one's semicolon; 0 when none, or nothing else, comes first).
  std::size_t transaction_setup_statements = 0;
  std::size_t transaction_setup_end = 0;
  /// Some statement creates, writes or removes a large object (lo_create, lowrite, lo_put,
  /// lo_unlink...): a change the WAL's logical decoding does not carry.
  bool writes_large_objects = false;
  /// Some statement creates an unlogged table (CREATE UNLOGGED TABLE, also AS, SELECT INTO
  /// UNLOGGED) or makes one unlogged (ALTER TABLE ... SET UNLOGGED): a table whose rows have no
  /// WAL, so the WAL mirror never sees them.
  bool creates_unlogged_table = false;
  /// Some statement adds a column whose value in the rows already there is computed as it runs
  /// (ALTER TABLE ... ADD COLUMN with a default that is no constant, serial, or an identity): each
  /// server that runs it computes its own, and the WAL carries none of them.
  bool fills_new_column = false;
  /// Relations named, written as the statement wrote them ("public.t" or "t";
  /// quoted names unquoted), deduplicated and sorted. References to a CTE are not
  /// relations. DROP TABLE/VIEW/SEQUENCE names count; relations reached through
  /// views, functions or OID literals do not.
  std::vector<std::string> tables;
  /// In statements both backends execute (write, session_state, copy_in), the
  /// values that differ between the two executions, deduplicated and sorted:
  /// functions by name ("now", "nextval", "random", "gen_random_uuid", and any
  /// server-specific function such as "currval" or "pg_backend_pid"), SQL value
  /// functions ("current_timestamp", "current_date"...), the special date/time
  /// literals when cast ("'now'", "'today'"...), and "tablesample".
  /// Not visible from the text, so never listed: column defaults the statement
  /// relies on (a serial or identity column, DEFAULT now()), triggers, and
  /// volatile functions called by views or by the functions it calls.
  std::vector<std::string> nondeterministic;
  /// Some statement the text executes, read-only ones included, calls a value that differs
  /// between two executions: whatever nondeterministic would list for it (volatile functions
  /// such as now(), random(), clock_timestamp(), gen_random_uuid(), nextval, server-specific
  /// ones such as currval or pg_backend_pid, SQL value functions such as current_timestamp,
  /// the special date/time literals when cast, TABLESAMPLE). So two runs of it, on one server
  /// or on two, may answer differently. Parts stored or planned rather than executed (a view's
  /// query, PREPARE's and DECLARE's, EXPLAIN without ANALYZE) do not count, and neither do the
  /// limits nondeterministic names (defaults, triggers, views' and functions' own calls).
  /// Catalogs, system columns and settings are primary_only's, not this. False when !parsed.
  bool volatile_answer = false;
  /// The text's last statement is a SELECT (plain, VALUES, or a set operation such as UNION)
  /// with an ORDER BY at its top level, so the order of its rows is part of its answer:
  /// `SELECT ... ORDER BY a LIMIT 5` and `SELECT a FROM t UNION SELECT b FROM u ORDER BY 1` do;
  /// an ORDER BY inside a subquery, a CTE, one arm of a set operation, an aggregate or a window
  /// does not, nor does SELECT INTO's (it returns no rows). Rows that tie on the ORDER BY keys
  /// may still come in either order. False when !parsed or the text has no statement.
  bool orders_rows = false;
  /// Some statement's answer may differ between two servers that hold the same rows: EXPLAIN (a
  /// plan, and with ANALYZE its timings), or a query that keeps rows by position or by which
  /// comes first (LIMIT, OFFSET, FETCH FIRST, DISTINCT ON), where the physical order of rows that
  /// tie decides. False when !parsed.
  bool plan_dependent = false;
  /// The temporary tables, views and sequences the text creates (CREATE TEMP TABLE, ... AS,
  /// SELECT INTO TEMP, a name in pg_temp), by name, in order: relations of the session alone, which
  /// a later statement names as it would a permanent one.
  std::vector<std::string> temporary_relations;
  /// Some statement creates a table, view or sequence that is not temporary.
  bool creates_permanent_relation = false;
  /// The tables, views and sequences the text drops, as written ("public.t" or "t"), in order.
  std::vector<std::string> dropped_relations;
  std::string fingerprint;  ///< pg_query_fingerprint as 16 hex digits; empty if !parsed
  /// The statement's shape, safe to log: pg_query_normalize's output (constants
  /// replaced by $n) with every literal it leaves (PREPARE, EXECUTE, CALL, NOTIFY,
  /// DDL...) replaced too and comments removed. Empty if !parsed.
  std::string normalized;
};

/// The kind's name in lower case ("copy_in"), for logs.
[[nodiscard]] std::string_view to_string(StatementKind kind) noexcept;
/// The transaction statement's name in lower case ("begin_read_only"), for logs.
[[nodiscard]] std::string_view to_string(TransactionControl control) noexcept;

}  // namespace pgdual::sql
