#include "proxy/verify_command.h"

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/verify.h"
#include "proxy/pg_client.h"

namespace pgdual::proxy {
namespace {

using conflict::Key;
using conflict::KeyRange;
using conflict::KeyRangeQueries;
using conflict::RangeChecksum;
using conflict::TableName;
using conflict::TableSchema;
using conflict::TableVerdict;

constexpr int kDifferences = 1;
constexpr int kUsageError = 2;

constexpr std::int64_t kDefaultChunkRows = 10'000;
/// Ranges this small on both sides are compared row by row (keys and row digests) rather than
/// halved again: one query instead of several more rounds of checksums.
constexpr std::int64_t kLeafRows = 64;

constexpr std::string_view kUsage =
    "usage: pgdual verify --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
    "  T is schema.table, or table in schema public; --table may repeat or list several\n"
    "  N is how many rows each checksum covers (default 10000)\n";

/// The same text for the same values on both servers, whatever their own defaults: row digests
/// are md5s of rows' text. The search path makes the catalogs print every name qualified.
constexpr std::string_view kSessionSettings =
    "SET search_path = pg_catalog; SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; "
    "SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; "
    "SET bytea_output = 'hex'; SET lc_monetary = 'C'; SET xmloption = 'content'";

/// Application relations: the catalogs, pgdual's own schema, and temporary and toast schemas left out.
constexpr std::string_view kApplicationSchemas =
    "n.nspname NOT IN ('information_schema', 'pgdual') AND n.nspname !~ '^pg_'";

struct VerifyOptions {
  std::string config_file;
  std::string database;
  std::string user;
  std::vector<TableName> tables;
  std::int64_t chunk_rows = kDefaultChunkRows;
};

std::optional<std::int64_t> parse_positive(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

// Returns what is wrong with the arguments, or an empty string.
std::string parse_arguments(std::span<char*> args, VerifyOptions& options) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (i + 1 >= args.size() || std::string_view{args[i + 1]}.starts_with("--")) {
      return std::string{flag} + " needs a value";
    }
    const std::string_view value = args[++i];
    if (flag == "--config") {
      options.config_file = value;
    } else if (flag == "--database") {
      options.database = value;
    } else if (flag == "--user") {
      options.user = value;
    } else if (flag == "--chunk-rows") {
      const auto rows = parse_positive(value);
      if (!rows) return "--chunk-rows: expected a positive number, got \"" + std::string{value} + "\"";
      options.chunk_rows = *rows;
    } else if (flag == "--table") {
      options.tables.push_back(conflict::table_name_from_argument(value));
      while (i + 1 < args.size() && !std::string_view{args[i + 1]}.starts_with("--")) {
        options.tables.push_back(conflict::table_name_from_argument(args[++i]));
      }
    } else {
      return "unknown option \"" + std::string{flag} + "\"";
    }
  }
  if (options.config_file.empty()) return "--config is required";
  if (options.database.empty()) return "--database is required";
  return {};
}

std::string text_of(const PgClient::Row& row, std::size_t column) { return row.at(column).value_or(""); }

std::int64_t number_of(const PgClient::Row& row, std::size_t column) {
  const auto text = text_of(row, column);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    throw std::runtime_error{"the server answered \"" + text + "\" where a number was expected"};
  }
  return value;
}

TableName table_of(const PgClient::Row& row) { return {.schema = text_of(row, 0), .name = text_of(row, 1)}; }

/// One REPEATABLE READ, read-only transaction: every query in it sees the same catalogs and rows,
/// so a range's halves add up to the range. Rolled back at the end: it changed nothing.
class Snapshot {
 public:
  explicit Snapshot(PgClient& client) : client_{client} {
    client_.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  }
  ~Snapshot() {
    try {
      client_.execute("ROLLBACK");
    } catch (const std::exception&) {
      // The connection is gone: the next table's BEGIN reports it.
    }
  }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

 private:
  PgClient& client_;
};

/// What verify reads of one backend's catalogs.
struct Catalog {
  conflict::DatabaseSettings settings;
  std::map<TableName, TableSchema> tables;
  std::vector<conflict::SequenceState> sequences;
};

// The schema of the table named by the row's first two columns, added when new.
TableSchema& table_in(Catalog& catalog, const PgClient::Row& row) {
  auto& table = catalog.tables[table_of(row)];
  table.table = table_of(row);
  return table;
}

std::string application_tables_query(std::string_view select_from, std::string_view order_by) {
  return std::string{select_from} + " WHERE c.relkind = 'r' AND " + std::string{kApplicationSchemas} + " ORDER BY " +
         std::string{order_by};
}

void read_columns(PgClient& client, Catalog& catalog) {
  const auto sql = application_tables_query(
      "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
      "CASE WHEN a.attidentity = 'a' THEN 'generated always as identity' "
      "WHEN a.attidentity = 'd' THEN 'generated by default as identity' "
      "WHEN a.attgenerated = 's' THEN 'generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored' "
      "ELSE coalesce(pg_get_expr(d.adbin, d.adrelid), '') END, coalesce(co.collname, '') "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
      "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
      "LEFT JOIN pg_collation co ON co.oid = a.attcollation",
      "n.nspname, c.relname, a.attnum");
  for (const auto& row : client.query(sql)) {
    auto& table = table_in(catalog, row);
    if (!row.at(2)) continue;  // a table without columns
    table.columns.push_back({.name = text_of(row, 2), .type = text_of(row, 3), .not_null = text_of(row, 4) == "t",
                             .default_text = text_of(row, 5), .collation = text_of(row, 6)});
  }
}

void read_definitions(PgClient& client, Catalog& catalog) {
  const auto constraints = application_tables_query(
      "SELECT n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
      "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace",
      "1, 2, 3");
  for (const auto& row : client.query(constraints)) {
    table_in(catalog, row).constraints.push_back({.name = text_of(row, 2), .definition = text_of(row, 3)});
  }
  const auto indexes = application_tables_query(
      "SELECT n.nspname, c.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
      "JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace",
      "1, 2, 3");
  for (const auto& row : client.query(indexes)) {
    table_in(catalog, row).indexes.push_back({.name = text_of(row, 2), .definition = text_of(row, 3)});
  }
  const auto primary_keys = application_tables_query(
      "SELECT n.nspname, c.relname, a.attname FROM pg_index x "
      "JOIN pg_class c ON c.oid = x.indrelid AND x.indisprimary JOIN pg_namespace n ON n.oid = c.relnamespace "
      "CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) "
      "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum",
      "n.nspname, c.relname, k.position");
  for (const auto& row : client.query(primary_keys)) {
    table_in(catalog, row).primary_key.push_back(text_of(row, 2));
  }
}

void read_sequences(PgClient& client, Catalog& catalog) {
  // pg_sequences shows last_value only to users who may read it, so the privilege is asked too.
  const auto sql =
      "SELECT n.nspname, c.relname, has_sequence_privilege(c.oid, 'SELECT, USAGE'), s.last_value, "
      "tn.nspname, t.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "LEFT JOIN pg_sequences s ON s.schemaname = n.nspname AND s.sequencename = c.relname "
      "LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid "
      "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
      "LEFT JOIN pg_class t ON t.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace "
      "WHERE c.relkind = 'S' AND " + std::string{kApplicationSchemas} + " ORDER BY 1, 2";
  for (const auto& row : client.query(sql)) {
    conflict::SequenceState state{.sequence = table_of(row), .owner = {}, .readable = text_of(row, 2) == "t",
                                  .last_value = {}};
    if (row.at(3)) state.last_value = number_of(row, 3);
    if (row.at(4)) state.owner = TableName{.schema = text_of(row, 4), .name = text_of(row, 5)};
    catalog.sequences.push_back(std::move(state));
  }
}

Catalog read_catalog(PgClient& client) {
  const Snapshot snapshot{client};
  Catalog catalog;
  const auto database = client.query(
      "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = current_database()");
  catalog.settings = {.encoding = text_of(database.at(0), 0), .collate = text_of(database.at(0), 1),
                      .ctype = text_of(database.at(0), 2)};
  read_columns(client, catalog);
  read_definitions(client, catalog);
  read_sequences(client, catalog);
  return catalog;
}

/// Compares one table by primary key: chunks of the primary's keys, checksummed on both sides,
/// differing chunks halved until small enough to compare key by key.
class KeyedComparison {
 public:
  KeyedComparison(PgClient& primary, PgClient& mirror, const KeyRangeQueries& queries, std::size_t key_size,
                  TableVerdict& verdict)
      : primary_{primary}, mirror_{mirror}, queries_{queries}, key_size_{key_size}, verdict_{verdict} {}

  void run(std::int64_t chunk_rows) {
    std::optional<Key> lower;
    do {
      auto upper = key_at(primary_, KeyRange{.lower = lower, .upper = std::nullopt}, chunk_rows);
      KeyRange chunk{.lower = std::move(lower), .upper = upper};
      auto ours = checksum(primary_, chunk);
      auto theirs = checksum(mirror_, chunk);
      verdict_.primary_rows += ours.rows;
      verdict_.mirror_rows += theirs.rows;
      narrow(std::move(chunk), std::move(ours), std::move(theirs));
      lower = std::move(upper);
    } while (lower);
  }

 private:
  struct Pending {
    KeyRange range;
    RangeChecksum primary;
    RangeChecksum mirror;
  };

  // Depth first, so that at most two ranges per halving wait: memory stays bounded.
  void narrow(KeyRange range, RangeChecksum ours, RangeChecksum theirs) {
    std::vector<Pending> pending;
    pending.push_back({std::move(range), std::move(ours), std::move(theirs)});
    while (!pending.empty()) {
      auto next = std::move(pending.back());
      pending.pop_back();
      switch (conflict::next_step(next.primary, next.mirror, kLeafRows)) {
        case conflict::RangeStep::identical: break;
        case conflict::RangeStep::list_rows: compare_rows(next.range); break;
        case conflict::RangeStep::split: {
          const auto point = conflict::split_point(next.primary, next.mirror);
          auto middle = key_at(point.side == conflict::Side::primary ? primary_ : mirror_, next.range, point.offset);
          // The snapshot holds the rows still, so the middle row counted a moment ago is there.
          if (!middle) throw std::runtime_error{"a range lost rows within one snapshot"};
          auto [low, high] = conflict::split_at(next.range, *middle);
          auto high_sums = std::pair{checksum(primary_, high), checksum(mirror_, high)};
          auto low_sums = std::pair{checksum(primary_, low), checksum(mirror_, low)};
          pending.push_back({std::move(high), std::move(high_sums.first), std::move(high_sums.second)});
          pending.push_back({std::move(low), std::move(low_sums.first), std::move(low_sums.second)});
          break;
        }
      }
    }
  }

  void compare_rows(const KeyRange& range) {
    auto differences = conflict::compare_rows(row_digests(primary_, range), row_digests(mirror_, range));
    verdict_.missing_on_mirror.add(std::move(differences.missing_on_mirror));
    verdict_.extra_on_mirror.add(std::move(differences.extra_on_mirror));
    verdict_.differing_rows.add(std::move(differences.differing));
  }

  RangeChecksum checksum(PgClient& client, const KeyRange& range) const {
    const auto rows = client.query(queries_.checksum(range), KeyRangeQueries::range_parameters(range));
    return {.rows = number_of(rows.at(0), 0), .digest = text_of(rows.at(0), 1)};
  }

  std::optional<Key> key_at(PgClient& client, const KeyRange& range, std::int64_t offset) const {
    const auto rows = client.query(queries_.key_at_offset(range, offset), KeyRangeQueries::range_parameters(range));
    if (rows.empty()) return std::nullopt;
    return key_of(rows.front());
  }

  std::vector<conflict::RowDigest> row_digests(PgClient& client, const KeyRange& range) const {
    std::vector<conflict::RowDigest> digests;
    for (const auto& row : client.query(queries_.row_digests(range), KeyRangeQueries::range_parameters(range))) {
      digests.push_back({.key = key_of(row), .digest = text_of(row, key_size_)});
    }
    return digests;
  }

  Key key_of(const PgClient::Row& row) const {
    Key key;
    for (std::size_t column = 0; column < key_size_; ++column) key.push_back(text_of(row, column));
    return key;
  }

  PgClient& primary_;
  PgClient& mirror_;
  const KeyRangeQueries& queries_;
  std::size_t key_size_;
  TableVerdict& verdict_;
};

RangeChecksum full_hash(PgClient& client, const std::string& sql) {
  const auto rows = client.query(sql);
  return {.rows = number_of(rows.at(0), 0), .digest = text_of(rows.at(0), 1) + ":" + text_of(rows.at(0), 2)};
}

/// Verifies a whole database: the two connections, both catalogs, and the options.
class Verifier {
 public:
  Verifier(PgClient& primary, PgClient& mirror, const VerifyOptions& options)
      : primary_{primary}, mirror_{mirror}, options_{options} {
    primary_.execute(std::string{kSessionSettings});
    mirror_.execute(std::string{kSessionSettings});
    primary_catalog_ = read_catalog(primary_);
    mirror_catalog_ = read_catalog(mirror_);
  }

  [[nodiscard]] std::vector<conflict::SchemaDifference> database_differences() const {
    return conflict::compare_databases(primary_catalog_.settings, mirror_catalog_.settings);
  }

  /// The tables to compare, sorted: the requested ones, or every table either backend has.
  /// Throws std::invalid_argument naming a requested table neither has.
  [[nodiscard]] std::vector<TableName> tables() const {
    std::set<TableName> all;
    for (const auto& [name, schema] : primary_catalog_.tables) all.insert(name);
    for (const auto& [name, schema] : mirror_catalog_.tables) all.insert(name);
    if (options_.tables.empty()) return {all.begin(), all.end()};
    std::set<TableName> requested;
    for (const auto& name : options_.tables) {
      if (!all.contains(name)) throw std::invalid_argument{"no table " + name.display() + " on either backend"};
      requested.insert(name);
    }
    return {requested.begin(), requested.end()};
  }

  [[nodiscard]] TableVerdict compare_table(const TableName& name) {
    const auto* ours = find(primary_catalog_, name);
    const auto* theirs = find(mirror_catalog_, name);
    TableVerdict verdict{.table = name};
    verdict.method = conflict::choose_row_method(ours, theirs);
    verdict.has_primary_key = ours != nullptr && !ours->primary_key.empty();
    if (ours == nullptr || theirs == nullptr) {
      verdict.schema.push_back({.object = conflict::SchemaObject::table,
                                .change = ours == nullptr ? conflict::SchemaChange::extra_on_mirror
                                                          : conflict::SchemaChange::missing_on_mirror,
                                .name = {}, .attribute = {}, .on_primary = {}, .on_mirror = {}});
      return verdict;
    }
    verdict.schema = conflict::compare_schemas(*ours, *theirs);
    try {
      compare_rows(*ours, *theirs, verdict);
    } catch (const std::exception& error) {
      verdict.error = error.what();
      verdict.primary_rows = verdict.mirror_rows = 0;  // partial counts would mislead
    }
    return verdict;
  }

  /// The sequences, of the compared tables only when tables were named.
  [[nodiscard]] std::vector<conflict::SequenceVerdict> compare_sequences(const std::vector<TableName>& tables) const {
    auto verdicts = conflict::compare_sequences(primary_catalog_.sequences, mirror_catalog_.sequences);
    if (options_.tables.empty()) return verdicts;
    const std::set<TableName> compared{tables.begin(), tables.end()};
    const auto owned_by_compared = [&](const std::optional<conflict::SequenceState>& state) {
      return state && state->owner && compared.contains(*state->owner);
    };
    std::erase_if(verdicts, [&](const conflict::SequenceVerdict& verdict) {
      return !owned_by_compared(verdict.on_primary) && !owned_by_compared(verdict.on_mirror);
    });
    return verdicts;
  }

 private:
  static const TableSchema* find(const Catalog& catalog, const TableName& name) {
    const auto found = catalog.tables.find(name);
    return found == catalog.tables.end() ? nullptr : &found->second;
  }

  void compare_rows(const TableSchema& ours, const TableSchema& theirs, TableVerdict& verdict) {
    const Snapshot primary_snapshot{primary_};
    const Snapshot mirror_snapshot{mirror_};
    const auto columns = conflict::compared_columns(ours, theirs);
    if (verdict.method == conflict::RowMethod::full_hash) {
      const auto sql = conflict::full_hash_query(ours.table, columns);
      const auto primary_sum = full_hash(primary_, sql);
      const auto mirror_sum = full_hash(mirror_, sql);
      verdict.primary_rows = primary_sum.rows;
      verdict.mirror_rows = mirror_sum.rows;
      verdict.contents_differ = primary_sum != mirror_sum;
      return;
    }
    verdict.key_columns = ours.primary_key;
    const bool same_collation = primary_catalog_.settings.collate == mirror_catalog_.settings.collate;
    const KeyRangeQueries queries{ours.table, conflict::key_columns(ours, theirs, same_collation), columns};
    KeyedComparison{primary_, mirror_, queries, ours.primary_key.size(), verdict}.run(options_.chunk_rows);
  }

  PgClient& primary_;
  PgClient& mirror_;
  const VerifyOptions& options_;
  Catalog primary_catalog_;
  Catalog mirror_catalog_;
};

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

int verify(const config::ProxyConfig& config, const config::UserConfig& user, const VerifyOptions& options,
           std::FILE* out, std::FILE* err) {
  conflict::VerifyReport report{.database = options.database, .primary = config.primary_backend().name,
                                .mirror = config.mirror_backend().name, .database_differences = {}, .tables = {},
                                .sequences = {}};
  try {
    PgClient primary{config.primary_backend(), user, options.database};
    PgClient mirror{config.mirror_backend(), user, options.database};
    Verifier verifier{primary, mirror, options};
    const auto tables = verifier.tables();
    report.database_differences = verifier.database_differences();
    print(out, conflict::render_heading(report));
    for (const auto& table : tables) {
      report.tables.push_back(verifier.compare_table(table));
      print(out, conflict::render_table(report.tables.back()));
    }
    report.sequences = verifier.compare_sequences(tables);
  } catch (const std::exception& error) {
    std::fprintf(err, "pgdual verify: %s\n", error.what());
    return kUsageError;
  }
  for (const auto& sequence : report.sequences) print(out, conflict::render_sequence(sequence));
  print(out, conflict::render_summary(report));
  return report.identical() ? 0 : kDifferences;
}

}  // namespace

int run_verify_command(std::span<char*> args, std::FILE* out, std::FILE* err) {
  VerifyOptions options;
  if (const auto problem = parse_arguments(args, options); !problem.empty()) {
    std::fprintf(err, "pgdual verify: %s\n%s", problem.c_str(), kUsage.data());
    return kUsageError;
  }
  const auto config = config::load_config(options.config_file);
  if (!config) {
    std::fprintf(err, "pgdual: %s\n", config.error().to_string().c_str());
    return kUsageError;
  }
  const auto* user = options.user.empty() ? &config->users.front() : config->find_user(options.user);
  if (user == nullptr) {
    std::fprintf(err, "pgdual verify: user \"%s\" is not in %s\n", options.user.c_str(), options.config_file.c_str());
    return kUsageError;
  }
  return verify(*config, *user, options, out, err);
}

}  // namespace pgdual::proxy
