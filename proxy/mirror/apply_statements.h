#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "protocol/pgoutput.h"

/// The SQL that applies pgoutput's row changes to the mirror: pure, text in and SQL out, so that
/// every shape of statement is tested without a database (tests/unit/proxy/apply_statements_test.cpp).
/// ApplyConnection does the I/O.
///
/// Tables are named by schema and name, never by OID (the mirror's OIDs differ), always quoted and
/// qualified: the apply session runs with an empty search_path. Values travel as parameters, in
/// text (or binary, as pgoutput sent them), and the mirror infers each parameter's type from the
/// column it is compared with or assigned to, so type OIDs never cross between the servers.
namespace pgdual::proxy {

/// What a change does, as reports name it.
/// `ddl` is a statement carried by a pgdual.ddl message (proxy/mirror/ddl_message.h). `begin` and
/// `commit` stand for the statements pgdual adds around a transaction's changes (BEGIN; the ledger
/// row and COMMIT).
enum class ChangeKind : std::uint8_t { insert, update, delete_row, truncate, ddl, begin, commit };

/// "INSERT", "UPDATE", "DELETE", "TRUNCATE", "DDL", "BEGIN", "COMMIT".
[[nodiscard]] std::string_view to_string(ChangeKind kind) noexcept;

/// "schema"."table".
[[nodiscard]] std::string qualified_name(const protocol::logicalrep::OwnedRelation& relation);

/// pgdual's own bookkeeping (schema `pgdual`) is published by FOR ALL TABLES too, but each server
/// keeps its own: its changes are never applied.
/// pgdual.ddl_proof (pgdual.ddl_origin before schema version 6), where pgdual.emit_ddl proves each
/// DDL message it writes, and its column.
inline constexpr std::string_view kDdlOriginDigest = "digest";
[[nodiscard]] bool is_ddl_origin(const protocol::logicalrep::OwnedRelation& relation) noexcept;
[[nodiscard]] bool is_pgdual_relation(const protocol::logicalrep::OwnedRelation& relation) noexcept;

/// Built-in types without a default equality operator (json, xml, point, ...) or whose `=` is not
/// identity (box and circle compare areas): a REPLICA IDENTITY FULL match compares them as text
/// when the mirror's own catalog was not read (MirrorColumn).
[[nodiscard]] bool compares_as_text(protocol::logicalrep::Oid type_oid) noexcept;

/// What the apply must know of a column as the mirror has it, which pgoutput does not say.
struct MirrorColumn {
  /// GENERATED ALWAYS AS IDENTITY: an UPDATE may set it to DEFAULT only, so a change of its value
  /// replaces the row (PlannedChange::replaces_row).
  bool always_identity = false;
  /// Its type has no btree equality of its own (json, point, a composite, a domain, an array, a
  /// range): a REPLICA IDENTITY FULL match compares the text forms, the primary's value read as
  /// the column's type and written out again by the mirror, so both come from one output function.
  bool compares_as_text = false;
  std::string type{};  ///< the column's type as the mirror names it, qualified (format_type)
  friend bool operator==(const MirrorColumn&, const MirrorColumn&) = default;
};

/// One a relation column, in its order; empty when the mirror's catalog was not read.
using MirrorColumns = std::vector<MirrorColumn>;

/// Reads MirrorColumns: $1 the table's qualified_name(), $2 column_names_parameter(). One row a
/// column, in the relation's order, NULL for a column (or table) the mirror lacks, else "a" or "-"
/// (always identity), "t" or "n" (compared as text or natively), ":" and the type.
inline constexpr std::string_view kMirrorColumnsSql = R"sql(SELECT CASE WHEN a.attname IS NOT NULL THEN
  CASE a.attidentity WHEN 'a' THEN 'a' ELSE '-' END ||
  CASE WHEN t.typtype = 'e' OR (t.typtype = 'b' AND t.typcategory <> 'A' AND EXISTS (
      SELECT FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am m ON m.oid = o.opcmethod
      WHERE m.amname = 'btree' AND o.opcdefault AND o.opcintype = t.oid)) THEN 'n' ELSE 't' END ||
  ':' || pg_catalog.format_type(a.atttypid, a.atttypmod) END
FROM pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY AS c (name, position)
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = pg_catalog.to_regclass($1) AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
ORDER BY c.position)sql";

/// The relation's column names as a text[] literal, for kMirrorColumnsSql.
[[nodiscard]] std::string column_names_parameter(const protocol::logicalrep::OwnedRelation& relation);

/// One row of kMirrorColumnsSql; a NULL row or one of another form is a column the mirror lacks.
[[nodiscard]] MirrorColumn parse_mirror_column(const std::optional<std::string>& row);

/// One Insert, Update or Delete made into a statement shape and its parameter values. The values
/// borrow from the message.
struct PlannedChange {
  ChangeKind kind = ChangeKind::insert;
  std::vector<std::size_t> assigned{};  ///< the columns INSERT lists or UPDATE sets, in relation order
  std::vector<std::size_t> matched{};   ///< the columns WHERE compares, in relation order
  bool full_identity = false;         ///< REPLICA IDENTITY FULL: match all of `matched`, one row by ctid
  /// An UPDATE that assigns a GENERATED ALWAYS identity column: the row is deleted and inserted
  /// again in one statement, OVERRIDING SYSTEM VALUE, the columns not assigned kept from the old.
  bool replaces_row = false;
  std::vector<protocol::logicalrep::TupleColumn> values{};  ///< $1, $2, ...: assigned, then matched

  /// Changes of one relation with the same shape have the same SQL: the key of its prepared
  /// statement within the relation.
  [[nodiscard]] std::string shape() const;
};

/// Why a change cannot be made into a statement; no row values in it.
using PlanError = std::string;

/// Every column of the new row (pgoutput never sends generated columns, so they are never listed).
/// Fails when the tuple's column count is not the relation's.
[[nodiscard]] tl::expected<PlannedChange, PlanError> plan_insert(const protocol::logicalrep::OwnedRelation& relation,
                                                                 const protocol::logicalrep::Insert& insert);

/// Sets the new row's columns except those sent as unchanged TOAST ('u': the mirror keeps its own
/// value), matching the key from the old image when one was sent ('K' after a key change, 'O' with
/// REPLICA IDENTITY FULL), else from the new row. Replaces the row when it assigns a column that
/// `mirror` says is an identity GENERATED ALWAYS. Fails on a column count that is not the
/// relation's, or when a key column's value was not sent (nothing to match on).
[[nodiscard]] tl::expected<PlannedChange, PlanError> plan_update(const protocol::logicalrep::OwnedRelation& relation,
                                                                 const MirrorColumns& mirror,
                                                                 const protocol::logicalrep::Update& update);

/// Matches the old image's key. Fails as plan_update does.
[[nodiscard]] tl::expected<PlannedChange, PlanError> plan_delete(const protocol::logicalrep::OwnedRelation& relation,
                                                                 const protocol::logicalrep::Delete& remove);

/// The statement for `change` of `relation`, with $n parameters in the order of change.values.
/// Precondition: `change` was planned for `relation` and `mirror` (empty, or one a column).
[[nodiscard]] std::string statement_sql(const protocol::logicalrep::OwnedRelation& relation,
                                        const MirrorColumns& mirror, const PlannedChange& change);

/// TRUNCATE of `relations` (at least one), with RESTART IDENTITY and CASCADE as the primary's had them.
[[nodiscard]] std::string truncate_sql(std::span<const protocol::logicalrep::OwnedRelation* const> relations,
                                       bool cascade, bool restart_identity);

/// The ledger row of one applied transaction: $1 source, $2 commit LSN (text), $3 xid, $4 unit key or NULL.
inline constexpr std::string_view kRecordAppliedSql =
    "INSERT INTO pgdual.applied (source, commit_lsn, xid, unit_key) VALUES ($1, $2::pg_lsn, $3::bigint, $4::uuid)";

/// Tells the pgdual instances listening on the mirror that unit key $1 is applied, once the
/// transaction commits (ApplyOptions::others_may_wait).
inline constexpr std::string_view kNotifyAppliedSql = "SELECT pg_catalog.pg_notify('pgdual_applied', $1)";

/// The highest commit LSN applied from $1, or no row value (NULL) when none was.
inline constexpr std::string_view kLastAppliedSql =
    "SELECT max(commit_lsn)::text FROM pgdual.applied WHERE source = $1";

/// Before a DDL statement runs on the mirror: $1 the primary's role and $2 its search_path, for the
/// rest of the transaction (objects created get the primary's owner and schema; the parameters need
/// no quoting), and the tables there are now, for kEmptyTablesCreatedSql.
inline constexpr std::string_view kDdlContextSql =
    "SELECT pg_catalog.set_config('pgdual.tables_before_ddl', "
    "(SELECT pg_catalog.string_agg(oid::pg_catalog.text, ',') FROM pg_catalog.pg_class WHERE relkind = 'r'), true), "
    "pg_catalog.set_config('role', $1, true), pg_catalog.set_config('search_path', $2, true)";

/// After a DDL statement ran on the mirror, as its role: the tables it created lose the rows it put
/// there (CREATE TABLE AS, SELECT INTO). The primary's own rows for them follow in the stream, as
/// Insert messages, and would otherwise be there twice. Unlogged and temporary tables have no rows in
/// the WAL and keep theirs, as does pgdual's bookkeeping, which is never applied.
inline constexpr std::string_view kEmptyTablesCreatedSql = R"sql(DO $pgdual$
DECLARE
  before pg_catalog.oid[] := pg_catalog.string_to_array(
      pg_catalog.current_setting('pgdual.tables_before_ddl', true), ',')::pg_catalog.oid[];
  created pg_catalog.regclass;
BEGIN
  -- Without the list every table would look new.
  IF before IS NULL OR pg_catalog.cardinality(before) = 0 THEN
    RETURN;
  END IF;
  FOR created IN
    SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname <> 'pgdual' AND c.oid <> ALL (before)
  LOOP
    EXECUTE pg_catalog.format('DELETE FROM ONLY %s', created);
  END LOOP;
END
$pgdual$)sql";

/// Before a statement that must run alone (a non-transactional pgdual.ddl message) runs on the
/// mirror outside any transaction block: $1 the primary's role and $2 its search_path, for the
/// session, since there is no transaction for them to end with; kDdlRestoreSql undoes them.
inline constexpr std::string_view kAloneContextSql =
    "SELECT pg_catalog.set_config('role', $1, false), pg_catalog.set_config('search_path', $2, false)";

/// After a DDL statement: the apply's own role and empty search_path again. Set for the session, not
/// the transaction: a SET ROLE or SET search_path in the statement text would outlive the commit.
inline constexpr std::string_view kDdlRestoreSql =
    "SELECT pg_catalog.set_config('role', 'none', false), pg_catalog.set_config('search_path', '', false)";


/// A unit key as pgdual writes it: a UUID in its canonical text form (8-4-4-4-12 hex digits).
/// Anything else is not pgdual's key and is not recorded (pgdual.applied.unit_key is a uuid).
[[nodiscard]] bool is_unit_key(std::string_view text) noexcept;

/// The name a source has in pgdual.applied: the slot's name and the primary's system identifier,
/// so that a primary replaced by another (a role swap, a restore) starts a new source.
[[nodiscard]] std::string source_name(std::string_view slot_name, std::string_view system_identifier);

}  // namespace pgdual::proxy
