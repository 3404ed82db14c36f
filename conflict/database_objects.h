#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/large_objects.h"
#include "conflict/verify.h"

/// What `pgdual verify` compares besides tables and sequences, the pure part: materialized views
/// (definition, whether populated, rows), large objects (conflict/large_objects.h), and the
/// relations it cannot compare, which it names rather than call the database identical. The I/O
/// is conflict/jobs/object_verifier.h; docs/verify.md describes the whole.
namespace pgdual::conflict {

/// Why verify cannot compare a relation.
enum class Uncomparable {
  unlogged_table,  ///< no WAL: the mirror never receives its rows, and a crash empties it
  foreign_table,   ///< its rows live on another server
};

[[nodiscard]] std::string_view to_string(Uncomparable kind) noexcept;

/// The relations of one backend verify cannot compare: schema, name, and 'u' (unlogged table)
/// or 'f' (foreign table), sorted.
[[nodiscard]] std::string uncomparable_relations_query();

/// A relation of one backend verify cannot compare.
struct UncomparableRelation {
  TableName name;
  Uncomparable kind = Uncomparable::unlogged_table;
};

/// A relation verify cannot compare on at least one backend: what it is on each (std::nullopt:
/// an ordinary table there, or none).
struct NotCompared {
  TableName name;
  std::optional<Uncomparable> on_primary;
  std::optional<Uncomparable> on_mirror;

  friend bool operator==(const NotCompared&, const NotCompared&) = default;
};

/// Pairs both backends' lists by name; sorted by name.
[[nodiscard]] std::vector<NotCompared> pair_uncomparable(std::span<const UncomparableRelation> primary,
                                                         std::span<const UncomparableRelation> mirror);

/// `tables` without those in `not_compared`: a table unlogged on one side is not compared at all,
/// or its rows, present on one side only, would look like a difference to repair.
[[nodiscard]] std::vector<TableName> comparable_tables(std::vector<TableName> tables,
                                                       std::span<const NotCompared> not_compared);

/// `public.cache: not compared (unlogged table)`, or `(unlogged table on primary)` when the
/// mirror's is not one, or `(unlogged table on primary, foreign table on mirror)`.
[[nodiscard]] std::string render_not_compared(const NotCompared& relation);

/// A materialized view on one backend.
struct MaterializedView {
  TableSchema schema;      ///< its name and columns (no keys, constraints or indexes)
  std::string definition;  ///< pg_get_viewdef()
  bool populated = false;  ///< false: created or refreshed WITH NO DATA; it cannot be read

  friend bool operator==(const MaterializedView& left, const MaterializedView& right) {
    return left.schema.table == right.schema.table && left.schema.columns == right.schema.columns &&
           left.definition == right.definition && left.populated == right.populated;
  }
};

/// The materialized views of one backend: schema, name, definition, populated ('t'/'f'), sorted.
[[nodiscard]] std::string materialized_views_query();
/// Their columns: schema, name, column, format_type(), in order of view and position.
[[nodiscard]] std::string materialized_view_columns_query();

/// One materialized view on both backends.
struct MaterializedViewVerdict {
  TableName view{};
  std::optional<MaterializedView> on_primary{};
  std::optional<MaterializedView> on_mirror{};
  std::optional<RangeChecksum> primary_rows{};  ///< the full hash, when rows_comparable()
  std::optional<RangeChecksum> mirror_rows{};
  std::string error{};  ///< why the rows could not be compared; empty when they were

  /// On both sides, with the same definition, both populated: the rows mean the same.
  [[nodiscard]] bool rows_comparable() const;
  [[nodiscard]] bool definition_differs() const;
  [[nodiscard]] bool identical() const;
};

/// Pairs both backends' views by name; sorted by name.
[[nodiscard]] std::vector<MaterializedViewVerdict> pair_materialized_views(std::span<const MaterializedView> primary,
                                                                           std::span<const MaterializedView> mirror);

/// The full hash (full_hash_query()) of a view whose rows_comparable(), over the columns both
/// sides have with the same type.
[[nodiscard]] std::string materialized_view_hash_query(const MaterializedViewVerdict& verdict);

/// `materialized view public.daily: identical, 10 rows, compared by a full hash`, or `differs`
/// and what differs, indented. Names and counts only.
[[nodiscard]] std::string render_materialized_view(const MaterializedViewVerdict& verdict);

/// The REFRESH that makes the mirror's view hold what the primary's does, computed from the
/// mirror's own (repaired) tables: `WITH NO DATA` when the primary's is not populated.
/// std::nullopt when pgdual cannot repair it: on one side only, or another definition.
[[nodiscard]] std::optional<std::string> materialized_view_repair(const MaterializedViewVerdict& verdict);

/// One differing view's line: the REFRESH run (or to run), or `by hand` and why.
[[nodiscard]] std::string render_materialized_view_repair(const MaterializedViewVerdict& verdict, bool applied);

/// What verify found besides tables and sequences.
struct ObjectsReport {
  std::vector<MaterializedViewVerdict> views;
  std::optional<LargeObjectVerdict> large_objects;  ///< std::nullopt: not compared (--table)
  std::vector<NotCompared> not_compared;

  /// Every view and large object identical. Says nothing of not_compared.
  [[nodiscard]] bool identical() const;
};

/// The closing lines: the counts of tables and sequences, of
/// views and large objects when there are any, of what was not compared, and the verdict:
/// `verify: identical`, `verify: differences found`, or, when all that was compared is identical
/// but something was not, `verify: identical except 2 objects not compared`.
[[nodiscard]] std::string render_summary(const VerifyReport& report, const ObjectsReport& objects);

}  // namespace pgdual::conflict
