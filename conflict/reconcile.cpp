#include "conflict/reconcile.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

namespace pgdual::conflict {
namespace {

/// PostgreSQL's limit on the parameters of one statement.
constexpr std::size_t kMaxParameters = 65535;
/// Fewer keys or rows per statement than the limit allows: statements stay short to plan.
constexpr std::size_t kMaxRowsPerStatement = 500;

bool is_generated(const ColumnSchema& column) { return column.default_text.starts_with("generated always as ("); }
bool is_identity(const ColumnSchema& column) { return column.default_text.ends_with("as identity"); }

const ColumnSchema& column_named(const TableSchema& table, const std::string& name) {
  return *std::ranges::find(table.columns, name, &ColumnSchema::name);
}

std::string parameter(std::size_t number, const ColumnSchema& column) {
  return "CAST($" + std::to_string(number) + " AS " + column.type + ")";
}

// "(CAST($1 AS t), CAST($2 AS u)), (...)": `rows` rows of `columns`, numbered from 1.
std::string parameter_rows(std::size_t rows, const std::vector<ColumnSchema>& columns) {
  std::vector<std::string> tuples;
  std::size_t number = 1;
  for (std::size_t row = 0; row < rows; ++row) {
    std::vector<std::string> values;
    for (const auto& column : columns) values.push_back(parameter(number++, column));
    tuples.push_back("(" + join(values, ", ") + ")");
  }
  return join(tuples, ", ");
}

std::vector<std::string> names_of(const std::vector<ColumnSchema>& columns, std::string_view prefix = {}) {
  std::vector<std::string> names;
  for (const auto& column : columns) names.push_back(std::string{prefix} + quote_identifier(column.name));
  return names;
}

std::string alter_column(const TableName& table, const std::string& column) {
  return "ALTER TABLE " + table.sql() + " ALTER COLUMN " + quote_identifier(column) + " ";
}

SchemaRepair column_repair(const TableName& table, const SchemaDifference& difference) {
  const auto& column = difference.name;
  SchemaRepair repair{.difference = difference, .statement = {}, .by_hand = {}, .after_rows = false};
  if (difference.change == SchemaChange::missing_on_mirror) {
    repair.statement = "ALTER TABLE " + table.sql() + " ADD COLUMN " + quote_identifier(column) + " " +
                       difference.on_primary;
  } else if (difference.change == SchemaChange::extra_on_mirror) {
    repair.by_hand = "dropping a column loses its values";
  } else if (difference.attribute == "type") {
    repair.statement = alter_column(table, column) + "TYPE " + difference.on_primary + " USING " +
                       quote_identifier(column) + "::" + difference.on_primary;
  } else if (difference.attribute == "nullability") {
    const bool not_null = difference.on_primary == "not null";
    repair.statement = alter_column(table, column) + (not_null ? "SET NOT NULL" : "DROP NOT NULL");
    repair.after_rows = not_null;
  } else if (difference.attribute == "default" && !difference.on_primary.starts_with("generated ") &&
             !difference.on_mirror.starts_with("generated ")) {
    repair.statement = alter_column(table, column) +
                       (difference.on_primary.empty() ? "DROP DEFAULT" : "SET DEFAULT " + difference.on_primary);
  } else {
    repair.by_hand = "pgdual does not change a column's " + difference.attribute;
  }
  return repair;
}

SchemaRepair repair_of(const TableName& table, const SchemaDifference& difference) {
  SchemaRepair repair{.difference = difference, .statement = {}, .by_hand = {}, .after_rows = false};
  switch (difference.object) {
    case SchemaObject::column: return column_repair(table, difference);
    case SchemaObject::constraint:
      if (difference.change == SchemaChange::missing_on_mirror) {
        repair.statement = "ALTER TABLE " + table.sql() + " ADD CONSTRAINT " + quote_identifier(difference.name) +
                           " " + difference.on_primary;
        repair.after_rows = true;  // a check or foreign key holds only once the rows are the primary's
      } else {
        repair.by_hand = "pgdual adds missing constraints only";
      }
      return repair;
    case SchemaObject::index:
      if (difference.change == SchemaChange::missing_on_mirror) {
        repair.statement = difference.on_primary;  // pg_get_indexdef(): a whole CREATE INDEX
        repair.after_rows = true;
      } else {
        repair.by_hand = "pgdual adds missing indexes only";
      }
      return repair;
    case SchemaObject::table: repair.by_hand = "pgdual does not create or drop tables"; return repair;
    case SchemaObject::database: repair.by_hand = "a database's settings are fixed when it is created"; return repair;
  }
  return repair;
}

}  // namespace

std::vector<SchemaRepair> plan_schema_repairs(const TableName& table,
                                              const std::vector<SchemaDifference>& differences) {
  std::vector<SchemaRepair> repairs;
  for (const auto& difference : differences) {
    // A missing primary key or unique constraint brings its index: the index is not added twice.
    const bool index_of_missing_constraint =
        difference.object == SchemaObject::index && std::ranges::any_of(differences, [&](const auto& other) {
          return other.object == SchemaObject::constraint && other.change == SchemaChange::missing_on_mirror &&
                 other.name == difference.name && difference.change == SchemaChange::missing_on_mirror;
        });
    if (!index_of_missing_constraint) repairs.push_back(repair_of(table, difference));
  }
  return repairs;
}

KeyedRepairQueries::KeyedRepairQueries(const TableSchema& primary) : table_{primary.table} {
  for (const auto& column : primary.columns) {
    if (!is_generated(column)) columns_.push_back(column);
  }
  for (const auto& name : primary.primary_key) {
    key_.push_back(column_named(primary, name));
    const auto place = std::ranges::find(columns_, name, &ColumnSchema::name) - columns_.begin();
    key_positions_.push_back(static_cast<std::size_t>(place));
  }
}

std::size_t KeyedRepairQueries::keys_per_statement() const noexcept {
  return std::min(kMaxRowsPerStatement, kMaxParameters / key_.size());
}

std::size_t KeyedRepairQueries::rows_per_statement() const noexcept {
  return std::min(kMaxRowsPerStatement, kMaxParameters / std::max<std::size_t>(1, columns_.size()));
}

std::string KeyedRepairQueries::key_in(std::size_t keys) const {
  const auto key_names = names_of(key_, "t.");
  const auto key_expression = key_names.size() == 1 ? key_names.front() : "(" + join(key_names, ", ") + ")";
  auto tuples = parameter_rows(keys, key_);
  return " WHERE " + key_expression + " IN (" + tuples + ")";
}

std::string KeyedRepairQueries::select_rows(std::size_t keys) const {
  return "SELECT " + join(names_of(columns_, "t."), ", ") + " FROM " + table_.only() + " AS t" + key_in(keys);
}

std::string KeyedRepairQueries::lock_rows(std::size_t keys) const { return select_rows(keys) + " FOR UPDATE"; }

std::string KeyedRepairQueries::insert_values(std::size_t rows) const {
  const bool identity = std::ranges::any_of(columns_, is_identity);
  return "INSERT INTO " + table_.sql() + " (" + join(names_of(columns_), ", ") + ")" +
         (identity ? " OVERRIDING SYSTEM VALUE" : "") + " VALUES " + parameter_rows(rows, columns_);
}

std::string KeyedRepairQueries::upsert(std::size_t rows) const {
  std::vector<std::string> updates;
  for (const auto& column : columns_) {
    if (std::ranges::find(key_, column.name, &ColumnSchema::name) != key_.end()) continue;
    updates.push_back(quote_identifier(column.name) + " = EXCLUDED." + quote_identifier(column.name));
  }
  return insert_values(rows) + " ON CONFLICT (" + join(names_of(key_), ", ") + ") DO " +
         (updates.empty() ? "NOTHING" : "UPDATE SET " + join(updates, ", "));
}

std::string KeyedRepairQueries::insert_returning_keys(std::size_t rows) const {
  return insert_values(rows) + " ON CONFLICT DO NOTHING RETURNING " + join(names_of(key_), ", ");
}

std::string KeyedRepairQueries::delete_rows(std::size_t keys) const {
  return "DELETE FROM " + table_.only() + " AS t" + key_in(keys);
}

Key KeyedRepairQueries::key_of(const RowText& row) const {
  Key key;
  for (const auto place : key_positions_) key.push_back(row.at(place).value_or(std::string{}));
  return key;
}

std::vector<Key> KeyedRepairQueries::keys_of(const std::vector<RowText>& rows) const {
  std::vector<Key> keys;
  for (const auto& row : rows) keys.push_back(key_of(row));
  return keys;
}

KeyedRepairDecision KeyedRepairQueries::decide(std::size_t requested, std::vector<RowText> primary,
                                               const std::vector<RowText>& mirror) const {
  std::map<Key, const RowText*> on_mirror;
  for (const auto& row : mirror) on_mirror.emplace(key_of(row), &row);
  KeyedRepairDecision decision;
  for (auto& row : primary) {
    const auto found = on_mirror.find(key_of(row));
    if (found == on_mirror.end()) {
      decision.insert.push_back(std::move(row));
      continue;
    }
    if (*found->second != row) decision.update.push_back(std::move(row));
    on_mirror.erase(found);
  }
  for (const auto& [key, row] : on_mirror) decision.remove.push_back(key);
  const auto changed = decision.insert.size() + decision.update.size() + decision.remove.size();
  decision.agreed = requested > changed ? requested - changed : 0;
  return decision;
}

DigestRepairQueries::DigestRepairQueries(const TableSchema& primary, const std::vector<std::string>& compared)
    : table_{primary.table} {
  for (const auto& column : primary.columns) {
    if (!is_generated(column)) columns_.push_back(column);
  }
  std::vector<std::string> digested;
  for (const auto& name : compared) digested.push_back("t." + quote_identifier(name));
  // The same row text as verify's full hash, so both find the same rows different.
  digest_ = "md5(ROW(" + join(digested, ", ") + ")::text)";
}

std::string DigestRepairQueries::digest_counts() const {
  return "SELECT " + digest_ + " COLLATE \"C\" AS digest, count(*) FROM " + table_.only() +
         " AS t GROUP BY 1 ORDER BY 1";
}

std::string DigestRepairQueries::counts_of_digests() const {
  return "SELECT digest, count(*) FROM (SELECT " + digest_ + " AS digest FROM " + table_.only() +
         " AS t) AS digests WHERE digest = ANY ($1::text[]) GROUP BY 1";
}

std::string DigestRepairQueries::lock_table() const {
  return "LOCK TABLE " + table_.only() + " IN SHARE ROW EXCLUSIVE MODE";
}

std::string DigestRepairQueries::rows_with_digests() const {
  return "SELECT DISTINCT ON (digest) * FROM (SELECT " + digest_ + " AS digest, " +
         join(names_of(columns_, "t."), ", ") + " FROM " + table_.only() + " AS t) AS rows WHERE digest = ANY ($1::text[])";
}

std::string DigestRepairQueries::delete_copies() const {
  return "DELETE FROM " + table_.only() + " WHERE ctid = ANY (ARRAY(SELECT t.ctid FROM " + table_.only() +
         " AS t WHERE " + digest_ + " = $1 LIMIT $2::bigint))";
}

std::string DigestRepairQueries::insert_copies() const {
  const bool identity = std::ranges::any_of(columns_, is_identity);
  std::vector<std::string> values;
  for (std::size_t i = 0; i < columns_.size(); ++i) values.push_back(parameter(i + 1, columns_[i]));
  return "INSERT INTO " + table_.sql() + " (" + join(names_of(columns_), ", ") + ")" +
         (identity ? " OVERRIDING SYSTEM VALUE" : "") + " SELECT " + join(values, ", ") +
         " FROM generate_series(1, $" + std::to_string(columns_.size() + 1) + "::bigint)";
}

void DigestCountMerge::add(Side side, std::vector<DigestCount> counts, bool last_batch) {
  auto& pending = side == Side::primary ? primary_ : mirror_;
  auto& next = side == Side::primary ? primary_next_ : mirror_next_;
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(next));
  next = 0;
  pending.insert(pending.end(), std::make_move_iterator(counts.begin()), std::make_move_iterator(counts.end()));
  (side == Side::primary ? primary_done_ : mirror_done_) = last_batch;
  merge();
}

bool DigestCountMerge::needs(Side side) const {
  return side == Side::primary ? !primary_done_ && primary_next_ == primary_.size()
                               : !mirror_done_ && mirror_next_ == mirror_.size();
}

bool DigestCountMerge::finished() const {
  return primary_done_ && mirror_done_ && primary_next_ == primary_.size() && mirror_next_ == mirror_.size();
}

std::vector<DigestSurplus> DigestCountMerge::take() { return std::exchange(found_, {}); }

void DigestCountMerge::merge() {
  while (!needs(Side::primary) && !needs(Side::mirror)) {
    const bool primary_left = primary_next_ < primary_.size();
    const bool mirror_left = mirror_next_ < mirror_.size();
    if (!primary_left && !mirror_left) return;
    const auto* ours = primary_left ? &primary_[primary_next_] : nullptr;
    const auto* theirs = mirror_left ? &mirror_[mirror_next_] : nullptr;
    if (theirs == nullptr || (ours != nullptr && ours->digest < theirs->digest)) {
      found_.push_back({.digest = ours->digest, .surplus = ours->rows});
      ++primary_next_;
    } else if (ours == nullptr || theirs->digest < ours->digest) {
      found_.push_back({.digest = theirs->digest, .surplus = -theirs->rows});
      ++mirror_next_;
    } else {
      if (ours->rows != theirs->rows) found_.push_back({.digest = ours->digest, .surplus = ours->rows - theirs->rows});
      ++primary_next_;
      ++mirror_next_;
    }
  }
}

std::optional<std::string> sequence_repair(const SequenceVerdict& verdict) {
  if (!verdict.on_primary || !verdict.on_mirror || !verdict.on_primary->readable || !verdict.on_mirror->readable) {
    return std::nullopt;
  }
  const auto name = "'" + verdict.sequence.sql() + "'";
  if (!verdict.on_primary->last_value) return "ALTER SEQUENCE " + verdict.sequence.sql() + " RESTART";
  return "SELECT setval(" + name + ", " + std::to_string(*verdict.on_primary->last_value) + ")";
}

std::uint64_t TablePlan::row_changes() const {
  return insert.count() + update.count() + remove.count() + copies_inserted + copies_deleted;
}

bool TablePlan::needs_operator() const {
  return !error.empty() || std::ranges::any_of(schema, [](const SchemaRepair& repair) { return repair.statement.empty(); });
}

bool TablePlan::empty() const {
  return schema.empty() && row_changes() == 0 && left_alone == 0 && error.empty();
}

std::string render_plan(const TablePlan& plan, bool applied) {
  std::vector<std::string> summary;
  const auto rows = [&](std::uint64_t count, std::string_view verb) {
    if (count > 0) summary.push_back(std::string{verb} + " " + plural(count, "row"));
  };
  rows(plan.insert.count() + plan.copies_inserted, applied ? "inserted" : "insert");
  rows(plan.update.count(), applied ? "updated" : "update");
  rows(plan.remove.count() + plan.copies_deleted, applied ? "deleted" : "delete");
  if (plan.left_alone > 0) summary.push_back(plural(plan.left_alone, "row") + " left alone (agreed when read again)");
  const auto changes = std::ranges::count_if(plan.schema, [](const SchemaRepair& r) { return !r.statement.empty(); });
  if (changes > 0) summary.push_back(plural(static_cast<std::uint64_t>(changes), applied ? "schema change made" : "schema change"));
  std::string text = plan.table.display() + ": " + (summary.empty() ? std::string{"nothing pgdual can change"} : join(summary, ", "));
  if (plan.method == RowMethod::full_hash && (plan.copies_inserted > 0 || plan.copies_deleted > 0)) {
    text += " (no primary key: rows matched by content)";
  }
  text += "\n";
  for (const auto& repair : plan.schema) {
    text += repair.statement.empty() ? "  by hand: " + describe(repair.difference) + " (" + repair.by_hand + ")\n"
                                     : "  schema: " + repair.statement + "\n";
  }
  text += render_keys(applied ? "inserted (were missing on mirror)" : "insert (missing on mirror)", plan.insert);
  text += render_keys(applied ? "updated (differed)" : "update (differing)", plan.update);
  text += render_keys(applied ? "deleted (were extra on mirror)" : "delete (extra on mirror)", plan.remove);
  if (!plan.error.empty()) text += "  not reconciled: " + plan.error + "\n";
  return text;
}

std::string render_sequence_repair(const SequenceVerdict& verdict, bool applied) {
  const auto statement = sequence_repair(verdict);
  if (!statement) return "sequence " + verdict.sequence.display() + ": by hand (not on both backends, or unreadable)\n";
  return "sequence " + verdict.sequence.display() + ": " + (applied ? "ran " : "run ") + *statement + "\n";
}

}  // namespace pgdual::conflict
