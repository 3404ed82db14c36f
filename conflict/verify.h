#pragma once

#include "conflict/sql_text.h"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// `pgdual verify`'s pure part: schema descriptions and checksums in; the
/// SQL that computes them, the narrowing of differing key ranges, and the
/// verdicts out. The command that talks to both backends is
/// conflict/jobs/verify_command.h; docs/verify.md describes the whole.
///
/// Row values never enter this model: rows are known by their primary key
/// and by md5 digests the servers compute.
namespace pgdual::conflict {

/// A table or sequence, by its catalog names (unquoted).
struct TableName {
  std::string schema;
  std::string name;

  /// "schema.name", for people.
  [[nodiscard]] std::string display() const;
  /// "\"schema\".\"name\"", for SQL.
  [[nodiscard]] std::string sql() const;
  /// "ONLY \"schema\".\"name\"": the table's own rows, without those of tables inheriting from it,
  /// which are compared and repaired as tables of their own.
  [[nodiscard]] std::string only() const;

  friend auto operator<=>(const TableName&, const TableName&) = default;
};

/// A --table argument: "schema.name" (split at the first dot), or "name" in schema public.
[[nodiscard]] TableName table_name_from_argument(std::string_view argument);

/// One column as the catalogs describe it.
struct ColumnSchema {
  std::string name;
  std::string type;          ///< format_type(): "integer", "numeric(10,2)", "character varying(20)"
  bool not_null = false;
  std::string default_text;  ///< the default expression, identity or generation; empty without one
  std::string collation;     ///< "default", "C"…; empty when the type is not collatable

  friend bool operator==(const ColumnSchema&, const ColumnSchema&) = default;
};

/// A constraint or an index: its name and pg_get_constraintdef() / pg_get_indexdef().
struct NamedDefinition {
  std::string name;
  std::string definition;

  friend bool operator==(const NamedDefinition&, const NamedDefinition&) = default;
};

/// One table's schema on one backend.
struct TableSchema {
  TableName table;
  std::vector<ColumnSchema> columns;         ///< by position
  std::vector<std::string> primary_key;      ///< column names in key order; empty without a primary key
  std::vector<NamedDefinition> constraints;  ///< the primary key's included
  std::vector<NamedDefinition> indexes;      ///< the primary key's included
};

/// What the database itself was created with on one backend.
struct DatabaseSettings {
  std::string encoding;  ///< "UTF8"
  std::string collate;   ///< LC_COLLATE, "en_US.UTF-8"
  std::string ctype;     ///< LC_CTYPE
};

enum class SchemaObject { database, table, column, constraint, index };

enum class SchemaChange {
  missing_on_mirror,  ///< the primary has it, the mirror does not
  extra_on_mirror,    ///< the mirror has it, the primary does not
  differs,            ///< both have it, with a different `attribute`
};

/// One schema difference. Names and definitions only: never row values.
struct SchemaDifference {
  SchemaObject object = SchemaObject::table;
  SchemaChange change = SchemaChange::differs;
  std::string name;        ///< the column, constraint, index or database setting; empty for a table
  std::string attribute;   ///< with `differs`: "type", "nullability", "default", "collation", "position",
                           ///< "definition" or "value"
  std::string on_primary;  ///< the primary's value of `attribute`, or the definition that is missing
  std::string on_mirror;   ///< the mirror's value of `attribute`, or the definition that is extra

  friend bool operator==(const SchemaDifference&, const SchemaDifference&) = default;
};

/// Everything that differs between one table's two schemas, in this order: columns missing on
/// the mirror, extra on it, then per shared column (in the primary's order) type, nullability,
/// default, collation and position among the shared columns; then constraints and indexes by name
/// (missing, extra, definition differs).
[[nodiscard]] std::vector<SchemaDifference> compare_schemas(const TableSchema& primary, const TableSchema& mirror);

/// Encoding, LC_COLLATE and LC_CTYPE, each when it differs.
[[nodiscard]] std::vector<SchemaDifference> compare_databases(const DatabaseSettings& primary,
                                                              const DatabaseSettings& mirror);

/// One line for people: `column "price": type numeric(10,2) on primary, integer on mirror`.
[[nodiscard]] std::string describe(const SchemaDifference& difference);

/// How a table's rows are compared.
enum class RowMethod {
  by_key,     ///< checksums over ranges of the primary key, narrowed down to keys
  full_hash,  ///< one hash over all rows: there is no primary key, or the two differ
  none,       ///< the table is on one backend only
};

/// by_key when the primary has a primary key and the mirror's has the same columns; none when
/// either schema is missing; full_hash otherwise.
[[nodiscard]] RowMethod choose_row_method(const TableSchema* primary, const TableSchema* mirror);

/// The columns whose values are compared: those both backends have with the same type, in the
/// primary's order. A column whose type differs is reported by compare_schemas() instead, because
/// its values print differently on the two sides however equal they are.
[[nodiscard]] std::vector<std::string> compared_columns(const TableSchema& primary, const TableSchema& mirror);

/// A primary key value: each key column's text, in key order. Key columns are never NULL.
using Key = std::vector<std::string>;

/// "42" for one column; "(7, 3)" for several. A value that is empty or holds a space, comma,
/// parenthesis, quote or backslash is double-quoted, with quotes and backslashes escaped.
[[nodiscard]] std::string format_key(const Key& key);

/// The keys from `lower` (included) to `upper` (excluded), in the primary key's order on the
/// server. A missing bound is open: the first chunk starts below every key, the last ends above.
struct KeyRange {
  std::optional<Key> lower;
  std::optional<Key> upper;

  friend bool operator==(const KeyRange&, const KeyRange&) = default;
};

/// `range` split at `middle`: [lower, middle) and [middle, upper).
[[nodiscard]] std::pair<KeyRange, KeyRange> split_at(const KeyRange& range, const Key& middle);

/// A key column as the range queries use it.
struct KeyColumn {
  std::string name;
  std::string type;         ///< the primary's, to cast bound parameters to
  bool byte_order = false;  ///< order it under COLLATE "C" (see key_columns())
};

/// The primary key's columns of a by_key table. A text-like key column is ordered by its own
/// collation, which can use the key's index, unless the two backends may order it differently:
/// when the databases' collations differ (`same_database_collation` false) or the column's do.
/// Then it is ordered byte by byte (COLLATE "C"), the same everywhere but slower.
/// Precondition: choose_row_method() is by_key.
[[nodiscard]] std::vector<KeyColumn> key_columns(const TableSchema& primary, const TableSchema& mirror,
                                                 bool same_database_collation);

/// The SQL statements that compare one by_key table. Each takes the bounds of its range as
/// parameters: the lower key's values, then the upper key's (range_parameters()).
class KeyRangeQueries {
 public:
  /// `columns`: the compared columns (compared_columns()), hashed as one row.
  KeyRangeQueries(TableName table, std::vector<KeyColumn> key, std::vector<std::string> columns);

  /// One row: the number of rows in `range` and the XOR of their rows' 64-bit hashes
  /// (hashtextextended; "" when there are none).
  [[nodiscard]] std::string checksum(const KeyRange& range) const;
  /// The key columns of the row at `offset` (from 0) in `range` in key order: no row when the
  /// range holds no more rows.
  [[nodiscard]] std::string key_at_offset(const KeyRange& range, std::int64_t offset) const;
  /// Every row of `range` in key order: its key columns, then its row digest. Only for ranges
  /// known to be small.
  [[nodiscard]] std::string row_digests(const KeyRange& range) const;
  /// The rows with the keys given as parameters (key_parameters()), as row_digests() lists them
  /// but in no particular order. A key with no row on the server gives none. For re-reading
  /// chosen keys outside a range's snapshot.
  [[nodiscard]] std::string row_digests_of_keys() const;

  /// The parameters for any query above on `range`.
  [[nodiscard]] static std::vector<std::string> range_parameters(const KeyRange& range);
  /// The parameters of row_digests_of_keys() for `keys`: one text array literal per key column,
  /// holding that column's value of each key in turn. Precondition: each key has one value per
  /// key column.
  [[nodiscard]] std::vector<std::string> key_parameters(std::span<const Key> keys) const;

 private:
  [[nodiscard]] std::string where(const KeyRange& range) const;
  [[nodiscard]] std::string bound(std::size_t first_parameter) const;

  TableName table_;
  std::vector<KeyColumn> key_;
  std::string key_expression_;  ///< "t.\"id\"" or "(t.\"a\", t.\"b\" COLLATE \"C\")"
  std::string order_by_;        ///< the key's columns, comma-separated
  std::string key_list_;        ///< the key's columns as text, for SELECT
  std::string key_row_;         ///< the key's columns as one value, to match keys by equality
  std::string key_set_;         ///< the keys given as parameters, cast to the key's types, as a subquery
  std::string row_text_;        ///< the compared columns as one row's text
  std::string row_digest_;      ///< md5 of row_text_
};

/// The SQL of a full_hash comparison of `table` over `columns`. One row: the row count and two
/// numbers, the sums of the high and low 64 bits of every row's md5. Summing makes the hash
/// independent of row order without sorting on the server, and with any table size.
[[nodiscard]] std::string full_hash_query(const TableName& table, const std::vector<std::string>& columns);

/// A set of rows summarized on one backend: by_key ranges and full_hash tables alike.
struct RangeChecksum {
  std::int64_t rows = 0;
  std::string digest;

  friend bool operator==(const RangeChecksum&, const RangeChecksum&) = default;
};

/// The checksum (KeyRangeQueries::checksum()) of the rows of `whole` not in `part`, a range within
/// it: the XOR of row hashes undoes itself, so of a halved range only one half is read.
/// std::nullopt when a digest is not such a checksum.
[[nodiscard]] std::optional<RangeChecksum> remainder(const RangeChecksum& whole, const RangeChecksum& part);

/// What to do next with a range checksummed on both backends.
enum class RangeStep {
  identical,  ///< the checksums agree
  list_rows,  ///< neither side holds more than the leaf size: compare its keys and row digests
  split,      ///< halve it (split_point()) and checksum both halves
};

[[nodiscard]] RangeStep next_step(const RangeChecksum& primary, const RangeChecksum& mirror,
                                  std::int64_t leaf_rows) noexcept;

enum class Side { primary, mirror };

/// Where to split a range: the key at `offset` in it on `side`.
struct SplitPoint {
  Side side = Side::primary;
  std::int64_t offset = 0;

  friend bool operator==(const SplitPoint&, const SplitPoint&) = default;
};

/// The middle row of the side holding more of the range's rows (the primary on a tie), so that
/// both halves hold rows on that side and each halving makes progress.
/// Precondition: that side holds at least two rows, as it does when next_step() says split.
[[nodiscard]] SplitPoint split_point(const RangeChecksum& primary, const RangeChecksum& mirror) noexcept;

/// One row of a small range: its key and the md5 of its compared columns.
struct RowDigest {
  Key key;
  std::string digest;
};

/// Rows that differ, by key.
struct RowDifferences {
  std::vector<Key> missing_on_mirror;  ///< in the primary's order
  std::vector<Key> extra_on_mirror;    ///< in the mirror's order
  std::vector<Key> differing;          ///< same key, other values; in the primary's order
};

/// Compares the rows of one range as listed by both backends. Keys match by their text, so the
/// order of either list does not matter.
[[nodiscard]] RowDifferences compare_rows(std::span<const RowDigest> primary, std::span<const RowDigest> mirror);

/// How many keys of each kind a verdict keeps to print; the rest are counted.
inline constexpr std::size_t kMaxListedKeys = 1000;

/// The keys of one kind of row difference: all counted, the first kMaxListedKeys kept.
class KeyList {
 public:
  void add(Key key);
  void add(std::vector<Key> keys);

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] const std::vector<Key>& listed() const noexcept { return listed_; }

  /// Counts `unlisted` keys more without keeping any: the part of a count beyond the kept keys,
  /// carried over when a list is rebuilt. Add the kept keys first.
  void count_unlisted(std::uint64_t unlisted) noexcept { count_ += unlisted; }

 private:
  std::uint64_t count_ = 0;
  std::vector<Key> listed_;
};

/// A foreign key as one backend's catalogs describe it.
struct ForeignKey {
  std::string name;
  TableName table;                              ///< the referencing table
  std::vector<std::string> columns;             ///< its columns, in the key's order
  TableName referenced;
  std::vector<std::string> referenced_columns;  ///< matching `columns` one for one
};

/// The SQL that finds the rows of `foreign_key.table` whose key columns are all set (MATCH
/// SIMPLE, as PostgreSQL checks) and match no row of the referenced table: rows a disabled
/// trigger, a NOT VALID constraint or a divergence left behind. One row per orphan, at most
/// kMaxListedKeys: the number of orphans, then `primary_key`'s columns (none when empty). No row
/// when there are none.
[[nodiscard]] std::string orphans_query(const ForeignKey& foreign_key, const std::vector<std::string>& primary_key);

enum class DifferenceKind {
  schema,             ///< compare_schemas() found something
  row_count,          ///< the backends hold different numbers of rows
  missing_on_mirror,  ///< keys on the primary only
  extra_on_mirror,    ///< keys on the mirror only
  differing_rows,     ///< keys on both, with other values
  contents,           ///< full_hash: the hashes differ
  orphans,            ///< rows that reference nothing, other ones on each backend
  not_compared,       ///< the rows could not be compared (see TableVerdict::error)
};

[[nodiscard]] std::string_view to_string(DifferenceKind kind) noexcept;

/// The rows of one table that reference nothing through one foreign key, on one backend.
struct Orphans {
  std::string foreign_key;
  TableName referenced;
  Side side = Side::primary;
  std::uint64_t count = 0;
  std::vector<Key> listed;  ///< their primary keys, the first kMaxListedKeys; none without a key
};

/// What verify found for one table. (The `{}` initializers let `{.table = …}` leave the rest
/// out without -Wmissing-field-initializers.)
struct TableVerdict {
  TableName table{};
  RowMethod method = RowMethod::none;
  bool has_primary_key = false;            ///< on the primary
  std::vector<std::string> key_columns{};  ///< with by_key
  std::vector<SchemaDifference> schema{};
  std::int64_t primary_rows = 0;  ///< unless method is none
  std::int64_t mirror_rows = 0;
  KeyList missing_on_mirror{};
  KeyList extra_on_mirror{};
  KeyList differing_rows{};
  bool contents_differ = false;  ///< full_hash: the hashes differ
  std::vector<Orphans> orphans{};
  std::string error{};           ///< why the rows could not be compared; empty when they were
  std::uint64_t settled_keys = 0;   ///< differing keys found the same on both sides by the re-check
  bool contents_settled = false;    ///< full_hash: the hashes differed, and agreed at the re-check
  bool contents_in_flight = false;  ///< full_hash: they still differ, and a side's changed in between
  std::set<Key> in_flight{};        ///< listed keys still differing, whose rows changed in between

  /// Every kind that applies, in DifferenceKind order; empty when the table is identical.
  [[nodiscard]] std::vector<DifferenceKind> differences() const;
  [[nodiscard]] bool identical() const { return differences().empty(); }
};

/// One sequence on one backend.
struct SequenceState {
  TableName sequence;
  std::optional<TableName> owner;          ///< the table whose column it feeds (serial, identity)
  bool readable = true;                    ///< false: the user may not read its position
  std::optional<std::int64_t> last_value;  ///< std::nullopt: never used
};

/// One sequence on both backends.
struct SequenceVerdict {
  TableName sequence;
  std::optional<SequenceState> on_primary;  ///< std::nullopt: not on the primary
  std::optional<SequenceState> on_mirror;
  bool settled = false;    ///< the positions differed, and agreed when read again after the pause
  bool in_flight = false;  ///< they still differ, and one moved in between

  /// On both, readable on both, and at the same position.
  [[nodiscard]] bool identical() const;
};

/// Pairs the sequences of both backends by name; sorted by name.
[[nodiscard]] std::vector<SequenceVerdict> compare_sequences(std::span<const SequenceState> primary,
                                                             std::span<const SequenceState> mirror);

/// What the two backends held of one thing at one moment: a row's digest, a full hash, a
/// sequence's position. std::nullopt: that backend had none (no row with the key, no sequence).
struct Look {
  std::optional<std::string> primary;
  std::optional<std::string> mirror;

  friend bool operator==(const Look&, const Look&) = default;
};

/// What reading a difference again after a pause, outside the comparison's snapshots, found.
/// verify may run while pgdual serves traffic: a write can be on the primary and not yet on the
/// mirror, or fall between the two backends' snapshots.
enum class Recheck {
  settled,    ///< both sides agree now: not a difference any more
  in_flight,  ///< they still differ, and a side changed since the first look: could be a write in flight
  confirmed,  ///< neither side changed
};

/// settled when `now` holds the same on both sides (or nothing on both); otherwise in_flight when
/// either side's value changed from `first`, confirmed when neither did.
[[nodiscard]] Recheck classify_recheck(const Look& first, const Look& now) noexcept;

/// Keys and what both backends held of their rows at one moment: the md5 row digests.
using KeyLooks = std::map<Key, Look>;

/// The looks of `keys` in two listings of rows taken at one moment (as row_digests() or
/// row_digests_of_keys() give them). A key a listing lacks has no row on that side.
[[nodiscard]] KeyLooks look_at(std::span<const Key> keys, std::span<const RowDigest> primary,
                               std::span<const RowDigest> mirror);

/// Updates `verdict` with the re-check of its listed keys: `first` as the comparison saw them,
/// `now` after the pause (a key `now` lacks has no row on either side; a listed key `first` lacks
/// was not re-checked, and stays as found). Settled keys leave the lists and are counted in
/// `settled_keys`. Keys still differing are listed under the kind their rows have now, and those
/// whose rows changed are marked in `in_flight`. The row counts move by the re-checked keys' rows
/// that came or went since the snapshot. Keys counted beyond the listed ones were not re-checked
/// and stay as found.
void apply_recheck(TableVerdict& verdict, const KeyLooks& first, const KeyLooks& now);

/// A set of rows summarized on both backends at one moment.
struct BothChecksums {
  RangeChecksum primary;
  RangeChecksum mirror;
};

/// Updates a full_hash `verdict` whose contents differed with the hashes computed again after the
/// pause: the same now on both sides → settled (`contents_settled`); else in flight
/// (`contents_in_flight`) when either side's changed since `first`. The row counts become `now`'s
/// unless neither changed.
void apply_contents_recheck(TableVerdict& verdict, const BothChecksums& first, const BothChecksums& now);

/// Updates a differing sequence's `verdict` with `now`, the same sequence read again after the
/// pause: settled when the positions agree now, in flight when either moved. The verdict shows
/// `now`'s positions unless neither moved. A sequence unreadable at either look is left as found:
/// reading it again cannot tell anything.
void apply_recheck(SequenceVerdict& verdict, const SequenceVerdict& now);

/// The line printed before a table's pause: `re-checking 3 keys of public.orders...`, or
/// `re-checking the contents of public.audit...` when `keys` is 0 (a full_hash table).
[[nodiscard]] std::string render_recheck_notice(const TableName& table, std::size_t keys);
/// The line printed before the sequences' pause: `re-checking 2 sequences...`.
[[nodiscard]] std::string render_sequence_recheck_notice(std::size_t sequences);

/// How far verify has come, for its progress line.
struct ProgressState {
  std::int64_t rows_done = 0;                 ///< the primary's rows compared so far
  std::optional<std::int64_t> rows_expected;  ///< the catalogs' estimate for all tables; std::nullopt: unknown
  std::size_t tables_done = 0;
  std::size_t tables = 0;
};

/// A count with thousands separators: 1,234,567.
[[nodiscard]] std::string with_thousands(std::int64_t value);

/// One line, without '\r' or newline:
/// `verify [##########----------]  50%  500,000 of ~1,000,000 rows  3/12 tables`. Without a usable
/// estimate (unknown, or not above 0): `verify  500,000 rows  3/12 tables`. The percentage stops at
/// 100, since estimates can be low. Counts only, never a row value.
[[nodiscard]] std::string render_progress(const ProgressState& state);

/// Everything verify found.
struct VerifyReport {
  std::string database;
  std::string primary;  ///< the backends' names, "onprem" and "cloud"
  std::string mirror;
  std::vector<SchemaDifference> database_differences;
  std::vector<TableVerdict> tables;
  std::vector<SequenceVerdict> sequences;

  [[nodiscard]] bool identical() const;
};

/// `parts` with `separator` between them.
[[nodiscard]] std::string join(const std::vector<std::string>& parts, std::string_view separator);
/// "1 row", "2 rows".
[[nodiscard]] std::string plural(std::uint64_t count, std::string_view word);
/// "3 tables: 2 identical, 1 differs".
[[nodiscard]] std::string count_phrase(std::uint64_t total, std::uint64_t identical, std::string_view noun);
/// `title: N keys`, then the kept keys, one per line, indented, and how many more there are.
[[nodiscard]] std::string render_keys(std::string_view title, const KeyList& keys);
/// render_keys(), with the kept keys in `in_flight` marked as changed during verify, and counted
/// on the title line: `title: N keys (M changed during verify)`.
[[nodiscard]] std::string render_keys(std::string_view title, const KeyList& keys, const std::set<Key>& in_flight);

/// The first lines: the database, which backend is which, and database differences.
[[nodiscard]] std::string render_heading(const VerifyReport& report);
/// One table's lines: a headline, then one line per schema difference and the keys of each kind
/// of row difference, indented, and what the re-check settled.
[[nodiscard]] std::string render_table(const TableVerdict& verdict);
/// One sequence's line.
[[nodiscard]] std::string render_sequence(const SequenceVerdict& verdict);
/// "6 tables: 1 identical, 5 differ; 2 sequences: 1 identical, 1 differs", without a newline.
[[nodiscard]] std::string render_counts(const VerifyReport& report);

}  // namespace pgdual::conflict
