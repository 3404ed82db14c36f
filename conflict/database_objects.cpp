#include "conflict/database_objects.h"

#include <algorithm>
#include <functional>
#include <map>

namespace pgdual::conflict {
namespace {

/// As verify's tables: the catalogs, pgdual's own schema, and temporary and toast schemas left out.
constexpr std::string_view kApplicationSchemas =
    "n.nspname NOT IN ('information_schema', 'pgdual') AND n.nspname !~ '^pg_'";

const std::string kFromRelations =
    " FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE ";

/// Pairs two sorted-by-name lists: `pair(primary item or nullptr, mirror item or nullptr)` per name.
template <class Item, class Name, class Pair>
void pair_by_name(std::span<const Item> primary, std::span<const Item> mirror, const Name& name_of, const Pair& pair) {
  std::map<TableName, std::pair<const Item*, const Item*>> names;
  for (const auto& item : primary) names[std::invoke(name_of, item)].first = &item;
  for (const auto& item : mirror) names[std::invoke(name_of, item)].second = &item;
  for (const auto& [name, items] : names) pair(name, items.first, items.second);
}

std::string rows_text(const RangeChecksum& primary, const RangeChecksum& mirror) {
  if (primary.rows == mirror.rows) return plural(static_cast<std::uint64_t>(primary.rows), "row");
  return std::to_string(primary.rows) + " rows on primary, " + std::to_string(mirror.rows) + " on mirror";
}

// What keeps pgdual from repairing a view; empty when nothing does.
std::string_view unrepairable(const MaterializedViewVerdict& verdict) {
  if (!verdict.on_primary) return "extra on mirror";
  if (!verdict.on_mirror) return "missing on mirror";
  if (verdict.definition_differs()) return "definition differs";
  return {};
}

// What differs about a view whose rows were not compared, one indented line each.
std::string view_differences(const MaterializedViewVerdict& verdict) {
  if (const auto problem = unrepairable(verdict); !problem.empty()) return "  " + std::string{problem} + "\n";
  std::string text;
  if (!verdict.on_primary->populated) text += "  not populated on primary\n";
  if (!verdict.on_mirror->populated) text += "  not populated on mirror\n";
  return text;
}

}  // namespace

std::string_view to_string(Uncomparable kind) noexcept {
  switch (kind) {
    case Uncomparable::unlogged_table: return "unlogged table";
    case Uncomparable::foreign_table: return "foreign table";
  }
  return "?";
}

std::string uncomparable_relations_query() {
  return "SELECT n.nspname, c.relname, CASE c.relkind WHEN 'f' THEN 'f' ELSE 'u' END" + kFromRelations +
         "(c.relkind = 'f' OR (c.relkind = 'r' AND c.relpersistence = 'u')) AND " + std::string{kApplicationSchemas} +
         " ORDER BY 1, 2";
}

std::vector<NotCompared> pair_uncomparable(std::span<const UncomparableRelation> primary,
                                           std::span<const UncomparableRelation> mirror) {
  std::vector<NotCompared> paired;
  const auto kind = [](const UncomparableRelation* relation) {
    return relation == nullptr ? std::nullopt : std::optional{relation->kind};
  };
  pair_by_name(primary, mirror, &UncomparableRelation::name,
               [&](const TableName& name, const UncomparableRelation* ours, const UncomparableRelation* theirs) {
                 paired.push_back({.name = name, .on_primary = kind(ours), .on_mirror = kind(theirs)});
               });
  return paired;
}

std::vector<TableName> comparable_tables(std::vector<TableName> tables, std::span<const NotCompared> not_compared) {
  std::erase_if(tables, [&](const TableName& table) {
    return std::ranges::find(not_compared, table, &NotCompared::name) != not_compared.end();
  });
  return tables;
}

std::string render_not_compared(const NotCompared& relation) {
  std::string why;
  if (relation.on_primary == relation.on_mirror) {
    why = to_string(*relation.on_primary);
  } else {
    std::vector<std::string> sides;
    if (relation.on_primary) sides.push_back(std::string{to_string(*relation.on_primary)} + " on primary");
    if (relation.on_mirror) sides.push_back(std::string{to_string(*relation.on_mirror)} + " on mirror");
    why = join(sides, ", ");
  }
  return relation.name.display() + ": not compared (" + why + ")\n";
}

std::string materialized_views_query() {
  return "SELECT n.nspname, c.relname, pg_catalog.pg_get_viewdef(c.oid), c.relispopulated" + kFromRelations +
         "c.relkind = 'm' AND " + std::string{kApplicationSchemas} + " ORDER BY 1, 2";
}

std::string materialized_view_columns_query() {
  return "SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)"
         " FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
         " JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
         " WHERE c.relkind = 'm' AND " + std::string{kApplicationSchemas} + " ORDER BY 1, 2, a.attnum";
}

bool MaterializedViewVerdict::rows_comparable() const {
  return on_primary && on_mirror && !definition_differs() && on_primary->populated && on_mirror->populated;
}

bool MaterializedViewVerdict::definition_differs() const {
  return on_primary && on_mirror && on_primary->definition != on_mirror->definition;
}

bool MaterializedViewVerdict::identical() const {
  if (!on_primary || !on_mirror || definition_differs() || !error.empty()) return false;
  if (on_primary->populated != on_mirror->populated) return false;
  return !rows_comparable() || (primary_rows && mirror_rows && *primary_rows == *mirror_rows);
}

std::vector<MaterializedViewVerdict> pair_materialized_views(std::span<const MaterializedView> primary,
                                                             std::span<const MaterializedView> mirror) {
  std::vector<MaterializedViewVerdict> paired;
  const auto copy = [](const MaterializedView* view) { return view == nullptr ? std::nullopt : std::optional{*view}; };
  pair_by_name(primary, mirror, [](const MaterializedView& view) { return view.schema.table; },
               [&](const TableName& name, const MaterializedView* ours, const MaterializedView* theirs) {
                 paired.push_back({.view = name, .on_primary = copy(ours), .on_mirror = copy(theirs)});
               });
  return paired;
}

std::string materialized_view_hash_query(const MaterializedViewVerdict& verdict) {
  return full_hash_query(verdict.view, compared_columns(verdict.on_primary->schema, verdict.on_mirror->schema));
}

std::string render_materialized_view(const MaterializedViewVerdict& verdict) {
  std::string text = "materialized view " + verdict.view.display() + ": " +
                     (verdict.identical() ? "identical" : "differs");
  if (verdict.primary_rows && verdict.mirror_rows) {
    text += ", " + rows_text(*verdict.primary_rows, *verdict.mirror_rows) + ", compared by a full hash\n";
    if (*verdict.primary_rows != *verdict.mirror_rows) text += "  contents differ\n";
    return text;
  }
  if (verdict.identical()) return text + ", not populated\n";
  text += "\n";
  if (!verdict.error.empty()) return text + "  rows not compared: " + verdict.error + "\n";
  return text + view_differences(verdict);
}

std::optional<std::string> materialized_view_repair(const MaterializedViewVerdict& verdict) {
  if (!verdict.on_primary || !verdict.on_mirror || verdict.definition_differs()) return std::nullopt;
  return "REFRESH MATERIALIZED VIEW " + verdict.view.sql() + (verdict.on_primary->populated ? "" : " WITH NO DATA");
}

std::string render_materialized_view_repair(const MaterializedViewVerdict& verdict, bool applied) {
  const auto head = "materialized view " + verdict.view.display() + ": ";
  if (const auto statement = materialized_view_repair(verdict)) {
    return head + (applied ? "ran " : "run ") + *statement + "\n";
  }
  return head + "nothing pgdual can change\n  by hand: " + std::string{unrepairable(verdict)} +
         " (pgdual does not create, drop or redefine materialized views)\n";
}

bool ObjectsReport::identical() const {
  return std::ranges::all_of(views, &MaterializedViewVerdict::identical) &&
         (!large_objects || large_objects->identical());
}

std::string render_summary(const VerifyReport& report, const ObjectsReport& objects) {
  std::string text = render_counts(report);
  if (!objects.views.empty()) {
    const auto identical = std::ranges::count_if(objects.views, &MaterializedViewVerdict::identical);
    text += "; " + count_phrase(objects.views.size(), static_cast<std::uint64_t>(identical), "materialized view");
  }
  if (objects.large_objects && objects.large_objects->total() > 0) {
    text += "; " + count_phrase(objects.large_objects->total(), objects.large_objects->identical_count(),
                                "large object");
  }
  if (!objects.not_compared.empty()) text += "; " + plural(objects.not_compared.size(), "object") + " not compared";
  text += "\n";
  if (!report.identical() || !objects.identical()) return text + "verify: differences found\n";
  if (objects.not_compared.empty()) return text + "verify: identical\n";
  return text + "verify: identical except " + plural(objects.not_compared.size(), "object") + " not compared\n";
}

}  // namespace pgdual::conflict
