#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conflict/verify.h"

/// `pgdual reconcile`'s pure part: what verify found in, the statements that make the mirror
/// equal to the primary (which is authoritative) and the plan's text out. The command that runs
/// them is conflict/jobs/reconcile_command.h; docs/reconcile.md describes the whole.
namespace pgdual::conflict {

/// One schema difference and the DDL that repairs it on the mirror.
struct SchemaRepair {
  SchemaDifference difference;
  /// The statement to run on the mirror; empty when pgdual cannot repair it safely (a table,
  /// a column's position, an object extra on the mirror): then `by_hand` says why.
  std::string statement;
  std::string by_hand;
  /// SET NOT NULL waits for the rows: a column just added is empty until they are copied.
  bool after_rows = false;
};

/// The repairs of one table's schema differences, in their order.
[[nodiscard]] std::vector<SchemaRepair> plan_schema_repairs(const TableName& table,
                                                            const std::vector<SchemaDifference>& differences);

/// One row's copied columns in text format, as select_rows() returns them; std::nullopt is NULL.
using RowText = std::vector<std::optional<std::string>>;

/// What a batch of keys needs, decided from both sides' rows read again just before the repair.
struct KeyedRepairDecision {
  std::vector<RowText> insert;  ///< the primary's rows the mirror lacks
  std::vector<RowText> update;  ///< the primary's rows the mirror holds otherwise
  std::vector<Key> remove;      ///< keys only the mirror has
  std::uint64_t agreed = 0;     ///< keys the two sides now hold alike, or neither holds
};

/// The statements that copy rows of a by_key table from the primary to the mirror, by key.
/// Values travel in PostgreSQL's text format, cast back to the primary's column types.
/// Generated columns are left to the mirror to compute; identity columns are copied.
class KeyedRepairQueries {
 public:
  /// `primary`: the table on the primary, with a primary key.
  explicit KeyedRepairQueries(const TableSchema& primary);

  /// How many keys or rows one statement may take: PostgreSQL binds at most 65535 parameters.
  [[nodiscard]] std::size_t keys_per_statement() const noexcept;
  [[nodiscard]] std::size_t rows_per_statement() const noexcept;

  /// The copied columns of the rows with `keys` keys (parameters: the keys' values, flattened).
  [[nodiscard]] std::string select_rows(std::size_t keys) const;
  /// Inserts `rows` rows, or updates them where the key exists (parameters: the rows' values
  /// as select_rows() returns them, flattened).
  [[nodiscard]] std::string upsert(std::size_t rows) const;
  /// select_rows(), locking the rows found (FOR UPDATE) until the transaction ends.
  [[nodiscard]] std::string lock_rows(std::size_t keys) const;
  /// Inserts `rows` rows, skipping those that collide with any row already there, and returns the
  /// keys of those inserted: the fallback when upsert() hits another unique index.
  [[nodiscard]] std::string insert_returning_keys(std::size_t rows) const;
  /// Deletes the rows with `keys` keys.
  [[nodiscard]] std::string delete_rows(std::size_t keys) const;

  /// The key of a row as select_rows() returns it.
  [[nodiscard]] Key key_of(const RowText& row) const;
  [[nodiscard]] std::vector<Key> keys_of(const std::vector<RowText>& rows) const;
  /// Compares the rows `requested` keys have on each side now, `primary` and `mirror` as
  /// select_rows() returned them: a key whose rows agree is left alone.
  [[nodiscard]] KeyedRepairDecision decide(std::size_t requested, std::vector<RowText> primary,
                                           const std::vector<RowText>& mirror) const;

  [[nodiscard]] std::size_t key_size() const noexcept { return key_.size(); }
  [[nodiscard]] std::size_t column_count() const noexcept { return columns_.size(); }

 private:
  [[nodiscard]] std::string key_in(std::size_t keys) const;
  [[nodiscard]] std::string insert_values(std::size_t rows) const;

  TableName table_;
  std::vector<ColumnSchema> key_;
  std::vector<ColumnSchema> columns_;
  std::vector<std::size_t> key_positions_;  ///< each key column's place among columns_
};

/// A table without a primary key has no row identity: its rows are a multiset, repaired by the
/// md5 digests of whole rows. Each digest is counted on both sides; where the mirror has fewer
/// copies the primary's row is inserted, where it has more the surplus is deleted.
class DigestRepairQueries {
 public:
  /// `compared`: the columns verify compares (compared_columns()), which the digests cover.
  DigestRepairQueries(const TableSchema& primary, const std::vector<std::string>& compared);

  /// Each digest and how many rows have it, in byte order of the digests.
  [[nodiscard]] std::string digest_counts() const;
  /// How many rows have each digest of the text array $1 (digests no row has are left out).
  [[nodiscard]] std::string counts_of_digests() const;
  /// One row per digest in the text array $1: the digest, then the copied columns.
  [[nodiscard]] std::string rows_with_digests() const;
  /// Keeps the table's rows as they are until the transaction ends: SHARE ROW EXCLUSIVE, which
  /// lets reads through and holds writes back.
  [[nodiscard]] std::string lock_table() const;
  /// Deletes $2 rows whose digest is $1.
  [[nodiscard]] std::string delete_copies() const;
  /// Inserts the row whose values are $1… $n, $n+1 times.
  [[nodiscard]] std::string insert_copies() const;

  [[nodiscard]] std::size_t column_count() const noexcept { return columns_.size(); }

 private:
  TableName table_;
  std::vector<ColumnSchema> columns_;
  std::string digest_;
};

/// One digest and how many rows have it on one side.
struct DigestCount {
  std::string digest;
  std::int64_t rows = 0;
};

/// A digest whose count differs: positive `surplus` means the primary has that many more copies.
struct DigestSurplus {
  std::string digest;
  std::int64_t surplus = 0;

  friend bool operator==(const DigestSurplus&, const DigestSurplus&) = default;
};

/// Merges the two sides' digest counts, both sorted by digest, as they arrive in batches, so
/// that neither side is held whole.
class DigestCountMerge {
 public:
  void add(Side side, std::vector<DigestCount> counts, bool last_batch);
  /// True when the merge cannot go on without the next batch of `side`.
  [[nodiscard]] bool needs(Side side) const;
  /// The differing digests found since the last call.
  [[nodiscard]] std::vector<DigestSurplus> take();
  [[nodiscard]] bool finished() const;

 private:
  void merge();

  std::vector<DigestCount> primary_;
  std::vector<DigestCount> mirror_;
  std::size_t primary_next_ = 0;
  std::size_t mirror_next_ = 0;
  bool primary_done_ = false;
  bool mirror_done_ = false;
  std::vector<DigestSurplus> found_;
};

/// `setval` on the mirror to the primary's position, or std::nullopt when the sequence is not on
/// both sides or cannot be read (then it is left to the operator).
[[nodiscard]] std::optional<std::string> sequence_repair(const SequenceVerdict& verdict);

/// What reconcile plans, or did, for one table.
struct TablePlan {
  TableName table{};
  RowMethod method = RowMethod::none;
  std::vector<SchemaRepair> schema{};
  KeyList insert{};  ///< keys missing on the mirror
  KeyList update{};  ///< keys whose rows differ
  KeyList remove{};  ///< keys extra on the mirror
  std::uint64_t left_alone = 0;  ///< keys found differing that agreed when read again
  std::uint64_t copies_inserted = 0;  ///< without a key: rows added, by content
  std::uint64_t copies_deleted = 0;
  std::string error{};             ///< what stopped the table; empty when nothing did

  [[nodiscard]] std::uint64_t row_changes() const;
  /// Something about the table needs an operator: a schema repair by hand, or an error.
  [[nodiscard]] bool needs_operator() const;
  [[nodiscard]] bool empty() const;
};

/// One table's lines: what changes on the mirror (planned, or done with `applied`), with keys.
[[nodiscard]] std::string render_plan(const TablePlan& plan, bool applied);
/// One sequence's line.
[[nodiscard]] std::string render_sequence_repair(const SequenceVerdict& verdict, bool applied);

}  // namespace pgdual::conflict
