#include "proxy/mirror/apply_statements.h"

#include "conflict/sql_text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

namespace pgdual::proxy {

using conflict::quote_identifier;
namespace {

namespace lr = protocol::logicalrep;

using Columns = std::vector<lr::TupleColumn>;

Columns columns_of(const lr::TupleData& tuple) { return {tuple.begin(), tuple.end()}; }

tl::expected<Columns, PlanError> fitting_columns(const lr::OwnedRelation& relation, const lr::TupleData& tuple) {
  if (tuple.size() != relation.columns.size()) {
    return tl::unexpected{"the change has " + std::to_string(tuple.size()) + " columns where the relation has " +
                          std::to_string(relation.columns.size())};
  }
  return columns_of(tuple);
}

// Adds the WHERE part of an Update or Delete: the key columns of `image`, or with REPLICA IDENTITY
// FULL every column of it whose value was sent.
tl::expected<void, PlanError> add_match(const lr::OwnedRelation& relation, const Columns& image,
                                        PlannedChange& change) {
  change.full_identity = relation.replica_identity == lr::ReplicaIdentity::full;
  for (std::size_t i = 0; i < relation.columns.size(); ++i) {
    if (!relation.columns[i].key) continue;
    if (image[i].kind == lr::ColumnKind::unchanged_toast) {
      // With FULL the other columns still single the row out; a key column is needed.
      if (change.full_identity) continue;
      return tl::unexpected{"the value of key column " + quote_identifier(relation.columns[i].name) +
                            " was not sent (unchanged TOAST)"};
    }
    change.matched.push_back(i);
    change.values.push_back(image[i]);
  }
  if (change.matched.empty()) return tl::unexpected{PlanError{"the change carries no replica identity to match"}};
  return {};
}

void append_list(std::string& sql, const lr::OwnedRelation& relation, const std::vector<std::size_t>& columns,
                 std::string_view separator, auto&& item) {
  for (std::size_t n = 0; n < columns.size(); ++n) {
    if (n > 0) sql += separator;
    item(quote_identifier(relation.columns[columns[n]].name), columns[n]);
  }
}

std::string parameter(std::size_t number) { return "$" + std::to_string(number); }

// One column's part of the WHERE condition. A parameter compared with a column whose type has no
// btree equality of its own is cast to the column's type: left unknown, it would be taken for an
// anonymous record (0A000, no input). Without the mirror's catalog, built-in types known to lack
// equality compare as text.
std::string column_condition(const std::string& column, const std::string& value, const MirrorColumn* mirrored,
                             lr::Oid primary_type, bool full_identity) {
  const auto equals = full_identity ? " IS NOT DISTINCT FROM " : " = ";
  if (mirrored == nullptr) {
    if (full_identity && compares_as_text(primary_type)) return column + "::text IS NOT DISTINCT FROM " + value;
    return column + equals + value;
  }
  if (!mirrored->compares_as_text) return column + equals + value;
  const auto typed = "CAST(" + value + " AS " + mirrored->type + ")";
  if (!full_identity) return column + " = " + typed;
  return column + "::pg_catalog.text IS NOT DISTINCT FROM " + typed + "::pg_catalog.text";
}

// The WHERE condition; its parameters start at $first.
std::string match_condition(const lr::OwnedRelation& relation, const MirrorColumns& mirror,
                            const PlannedChange& change, std::size_t first) {
  std::string condition;
  std::size_t number = first;
  append_list(condition, relation, change.matched, " AND ", [&](const std::string& column, std::size_t index) {
    const auto* mirrored = mirror.empty() ? nullptr : &mirror[index];
    condition += column_condition(column, parameter(number++), mirrored, relation.columns[index].type_oid,
                                  change.full_identity);
  });
  if (!change.full_identity) return condition;
  // Without a key, identical rows are indistinguishable: the primary changed one of them, so
  // the mirror changes exactly one too.
  return "ctid = (SELECT ctid FROM ONLY " + qualified_name(relation) + " WHERE " + condition + " LIMIT 1)";
}

bool always_identity(const MirrorColumns& mirror, std::size_t index) noexcept {
  return !mirror.empty() && mirror[index].always_identity;
}

/// The column a no-op UPDATE assigns to itself: the first that is no key, else the first; never an
/// identity GENERATED ALWAYS, which may be set to DEFAULT only. nullptr when every column is one.
const lr::OwnedRelation::Column* quiet_column(const lr::OwnedRelation& relation, const MirrorColumns& mirror) {
  const lr::OwnedRelation::Column* found = nullptr;
  for (std::size_t i = 0; i < relation.columns.size(); ++i) {
    if (always_identity(mirror, i)) continue;
    if (!relation.columns[i].key) return &relation.columns[i];
    if (found == nullptr) found = &relation.columns[i];
  }
  return found;
}

// WITH gone AS (DELETE … RETURNING *) INSERT … SELECT … FROM gone: the new row is inserted only when
// the old one was found, and takes from it what the primary did not send (unchanged TOAST) or did
// not change. Under session_replication_role = replica neither fires a trigger or a foreign-key
// action: the primary's cascades arrive as rows of their own.
std::string replace_sql(const lr::OwnedRelation& relation, const MirrorColumns& mirror, const PlannedChange& change) {
  const auto table = qualified_name(relation);
  std::string columns;
  std::string values;
  std::size_t number = 1;
  for (std::size_t i = 0; i < relation.columns.size(); ++i) {
    const auto column = quote_identifier(relation.columns[i].name);
    columns += (i > 0 ? ", " : "") + column;
    values += i > 0 ? ", " : "";
    // In a SELECT list an untyped parameter would be text: each is cast to its column's type.
    if (std::ranges::find(change.assigned, i) != change.assigned.end()) {
      values += "CAST(" + parameter(number++) + " AS " + mirror[i].type + ")";
    } else {
      values += "gone." + column;
    }
  }
  return "WITH gone AS (DELETE FROM ONLY " + table + " WHERE " + match_condition(relation, mirror, change, number) +
         " RETURNING *) INSERT INTO " + table + " (" + columns + ") OVERRIDING SYSTEM VALUE SELECT " + values +
         " FROM gone";
}

/// Both sent, and alike: the same kind (NULL, text, binary) and bytes.
bool same_value(const lr::TupleColumn& old_value, const lr::TupleColumn& new_value) noexcept {
  if (old_value.kind != new_value.kind || old_value.kind == lr::ColumnKind::unchanged_toast) return false;
  return std::ranges::equal(old_value.value, new_value.value);
}

bool is_hex(char c) noexcept { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::string_view to_string(ChangeKind kind) noexcept {
  switch (kind) {
    case ChangeKind::insert: return "INSERT";
    case ChangeKind::update: return "UPDATE";
    case ChangeKind::delete_row: return "DELETE";
    case ChangeKind::truncate: return "TRUNCATE";
    case ChangeKind::ddl: return "DDL";
    case ChangeKind::begin: return "BEGIN";
    case ChangeKind::commit: return "COMMIT";
  }
  return "?";
}

std::string qualified_name(const lr::OwnedRelation& relation) {
  return quote_identifier(relation.schema()) + "." + quote_identifier(relation.relation_name);
}

bool is_pgdual_relation(const lr::OwnedRelation& relation) noexcept { return relation.schema() == "pgdual"; }

// Schema version 5's table still proves the messages its pgdual.emit_ddl wrote before the upgrade.
bool is_ddl_origin(const lr::OwnedRelation& relation) noexcept {
  return is_pgdual_relation(relation) &&
         (relation.relation_name == "ddl_proof" || relation.relation_name == "ddl_origin");
}

bool compares_as_text(lr::Oid type_oid) noexcept {
  // pg_type OIDs (src/include/catalog/pg_type.dat) of json, xml, point, path, box, polygon, circle
  // and their arrays: no btree equality, or an `=` that compares areas.
  static constexpr std::array<lr::Oid, 14> kWithoutEquality{114, 199, 142, 143, 600, 1017, 602, 1019,
                                                            603, 1020, 604, 1027, 718, 719};
  return std::find(kWithoutEquality.begin(), kWithoutEquality.end(), type_oid) != kWithoutEquality.end();
}

std::string PlannedChange::shape() const {
  std::string shape{to_string(kind).front()};
  for (const auto index : assigned) shape += std::to_string(index) + ",";
  shape += replaces_row ? "|replace" : "";
  shape += full_identity ? "|full|" : "|key|";
  for (const auto index : matched) shape += std::to_string(index) + ",";
  return shape;
}

tl::expected<PlannedChange, PlanError> plan_insert(const lr::OwnedRelation& relation, const lr::Insert& insert) {
  auto columns = fitting_columns(relation, insert.new_tuple);
  if (!columns) return tl::unexpected{columns.error()};
  PlannedChange change{.kind = ChangeKind::insert};
  for (std::size_t i = 0; i < columns->size(); ++i) change.assigned.push_back(i);
  change.values = std::move(*columns);
  return change;
}

// Only the columns the primary changed are assigned: an identity column GENERATED ALWAYS may be
// set to nothing but DEFAULT, even to its own value, and is usually the key. Without an old image
// the key is unchanged; with one (the key changed, or REPLICA IDENTITY FULL) a column whose old
// value equals its new one is left as it is. An update that still assigns such a column (its
// value changed, or pgoutput sent no old image to tell) replaces the row.
tl::expected<PlannedChange, PlanError> plan_update(const lr::OwnedRelation& relation, const MirrorColumns& mirror,
                                                   const lr::Update& update) {
  auto new_row = fitting_columns(relation, update.new_tuple);
  if (!new_row) return tl::unexpected{new_row.error()};
  std::optional<Columns> old_row;
  if (update.old_kind) {
    auto fitting = fitting_columns(relation, update.old_tuple);
    if (!fitting) return tl::unexpected{fitting.error()};
    old_row = std::move(*fitting);
  }
  PlannedChange change{.kind = ChangeKind::update};
  for (std::size_t i = 0; i < new_row->size(); ++i) {
    const auto& value = (*new_row)[i];
    if (value.kind == lr::ColumnKind::unchanged_toast) continue;
    const bool unchanged = old_row ? same_value((*old_row)[i], value) : relation.columns[i].key;
    if (unchanged) continue;
    change.assigned.push_back(i);
    change.values.push_back(value);
    change.replaces_row = change.replaces_row || always_identity(mirror, i);
  }
  // Nothing to assign, and no column that may be assigned to itself: the row is replaced by itself.
  change.replaces_row = change.replaces_row || (change.assigned.empty() && quiet_column(relation, mirror) == nullptr);
  if (auto added = add_match(relation, old_row ? *old_row : *new_row, change); !added) {
    return tl::unexpected{added.error()};
  }
  return change;
}

tl::expected<PlannedChange, PlanError> plan_delete(const lr::OwnedRelation& relation, const lr::Delete& remove) {
  auto old_row = fitting_columns(relation, remove.old_tuple);
  if (!old_row) return tl::unexpected{old_row.error()};
  PlannedChange change{.kind = ChangeKind::delete_row};
  if (auto added = add_match(relation, *old_row, change); !added) return tl::unexpected{added.error()};
  return change;
}

std::string statement_sql(const lr::OwnedRelation& relation, const MirrorColumns& mirror, const PlannedChange& change) {
  const auto table = qualified_name(relation);
  std::string sql;
  std::size_t number = 1;
  switch (change.kind) {
    case ChangeKind::insert: {
      sql = "INSERT INTO " + table + " (";
      append_list(sql, relation, change.assigned, ", ", [&](const std::string& column, std::size_t) { sql += column; });
      // The primary's value, also in an identity column GENERATED ALWAYS.
      sql += ") OVERRIDING SYSTEM VALUE VALUES (";
      append_list(sql, relation, change.assigned, ", ",
                  [&](const std::string&, std::size_t) { sql += parameter(number++); });
      return sql += ")";
    }
    case ChangeKind::update: {
      if (change.replaces_row) return replace_sql(relation, mirror, change);
      // ONLY: a change is the primary's to one table; an inheritance parent's children have their own.
      sql = "UPDATE ONLY " + table + " SET ";
      if (change.assigned.empty()) {
        // Nothing changed, or only unchanged TOAST: still an UPDATE, so that a missing row is
        // noticed, of a column that is no key, never an identity GENERATED ALWAYS.
        const auto& column = *quiet_column(relation, mirror);
        sql += quote_identifier(column.name) + " = " + quote_identifier(column.name);
      }
      append_list(sql, relation, change.assigned, ", ", [&](const std::string& column, std::size_t) {
        sql += column + " = " + parameter(number++);
      });
      return sql += " WHERE " + match_condition(relation, mirror, change, number);
    }
    case ChangeKind::delete_row:
      return "DELETE FROM ONLY " + table + " WHERE " + match_condition(relation, mirror, change, number);
    case ChangeKind::truncate:
    case ChangeKind::ddl:
    case ChangeKind::begin:
    case ChangeKind::commit:
      break;
  }
  return sql;
}

std::string truncate_sql(std::span<const lr::OwnedRelation* const> relations, bool cascade, bool restart_identity) {
  std::string sql = "TRUNCATE ";
  for (std::size_t n = 0; n < relations.size(); ++n) {
    if (n > 0) sql += ", ";
    // ONLY: the primary lists each partition and child it emptied; a parent alone stays alone.
    sql += "ONLY " + qualified_name(*relations[n]);
  }
  if (restart_identity) sql += " RESTART IDENTITY";
  if (cascade) sql += " CASCADE";
  return sql;
}

std::string column_names_parameter(const lr::OwnedRelation& relation) {
  std::string array = "{";
  for (const auto& column : relation.columns) {
    if (array.size() > 1) array += ',';
    array += '"';
    for (const char c : column.name) {
      if (c == '"' || c == '\\') array += '\\';
      array += c;
    }
    array += '"';
  }
  return array += "}";
}

MirrorColumn parse_mirror_column(const std::optional<std::string>& row) {
  if (!row || row->size() < 4 || (*row)[2] != ':') return {};
  return MirrorColumn{.always_identity = (*row)[0] == 'a',
                      .compares_as_text = (*row)[1] == 't',
                      .type = row->substr(3)};
}

bool is_unit_key(std::string_view text) noexcept {
  constexpr std::string_view kShape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (text.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (kShape[i] == '-' ? text[i] != '-' : !is_hex(text[i])) return false;
  }
  return true;
}

std::string source_name(std::string_view slot_name, std::string_view system_identifier) {
  return std::string{slot_name} + "@" + std::string{system_identifier};
}

}  // namespace pgdual::proxy
