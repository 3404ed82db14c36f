#include "conflict/verify.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <map>
#include <set>
#include <string_view>
#include <utility>

namespace pgdual::conflict {

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string text;
  for (const auto& part : parts) text.append(text.empty() ? "" : separator).append(part);
  return text;
}

std::string plural(std::uint64_t count, std::string_view word) {
  return std::to_string(count) + " " + std::string{word} + (count == 1 ? "" : "s");
}

namespace {

constexpr std::string_view kInFlightMark = "changed during verify: could be a write in flight";

std::string render_listed(const std::vector<Key>& listed, std::uint64_t count, const std::set<Key>& in_flight) {
  std::string text;
  for (const auto& key : listed) {
    text += "    " + format_key(key) + (in_flight.contains(key) ? " (" + std::string{kInFlightMark} + ")" : "") + "\n";
  }
  if (count > listed.size()) text += "    ... and " + std::to_string(count - listed.size()) + " more\n";
  return text;
}

}  // namespace

std::string render_keys(std::string_view title, const KeyList& keys) { return render_keys(title, keys, {}); }

std::string render_keys(std::string_view title, const KeyList& keys, const std::set<Key>& in_flight) {
  if (keys.count() == 0) return {};
  const auto changed = std::ranges::count_if(keys.listed(), [&](const Key& key) { return in_flight.contains(key); });
  const auto changed_text = changed > 0 ? " (" + std::to_string(changed) + " changed during verify)" : "";
  return "  " + std::string{title} + ": " + plural(keys.count(), "key") + changed_text + "\n" +
         render_listed(keys.listed(), keys.count(), in_flight);
}

namespace {

const ColumnSchema* find_column(const TableSchema& table, std::string_view name) {
  const auto found = std::ranges::find(table.columns, name, &ColumnSchema::name);
  return found == table.columns.end() ? nullptr : &*found;
}


SchemaDifference column_difference(const ColumnSchema& column, std::string attribute, std::string on_primary,
                                   std::string on_mirror) {
  return {.object = SchemaObject::column,
          .change = SchemaChange::differs,
          .name = column.name,
          .attribute = std::move(attribute),
          .on_primary = std::move(on_primary),
          .on_mirror = std::move(on_mirror)};
}

std::string_view nullability(bool not_null) { return not_null ? "not null" : "nullable"; }

// Position among the columns both sides have, so that a column missing on one side is reported
// once, as missing, and does not shift every later column.
std::map<std::string, std::size_t> shared_positions(const TableSchema& table, const TableSchema& other) {
  std::map<std::string, std::size_t> positions;
  for (const auto& column : table.columns) {
    if (find_column(other, column.name) != nullptr) positions.emplace(column.name, positions.size() + 1);
  }
  return positions;
}

void compare_columns(const TableSchema& primary, const TableSchema& mirror, std::vector<SchemaDifference>& out) {
  for (const auto& column : primary.columns) {
    if (find_column(mirror, column.name) == nullptr) {
      out.push_back({.object = SchemaObject::column, .change = SchemaChange::missing_on_mirror, .name = column.name,
                     .attribute = {}, .on_primary = column.type, .on_mirror = {}});
    }
  }
  for (const auto& column : mirror.columns) {
    if (find_column(primary, column.name) == nullptr) {
      out.push_back({.object = SchemaObject::column, .change = SchemaChange::extra_on_mirror, .name = column.name,
                     .attribute = {}, .on_primary = {}, .on_mirror = column.type});
    }
  }
  const auto primary_positions = shared_positions(primary, mirror);
  const auto mirror_positions = shared_positions(mirror, primary);
  for (const auto& ours : primary.columns) {
    const auto* theirs = find_column(mirror, ours.name);
    if (theirs == nullptr) continue;
    if (ours.type != theirs->type) out.push_back(column_difference(ours, "type", ours.type, theirs->type));
    if (ours.not_null != theirs->not_null) {
      out.push_back(column_difference(ours, "nullability", std::string{nullability(ours.not_null)},
                                      std::string{nullability(theirs->not_null)}));
    }
    if (ours.default_text != theirs->default_text) {
      out.push_back(column_difference(ours, "default", ours.default_text, theirs->default_text));
    }
    if (ours.collation != theirs->collation) {
      out.push_back(column_difference(ours, "collation", ours.collation, theirs->collation));
    }
    const auto position = primary_positions.at(ours.name);
    const auto mirror_position = mirror_positions.at(ours.name);
    if (position != mirror_position) {
      out.push_back(column_difference(ours, "position", std::to_string(position), std::to_string(mirror_position)));
    }
  }
}

void compare_named(SchemaObject object, const std::vector<NamedDefinition>& primary,
                   const std::vector<NamedDefinition>& mirror, std::vector<SchemaDifference>& out) {
  const auto find = [](const std::vector<NamedDefinition>& list, const std::string& name) {
    const auto found = std::ranges::find(list, name, &NamedDefinition::name);
    return found == list.end() ? nullptr : &*found;
  };
  for (const auto& ours : primary) {
    const auto* theirs = find(mirror, ours.name);
    if (theirs == nullptr) {
      out.push_back({.object = object, .change = SchemaChange::missing_on_mirror, .name = ours.name,
                     .attribute = {}, .on_primary = ours.definition, .on_mirror = {}});
    } else if (theirs->definition != ours.definition) {
      out.push_back({.object = object, .change = SchemaChange::differs, .name = ours.name,
                     .attribute = "definition", .on_primary = ours.definition, .on_mirror = theirs->definition});
    }
  }
  for (const auto& theirs : mirror) {
    if (find(primary, theirs.name) == nullptr) {
      out.push_back({.object = object, .change = SchemaChange::extra_on_mirror, .name = theirs.name,
                     .attribute = {}, .on_primary = {}, .on_mirror = theirs.definition});
    }
  }
}

std::string_view object_word(SchemaObject object) {
  switch (object) {
    case SchemaObject::database: return "database";
    case SchemaObject::table: return "table";
    case SchemaObject::column: return "column";
    case SchemaObject::constraint: return "constraint";
    case SchemaObject::index: return "index";
  }
  return "object";
}

std::string or_none(const std::string& text) { return text.empty() ? "none" : text; }

bool needs_quotes(std::string_view value) {
  return value.empty() || value.find_first_of(" ,()\"\\\t\n\r") != std::string_view::npos;
}

std::string key_value_text(std::string_view value) {
  if (!needs_quotes(value)) return std::string{value};
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string key_column_expression(const KeyColumn& column) {
  return "t." + quote_identifier(column.name) + (column.byte_order ? " COLLATE \"C\"" : "");
}

// One expression for one column, a row constructor for several: PostgreSQL compares row
// constructors column by column, as the key's btree index orders them.
std::string as_row(const std::vector<std::string>& parts) {
  return parts.size() == 1 ? parts.front() : "(" + join(parts, ", ") + ")";
}

// The keys of row_digests_of_keys(): parameter i is a text array of key column i's values, and
// unnest() of all of them in one FROM item pairs the arrays element by element into keys.
std::string key_set_subquery(const std::vector<KeyColumn>& key) {
  std::vector<std::string> casts;
  std::vector<std::string> arrays;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto name = "c" + std::to_string(i + 1);
    casts.push_back("CAST(k." + name + " AS " + key[i].type + ")");
    arrays.push_back("CAST($" + std::to_string(i + 1) + " AS text[])");
    names.push_back(name);
  }
  return "SELECT " + join(casts, ", ") + " FROM unnest(" + join(arrays, ", ") + ") AS k(" + join(names, ", ") + ")";
}

// A PostgreSQL array literal of text values: every element double-quoted, with its quotes and
// backslashes escaped, so that any value (empty, "NULL", with commas or braces) reads back as itself.
std::string text_array(const std::vector<std::string>& values) {
  std::vector<std::string> elements;
  elements.reserve(values.size());
  for (const auto& value : values) {
    std::string element = "\"";
    for (const char c : value) {
      if (c == '"' || c == '\\') element += '\\';
      element += c;
    }
    elements.push_back(element + "\"");
  }
  return "{" + join(elements, ",") + "}";
}


std::string rows_summary(const TableVerdict& verdict) {
  if (verdict.primary_rows == verdict.mirror_rows) return plural(static_cast<std::uint64_t>(verdict.primary_rows), "row");
  return plural(static_cast<std::uint64_t>(verdict.primary_rows), "row") + " on primary, " +
         std::to_string(verdict.mirror_rows) + " on mirror";
}

std::string method_summary(const TableVerdict& verdict) {
  switch (verdict.method) {
    case RowMethod::by_key: return "compared by key (" + join(verdict.key_columns, ", ") + ")";
    case RowMethod::full_hash:
      return verdict.has_primary_key ? "the primary keys differ: compared by a full hash"
                                     : "no primary key: compared by a full hash";
    case RowMethod::none: break;
  }
  return {};
}


std::string render_orphans(const Orphans& orphans) {
  return "  orphans on " + std::string{orphans.side == Side::primary ? "primary" : "mirror"} + ": " +
         plural(orphans.count, "row") + " referencing no row of " + orphans.referenced.display() + " through " +
         orphans.foreign_key + "\n" + render_listed(orphans.listed, orphans.listed.empty() ? 0 : orphans.count, {});
}


std::string last_value_text(const SequenceState& state) {
  if (!state.readable) return "unreadable";
  return state.last_value ? std::to_string(*state.last_value) : "never used";
}

std::string position_comparison(const SequenceState& primary, const SequenceState& mirror) {
  std::string text = "last value " + last_value_text(primary) + " on primary, " + last_value_text(mirror) + " on mirror";
  if (primary.readable && mirror.readable && primary.last_value && mirror.last_value) {
    const auto primary_value = *primary.last_value;
    const auto mirror_value = *mirror.last_value;
    const auto gap = primary_value > mirror_value ? primary_value - mirror_value : mirror_value - primary_value;
    text += std::string{" (mirror "} + (mirror_value < primary_value ? "behind" : "ahead") + " by " +
            std::to_string(gap) + ")";
  }
  return text;
}

std::string render_settled(const TableVerdict& verdict) {
  constexpr std::string_view kWhy = " (writes in flight during the comparison)\n";
  std::string text;
  if (verdict.settled_keys > 0) {
    text += "  settled on re-check: " + plural(verdict.settled_keys, "key") + std::string{kWhy};
  }
  if (verdict.contents_settled) text += "  settled on re-check: the contents" + std::string{kWhy};
  return text;
}

}  // namespace

std::string count_phrase(std::uint64_t total, std::uint64_t identical, std::string_view noun) {
  const auto differing = total - identical;
  return plural(total, noun) + ": " + std::to_string(identical) + " identical, " + std::to_string(differing) +
         (differing == 1 ? " differs" : " differ");
}

std::string TableName::display() const { return schema + "." + name; }

std::string TableName::sql() const { return quote_identifier(schema) + "." + quote_identifier(name); }

std::string TableName::only() const { return "ONLY " + sql(); }

TableName table_name_from_argument(std::string_view argument) {
  const auto dot = argument.find('.');
  if (dot == std::string_view::npos) return {.schema = "public", .name = std::string{argument}};
  return {.schema = std::string{argument.substr(0, dot)}, .name = std::string{argument.substr(dot + 1)}};
}

std::vector<SchemaDifference> compare_schemas(const TableSchema& primary, const TableSchema& mirror) {
  std::vector<SchemaDifference> differences;
  compare_columns(primary, mirror, differences);
  compare_named(SchemaObject::constraint, primary.constraints, mirror.constraints, differences);
  compare_named(SchemaObject::index, primary.indexes, mirror.indexes, differences);
  return differences;
}

std::vector<SchemaDifference> compare_databases(const DatabaseSettings& primary, const DatabaseSettings& mirror) {
  std::vector<SchemaDifference> differences;
  const auto compare = [&](std::string setting, const std::string& ours, const std::string& theirs) {
    if (ours == theirs) return;
    differences.push_back({.object = SchemaObject::database, .change = SchemaChange::differs,
                           .name = std::move(setting), .attribute = "value", .on_primary = ours,
                           .on_mirror = theirs});
  };
  compare("encoding", primary.encoding, mirror.encoding);
  compare("LC_COLLATE", primary.collate, mirror.collate);
  compare("LC_CTYPE", primary.ctype, mirror.ctype);
  return differences;
}

std::string describe(const SchemaDifference& difference) {
  std::string subject{object_word(difference.object)};
  if (!difference.name.empty()) {
    subject += " " + (difference.object == SchemaObject::database ? difference.name
                                                                  : quote_identifier(difference.name));
  }
  switch (difference.change) {
    case SchemaChange::missing_on_mirror:
      return subject + " missing on mirror" + (difference.on_primary.empty() ? "" : ": " + difference.on_primary);
    case SchemaChange::extra_on_mirror:
      return subject + " extra on mirror" + (difference.on_mirror.empty() ? "" : ": " + difference.on_mirror);
    case SchemaChange::differs: break;
  }
  // These attributes read well from their values alone ("not null on primary").
  const bool named_by_value = difference.attribute == "nullability" || difference.attribute == "definition" ||
                              difference.attribute == "value";
  return subject + ": " + (named_by_value ? "" : difference.attribute + " ") + or_none(difference.on_primary) +
         " on primary, " + or_none(difference.on_mirror) + " on mirror";
}

RowMethod choose_row_method(const TableSchema* primary, const TableSchema* mirror) {
  if (primary == nullptr || mirror == nullptr) return RowMethod::none;
  if (!primary->primary_key.empty() && primary->primary_key == mirror->primary_key) return RowMethod::by_key;
  return RowMethod::full_hash;
}

std::vector<std::string> compared_columns(const TableSchema& primary, const TableSchema& mirror) {
  std::vector<std::string> columns;
  for (const auto& ours : primary.columns) {
    const auto* theirs = find_column(mirror, ours.name);
    if (theirs != nullptr && theirs->type == ours.type) columns.push_back(ours.name);
  }
  return columns;
}

std::string format_key(const Key& key) {
  std::vector<std::string> values;
  values.reserve(key.size());
  for (const auto& value : key) values.push_back(key_value_text(value));
  return key.size() == 1 ? values.front() : "(" + join(values, ", ") + ")";
}

std::pair<KeyRange, KeyRange> split_at(const KeyRange& range, const Key& middle) {
  return {KeyRange{.lower = range.lower, .upper = middle}, KeyRange{.lower = middle, .upper = range.upper}};
}

std::vector<KeyColumn> key_columns(const TableSchema& primary, const TableSchema& mirror,
                                   bool same_database_collation) {
  std::vector<KeyColumn> columns;
  for (const auto& name : primary.primary_key) {
    const auto* ours = find_column(primary, name);
    const auto* theirs = find_column(mirror, name);
    // A primary key names columns of its own table, and by_key means the mirror's key names the same.
    assert(ours != nullptr && theirs != nullptr);
    const bool collatable = !ours->collation.empty() && !theirs->collation.empty();
    columns.push_back({.name = name, .type = ours->type,
                       .byte_order = collatable && (!same_database_collation || ours->collation != theirs->collation)});
  }
  return columns;
}

KeyRangeQueries::KeyRangeQueries(TableName table, std::vector<KeyColumn> key, std::vector<std::string> columns)
    : table_{std::move(table)}, key_{std::move(key)} {
  std::vector<std::string> ordered;
  std::vector<std::string> plain;
  for (const auto& column : key_) {
    ordered.push_back(key_column_expression(column));
    plain.push_back("t." + quote_identifier(column.name));
  }
  key_expression_ = as_row(ordered);
  order_by_ = join(ordered, ", ");
  key_list_ = join(plain, ", ");
  key_row_ = as_row(plain);
  key_set_ = key_set_subquery(key_);
  std::vector<std::string> values;
  for (const auto& column : columns) values.push_back("t." + quote_identifier(column));
  row_text_ = "ROW(" + join(values, ", ") + ")::text";
  row_digest_ = "md5(" + row_text_ + ")";
}

// The XOR of 64-bit row hashes needs no sort and no md5 per row: a chunk costs less than one
// md5 over the table's text. It only has to tell chunks apart; rows are then matched by md5.
std::string KeyRangeQueries::checksum(const KeyRange& range) const {
  return "SELECT count(*), coalesce(bit_xor(hashtextextended(" + row_text_ + ", 0))::text, '') FROM " +
         table_.only() + " AS t" + where(range);
}

std::string KeyRangeQueries::key_at_offset(const KeyRange& range, std::int64_t offset) const {
  return "SELECT " + key_list_ + " FROM " + table_.only() + " AS t" + where(range) + " ORDER BY " + order_by_ +
         " OFFSET " + std::to_string(offset) + " LIMIT 1";
}

std::string KeyRangeQueries::row_digests(const KeyRange& range) const {
  return "SELECT " + key_list_ + ", " + row_digest_ + " FROM " + table_.only() + " AS t" + where(range) +
         " ORDER BY " + order_by_;
}

std::string KeyRangeQueries::row_digests_of_keys() const {
  return "SELECT " + key_list_ + ", " + row_digest_ + " FROM " + table_.only() + " AS t WHERE " + key_row_ + " IN (" +
         key_set_ + ")";
}

std::vector<std::string> KeyRangeQueries::key_parameters(std::span<const Key> keys) const {
  std::vector<std::string> arrays;
  for (std::size_t column = 0; column < key_.size(); ++column) {
    std::vector<std::string> values;
    values.reserve(keys.size());
    for (const auto& key : keys) values.push_back(key.at(column));
    arrays.push_back(text_array(values));
  }
  return arrays;
}

std::vector<std::string> KeyRangeQueries::range_parameters(const KeyRange& range) {
  std::vector<std::string> parameters;
  if (range.lower) parameters.insert(parameters.end(), range.lower->begin(), range.lower->end());
  if (range.upper) parameters.insert(parameters.end(), range.upper->begin(), range.upper->end());
  return parameters;
}

std::string KeyRangeQueries::where(const KeyRange& range) const {
  std::vector<std::string> conditions;
  if (range.lower) conditions.push_back(key_expression_ + " >= " + bound(1));
  if (range.upper) conditions.push_back(key_expression_ + " < " + bound(range.lower ? key_.size() + 1 : 1));
  return conditions.empty() ? "" : " WHERE " + join(conditions, " AND ");
}

std::string KeyRangeQueries::bound(std::size_t first_parameter) const {
  std::vector<std::string> parameters;
  for (std::size_t i = 0; i < key_.size(); ++i) {
    // The cast tells the server the parameter's type, which it could not infer inside a row.
    parameters.push_back("CAST($" + std::to_string(first_parameter + i) + " AS " + key_[i].type + ")" +
                         (key_[i].byte_order ? " COLLATE \"C\"" : ""));
  }
  return as_row(parameters);
}

std::string full_hash_query(const TableName& table, const std::vector<std::string>& columns) {
  std::vector<std::string> values;
  for (const auto& column : columns) values.push_back("t." + quote_identifier(column));
  // 16 hex digits are 64 bits; bit(64) -> bigint reads them as a signed number, which sums as well.
  const auto half_sum = [](std::string_view first_digit) {
    return "coalesce(sum(('x' || substr(h, " + std::string{first_digit} + ", 16))::bit(64)::bigint::numeric), 0)";
  };
  return "SELECT count(*), " + half_sum("1") + ", " + half_sum("17") + " FROM (SELECT md5(ROW(" +
         join(values, ", ") + ")::text) AS h FROM " + table.only() + " AS t) AS digests";
}

std::string orphans_query(const ForeignKey& foreign_key, const std::vector<std::string>& primary_key) {
  std::vector<std::string> selected{"count(*) OVER ()"};
  for (const auto& column : primary_key) selected.push_back("t." + quote_identifier(column) + "::text");
  std::vector<std::string> set;
  std::vector<std::string> matches;
  for (std::size_t i = 0; i < foreign_key.columns.size(); ++i) {
    const auto column = "t." + quote_identifier(foreign_key.columns[i]);
    set.push_back(column + " IS NOT NULL");
    matches.push_back("r." + quote_identifier(foreign_key.referenced_columns[i]) + " = " + column);
  }
  return "SELECT " + join(selected, ", ") + " FROM " + foreign_key.table.only() + " AS t WHERE " +
         join(set, " AND ") + " AND NOT EXISTS (SELECT FROM " + foreign_key.referenced.only() + " AS r WHERE " +
         join(matches, " AND ") + ") LIMIT " + std::to_string(kMaxListedKeys);
}

std::optional<RangeChecksum> remainder(const RangeChecksum& whole, const RangeChecksum& part) {
  const auto hash_of = [](const RangeChecksum& sum) -> std::optional<std::uint64_t> {
    if (sum.rows == 0) return std::uint64_t{0};
    std::int64_t value = 0;
    const auto* end = sum.digest.data() + sum.digest.size();
    const auto [stop, error] = std::from_chars(sum.digest.data(), end, value);
    if (error != std::errc{} || stop != end) return std::nullopt;
    return static_cast<std::uint64_t>(value);
  };
  const auto whole_hash = hash_of(whole);
  const auto part_hash = hash_of(part);
  if (!whole_hash || !part_hash || part.rows > whole.rows) return std::nullopt;
  const auto rows = whole.rows - part.rows;
  const auto hash = static_cast<std::int64_t>(*whole_hash ^ *part_hash);
  return RangeChecksum{.rows = rows, .digest = rows == 0 ? std::string{} : std::to_string(hash)};
}

RangeStep next_step(const RangeChecksum& primary, const RangeChecksum& mirror, std::int64_t leaf_rows) noexcept {
  if (primary == mirror) return RangeStep::identical;
  if (std::max(primary.rows, mirror.rows) <= leaf_rows) return RangeStep::list_rows;
  return RangeStep::split;
}

SplitPoint split_point(const RangeChecksum& primary, const RangeChecksum& mirror) noexcept {
  if (mirror.rows > primary.rows) return {.side = Side::mirror, .offset = mirror.rows / 2};
  return {.side = Side::primary, .offset = primary.rows / 2};
}

RowDifferences compare_rows(std::span<const RowDigest> primary, std::span<const RowDigest> mirror) {
  std::map<Key, std::string_view> mirror_digests;
  for (const auto& row : mirror) mirror_digests.emplace(row.key, row.digest);
  std::set<Key> primary_keys;
  RowDifferences differences;
  for (const auto& row : primary) {
    primary_keys.insert(row.key);
    const auto theirs = mirror_digests.find(row.key);
    if (theirs == mirror_digests.end()) {
      differences.missing_on_mirror.push_back(row.key);
    } else if (theirs->second != row.digest) {
      differences.differing.push_back(row.key);
    }
  }
  for (const auto& row : mirror) {
    if (!primary_keys.contains(row.key)) differences.extra_on_mirror.push_back(row.key);
  }
  return differences;
}

void KeyList::add(Key key) {
  ++count_;
  if (listed_.size() < kMaxListedKeys) listed_.push_back(std::move(key));
}

void KeyList::add(std::vector<Key> keys) {
  for (auto& key : keys) add(std::move(key));
}

namespace {

// Orphans both backends hold alike are the same data twice: reported, but not a difference.
bool orphans_differ(const std::vector<Orphans>& orphans) {
  const auto on = [&](Side side, const Orphans& like) {
    return std::ranges::find_if(orphans, [&](const Orphans& other) {
      return other.side == side && other.foreign_key == like.foreign_key && other.count == like.count &&
             other.listed == like.listed;
    }) != orphans.end();
  };
  return std::ranges::any_of(orphans, [&](const Orphans& some) {
    return !on(some.side == Side::primary ? Side::mirror : Side::primary, some);
  });
}

}  // namespace

std::string_view to_string(DifferenceKind kind) noexcept {
  switch (kind) {
    case DifferenceKind::schema: return "schema";
    case DifferenceKind::row_count: return "row count";
    case DifferenceKind::missing_on_mirror: return "missing on mirror";
    case DifferenceKind::extra_on_mirror: return "extra on mirror";
    case DifferenceKind::differing_rows: return "differing rows";
    case DifferenceKind::contents: return "contents";
    case DifferenceKind::orphans: return "orphans";
    case DifferenceKind::not_compared: return "not compared";
  }
  return "unknown";
}

std::vector<DifferenceKind> TableVerdict::differences() const {
  std::vector<DifferenceKind> kinds;
  if (!schema.empty()) kinds.push_back(DifferenceKind::schema);
  if (method != RowMethod::none && primary_rows != mirror_rows) kinds.push_back(DifferenceKind::row_count);
  if (missing_on_mirror.count() > 0) kinds.push_back(DifferenceKind::missing_on_mirror);
  if (extra_on_mirror.count() > 0) kinds.push_back(DifferenceKind::extra_on_mirror);
  if (differing_rows.count() > 0) kinds.push_back(DifferenceKind::differing_rows);
  if (contents_differ) kinds.push_back(DifferenceKind::contents);
  if (orphans_differ(orphans)) kinds.push_back(DifferenceKind::orphans);
  if (!error.empty()) kinds.push_back(DifferenceKind::not_compared);
  return kinds;
}

bool SequenceVerdict::identical() const {
  return on_primary && on_mirror && on_primary->readable && on_mirror->readable &&
         on_primary->last_value == on_mirror->last_value;
}

std::vector<SequenceVerdict> compare_sequences(std::span<const SequenceState> primary,
                                               std::span<const SequenceState> mirror) {
  std::map<TableName, SequenceVerdict> verdicts;
  for (const auto& state : primary) {
    auto& verdict = verdicts[state.sequence];
    verdict.sequence = state.sequence;
    verdict.on_primary = state;
  }
  for (const auto& state : mirror) {
    auto& verdict = verdicts[state.sequence];
    verdict.sequence = state.sequence;
    verdict.on_mirror = state;
  }
  std::vector<SequenceVerdict> sorted;
  sorted.reserve(verdicts.size());
  for (auto& [name, verdict] : verdicts) sorted.push_back(std::move(verdict));
  return sorted;
}

bool VerifyReport::identical() const {
  return database_differences.empty() && std::ranges::all_of(tables, &TableVerdict::identical) &&
         std::ranges::all_of(sequences, &SequenceVerdict::identical);
}

std::string render_heading(const VerifyReport& report) {
  std::string text = "database \"" + report.database + "\": primary " + report.primary + ", mirror " +
                     report.mirror + "\n";
  for (const auto& difference : report.database_differences) text += "  " + describe(difference) + "\n";
  return text;
}

std::string render_table(const TableVerdict& verdict) {
  std::string headline = verdict.table.display() + ": " + (verdict.identical() ? "identical" : "differs");
  if (verdict.method != RowMethod::none && verdict.error.empty()) {
    headline += ", " + rows_summary(verdict) + ", " + method_summary(verdict);
  }
  std::string text = headline + "\n";
  for (const auto& difference : verdict.schema) text += "  schema: " + describe(difference) + "\n";
  if (!verdict.error.empty()) text += "  rows not compared: " + verdict.error + "\n";
  text += render_keys("missing on mirror", verdict.missing_on_mirror, verdict.in_flight);
  text += render_keys("extra on mirror", verdict.extra_on_mirror, verdict.in_flight);
  text += render_keys("differing rows", verdict.differing_rows, verdict.in_flight);
  if (verdict.contents_differ) {
    text += "  contents differ (no key to tell which rows" +
            (verdict.contents_in_flight ? "; " + std::string{kInFlightMark} : std::string{}) + ")\n";
  }
  text += render_settled(verdict);
  for (const auto& orphans : verdict.orphans) text += render_orphans(orphans);
  return text;
}

std::string render_sequence(const SequenceVerdict& verdict) {
  std::string text = "sequence " + verdict.sequence.display() + ": ";
  if (!verdict.on_mirror) return text + "differs, missing on mirror\n";
  if (!verdict.on_primary) return text + "differs, extra on mirror\n";
  if (verdict.identical()) {
    return text + "identical, last value " + last_value_text(*verdict.on_primary) +
           (verdict.settled ? " (settled on re-check)" : "") + "\n";
  }
  return text + "differs, " + position_comparison(*verdict.on_primary, *verdict.on_mirror) +
         (verdict.in_flight ? " (moved during verify: could be a write in flight)" : "") + "\n";
}

std::string render_counts(const VerifyReport& report) {
  const auto tables = std::ranges::count_if(report.tables, &TableVerdict::identical);
  const auto sequences = std::ranges::count_if(report.sequences, &SequenceVerdict::identical);
  return count_phrase(report.tables.size(), static_cast<std::uint64_t>(tables), "table") + "; " +
         count_phrase(report.sequences.size(), static_cast<std::uint64_t>(sequences), "sequence");
}

Recheck classify_recheck(const Look& first, const Look& now) noexcept {
  if (now.primary == now.mirror) return Recheck::settled;
  return now == first ? Recheck::confirmed : Recheck::in_flight;
}

KeyLooks look_at(std::span<const Key> keys, std::span<const RowDigest> primary, std::span<const RowDigest> mirror) {
  KeyLooks looks;
  for (const auto& key : keys) looks.emplace(key, Look{});
  const auto fill = [&](std::span<const RowDigest> rows, std::optional<std::string> Look::*side) {
    for (const auto& row : rows) {
      const auto found = looks.find(row.key);
      if (found != looks.end()) found->second.*side = row.digest;
    }
  };
  fill(primary, &Look::primary);
  fill(mirror, &Look::mirror);
  return looks;
}

namespace {

using KindOfKeys = KeyList TableVerdict::*;

constexpr std::array<KindOfKeys, 3> kKindsOfKeys{&TableVerdict::missing_on_mirror, &TableVerdict::extra_on_mirror,
                                                 &TableVerdict::differing_rows};

// The kind of difference a key's rows make when they differ.
KindOfKeys kind_of(const Look& look) {
  if (!look.mirror) return &TableVerdict::missing_on_mirror;
  if (!look.primary) return &TableVerdict::extra_on_mirror;
  return &TableVerdict::differing_rows;
}

std::int64_t rows_in(const std::optional<std::string>& digest) { return digest ? 1 : 0; }

// Re-checks one listed key of `verdict`, adding it to `rebuilt`'s lists unless it settled.
void recheck_key(TableVerdict& verdict, TableVerdict& rebuilt, KindOfKeys kind, const Key& key, const KeyLooks& first,
                 const KeyLooks& now) {
  const auto before = first.find(key);
  if (before == first.end()) {
    (rebuilt.*kind).add(key);
    return;
  }
  const auto found = now.find(key);
  const auto after = found == now.end() ? Look{} : found->second;
  const auto outcome = classify_recheck(before->second, after);
  if (outcome == Recheck::confirmed) {
    (rebuilt.*kind).add(key);
    return;
  }
  verdict.primary_rows += rows_in(after.primary) - rows_in(before->second.primary);
  verdict.mirror_rows += rows_in(after.mirror) - rows_in(before->second.mirror);
  if (outcome == Recheck::settled) {
    ++verdict.settled_keys;
    return;
  }
  (rebuilt.*kind_of(after)).add(key);
  verdict.in_flight.insert(key);
}

Look look_of(const BothChecksums& sums) {
  const auto text = [](const RangeChecksum& sum) { return std::to_string(sum.rows) + " " + sum.digest; };
  return {.primary = text(sums.primary), .mirror = text(sums.mirror)};
}

std::optional<std::string> position_of(const std::optional<SequenceState>& state) {
  if (!state) return std::nullopt;
  return last_value_text(*state);
}

bool readable(const std::optional<SequenceState>& state) { return !state || state->readable; }

}  // namespace

std::string with_thousands(std::int64_t value) {
  const auto digits = std::to_string(value);
  std::string text;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

void apply_recheck(TableVerdict& verdict, const KeyLooks& first, const KeyLooks& now) {
  TableVerdict rebuilt;
  for (const auto kind : kKindsOfKeys) {
    for (const auto& key : (verdict.*kind).listed()) recheck_key(verdict, rebuilt, kind, key, first, now);
  }
  for (const auto kind : kKindsOfKeys) {
    (rebuilt.*kind).count_unlisted((verdict.*kind).count() - (verdict.*kind).listed().size());
    verdict.*kind = std::move(rebuilt.*kind);
  }
}

void apply_contents_recheck(TableVerdict& verdict, const BothChecksums& first, const BothChecksums& now) {
  const auto outcome = classify_recheck(look_of(first), look_of(now));
  if (outcome == Recheck::confirmed) return;
  verdict.primary_rows = now.primary.rows;
  verdict.mirror_rows = now.mirror.rows;
  verdict.contents_differ = outcome == Recheck::in_flight;
  verdict.contents_settled = outcome == Recheck::settled;
  verdict.contents_in_flight = outcome == Recheck::in_flight;
}

void apply_recheck(SequenceVerdict& verdict, const SequenceVerdict& now) {
  // An unreadable position reads the same at every look: reading it again cannot tell anything.
  const bool all_readable = readable(verdict.on_primary) && readable(verdict.on_mirror) &&
                            readable(now.on_primary) && readable(now.on_mirror);
  if (!all_readable) return;
  const Look first{.primary = position_of(verdict.on_primary), .mirror = position_of(verdict.on_mirror)};
  const auto outcome =
      classify_recheck(first, {.primary = position_of(now.on_primary), .mirror = position_of(now.on_mirror)});
  if (outcome == Recheck::confirmed) return;
  verdict.on_primary = now.on_primary;
  verdict.on_mirror = now.on_mirror;
  verdict.settled = outcome == Recheck::settled;
  verdict.in_flight = outcome == Recheck::in_flight;
}

std::string render_recheck_notice(const TableName& table, std::size_t keys) {
  if (keys == 0) return "re-checking the contents of " + table.display() + "...\n";
  return "re-checking " + plural(keys, "key") + " of " + table.display() + "...\n";
}

std::string render_sequence_recheck_notice(std::size_t sequences) {
  return "re-checking " + plural(sequences, "sequence") + "...\n";
}

std::string render_progress(const ProgressState& state) {
  const auto tables = "  " + std::to_string(state.tables_done) + "/" + std::to_string(state.tables) +
                      (state.tables == 1 ? " table" : " tables");
  if (!state.rows_expected || *state.rows_expected <= 0) {
    return "verify  " + with_thousands(state.rows_done) + " rows" + tables;
  }
  constexpr std::int64_t kBarWidth = 20;
  const auto percent = std::clamp<std::int64_t>(state.rows_done * 100 / *state.rows_expected, 0, 100);
  const auto filled = static_cast<std::size_t>(percent * kBarWidth / 100);
  auto percent_text = std::to_string(percent);
  percent_text.insert(0, 3 - percent_text.size(), ' ');
  return "verify [" + std::string(filled, '#') + std::string(static_cast<std::size_t>(kBarWidth) - filled, '-') + "] " +
         percent_text + "%  " + with_thousands(state.rows_done) + " of ~" + with_thousands(*state.rows_expected) +
         " rows" + tables;
}

}  // namespace pgdual::conflict
