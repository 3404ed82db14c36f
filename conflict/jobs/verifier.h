#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/verify.h"
#include "conflict/jobs/pg_client.h"

/// The part of `pgdual verify` that talks to both backends, shared with `pgdual reconcile`:
/// reads both catalogs and compares tables with the queries conflict/verify.h builds.
/// docs/verify.md describes the comparison.
namespace pgdual::jobs {

/// The same text for the same values on both servers, whatever their own defaults: row digests
/// are md5s of rows' text, and reconcile copies rows as text. The search path makes the catalogs
/// print every name qualified.
inline constexpr std::string_view kComparableSessionSettings =
    "SET search_path = pg_catalog; SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; "
    "SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; "
    "SET bytea_output = 'hex'; SET lc_monetary = 'C'; SET xmloption = 'content'";

/// The options `pgdual verify` and `pgdual reconcile` share.
struct ComparisonOptions {
  std::string config_file;
  std::string database;
  std::string user;
  std::vector<conflict::TableName> tables;
  std::int64_t chunk_rows = 10'000;
  std::vector<std::string> switches;  ///< the value-less options given, of those the command allows
};

/// Reads --config, --database, --user, --table T…, --chunk-rows N and the command's own `switches`
/// (options without a value, such as "--apply"). Returns what is wrong, or "" when nothing is.
[[nodiscard]] std::string parse_comparison_arguments(std::span<char*> args, std::span<const std::string_view> switches,
                                                     ComparisonOptions& options);

/// What each option parse_comparison_arguments reads means, one line each, for the commands' help.
inline constexpr std::string_view kComparisonOptionsHelp =
    "  --config FILE      pgdual's configuration, which names both backends\n"
    "  --database NAME    the database to compare (required)\n"
    "  --user NAME        the configured user to log in as (default: the first one)\n"
    "  --table T...       only these tables: schema.table, or table in schema public; may repeat\n"
    "  --chunk-rows N     how many rows each checksum covers (default 10000)\n";

/// The configuration and the user a comparison logs in as.
struct ComparisonLogin {
  config::ProxyConfig config;
  config::UserConfig user;
};

/// Loads --config and picks --user (the first configured user by default). On failure prints
/// why to `err`, naming `command`, and returns std::nullopt.
[[nodiscard]] std::optional<ComparisonLogin> load_comparison_login(const ComparisonOptions& options,
                                                                   std::string_view command, std::FILE* err);

/// What verify reads of one backend's catalogs.
struct Catalog {
  conflict::DatabaseSettings settings;
  std::map<conflict::TableName, conflict::TableSchema> tables;
  std::vector<conflict::SequenceState> sequences;
  std::vector<conflict::ForeignKey> foreign_keys;
};

/// The snapshots a comparison imports, by the names pg_export_snapshot() and CREATE_REPLICATION_SLOT
/// gave them: both sides at one point of the primary's WAL (point_snapshot.h). Empty names: every
/// table takes snapshots of its own.
struct PointSnapshots {
  std::string primary;
  std::string mirror;
};

/// One REPEATABLE READ, read-only transaction: every query in it sees the same catalogs and rows,
/// so a range's halves add up to the range. Rolled back at the end: it changed nothing. With an
/// `imported` snapshot's name, it sees what that snapshot saw.
class Snapshot {
 public:
  explicit Snapshot(PgClient& client, const std::string& imported = {});
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

 private:
  PgClient& client_;
};

/// The row differences of one small key range, handed over as they are found, before the
/// verdict's key lists cut them at conflict::kMaxListedKeys. Runs inside the table's snapshots.
using RowDifferenceSink = std::function<void(const conflict::RowDifferences&)>;

/// Called after each chunk of a keyed table, and once per keyless table, with the rows the
/// primary held in it.
using ProgressSink = std::function<void(std::int64_t primary_rows)>;

/// What compare_table() saw of the differences it found, kept for Verifier::recheck(). Bounded:
/// only the keys the verdict lists (conflict::kMaxListedKeys per kind) are kept.
struct FirstLook {
  conflict::KeyLooks keys{};                          ///< by_key: each listed differing key's row digests
  std::optional<conflict::BothChecksums> contents{};  ///< full_hash: both hashes, when they differed

  /// Nothing differed that a re-check could settle.
  [[nodiscard]] bool empty() const noexcept { return keys.empty() && !contents; }
};

/// Compares one database on two connections. Not thread safe; --jobs gives each thread its own.
class Verifier {
 public:
  /// Sets both sessions up (kComparableSessionSettings) and reads both catalogs, in `point`'s
  /// snapshots when it names them (then every table is compared in them too). Throws.
  Verifier(PgClient& primary, PgClient& mirror, std::int64_t chunk_rows, PointSnapshots point = {});

  /// Sets both sessions up and takes `catalogs_of`'s catalogs, chunk size and snapshots instead of reading
  /// the catalogs again: a --jobs worker compares the tables `catalogs_of` chose, as it saw them.
  /// Reads `catalogs_of` only, so it may be in use by another thread meanwhile. Throws.
  Verifier(PgClient& primary, PgClient& mirror, const Verifier& catalogs_of);

  /// Reads both catalogs again: after reconcile changed the mirror's schema.
  void read_catalogs();

  [[nodiscard]] std::vector<conflict::SchemaDifference> database_differences() const;

  /// The tables to compare, sorted: `requested`, or every table either backend has when it is
  /// empty. Throws std::invalid_argument naming a requested table neither has.
  [[nodiscard]] std::vector<conflict::TableName> tables(const std::vector<conflict::TableName>& requested) const;

  /// Schemas, then rows; a table whose rows could not be compared has the error in its verdict.
  /// Foreign-key orphans are looked for separately (find_orphans()).
  [[nodiscard]] conflict::TableVerdict compare_table(const conflict::TableName& name,
                                                     const RowDifferenceSink& on_differences = {},
                                                     const ProgressSink& on_progress = {});
  /// compare_table(), keeping in `first_look` what the comparison saw of the differences it found
  /// (the listed keys' row digests, or a full_hash table's hashes), for recheck().
  [[nodiscard]] conflict::TableVerdict compare_table(const conflict::TableName& name, FirstLook& first_look,
                                                     const ProgressSink& on_progress);

  /// Reads again what `first_look` saw of `verdict`'s differences, in fresh statements outside any
  /// snapshot, on both backends at once (the keys in batches), and updates the verdict
  /// (conflict::apply_recheck(), conflict::apply_contents_recheck()). Call it after a pause, so
  /// that writes in flight during the comparison have landed. A failed query becomes the
  /// verdict's error.
  void recheck(conflict::TableVerdict& verdict, const FirstLook& first_look);

  /// Reads every sequence's position again and updates those of `verdicts` that differ
  /// (conflict::apply_recheck()). Call it after a pause. Throws.
  void recheck_sequences(std::vector<conflict::SequenceVerdict>& verdicts);

  /// How many rows the primary's catalogs expect (pg_class.reltuples) in those of `tables` whose
  /// rows are compared (the tables both backends have): std::nullopt when one was never analysed.
  /// An estimate, for a progress bar. Throws.
  [[nodiscard]] std::optional<std::int64_t> expected_rows(const std::vector<conflict::TableName>& tables);

  /// Rows of `verdict`'s table that reference no row on their side, through each foreign key the
  /// table has on that side; added to the verdict. A failed query becomes the verdict's error.
  void find_orphans(conflict::TableVerdict& verdict);

  /// The sequences, all of them when `tables` were not named, or those the named tables own.
  [[nodiscard]] std::vector<conflict::SequenceVerdict> compare_sequences(
      const std::vector<conflict::TableName>& tables, bool tables_named) const;

  [[nodiscard]] const conflict::TableSchema* schema(conflict::Side side, const conflict::TableName& name) const;
  [[nodiscard]] const Catalog& catalog(conflict::Side side) const;
  [[nodiscard]] PgClient& client(conflict::Side side);
  [[nodiscard]] bool same_database_collation() const;

 private:
  void compare_rows(const conflict::TableSchema& ours, const conflict::TableSchema& theirs,
                    conflict::TableVerdict& verdict, const RowDifferenceSink& on_differences,
                    const ProgressSink& on_progress, FirstLook* first_look);
  [[nodiscard]] conflict::TableVerdict compare(const conflict::TableName& name, const RowDifferenceSink& on_differences,
                                               const ProgressSink& on_progress, FirstLook* first_look);
  void set_sessions_up();

  PgClient& primary_;
  PgClient& mirror_;
  std::int64_t chunk_rows_;
  PointSnapshots point_;
  Catalog primary_catalog_;
  Catalog mirror_catalog_;
};

/// Both rows sets of `sql`, run on both servers at once.
struct BothRows {
  std::vector<PgClient::Row> primary;
  std::vector<PgClient::Row> mirror;
};
[[nodiscard]] BothRows query_both(PgClient& primary, PgClient& mirror, const std::string& sql,
                                  const std::vector<std::string>& parameters = {});

/// The text of a column; "" for NULL.
[[nodiscard]] std::string text_of(const PgClient::Row& row, std::size_t column);
/// The result of conflict::full_hash_query(), or of a query of the same shape.
[[nodiscard]] conflict::RangeChecksum full_hash_of(const std::vector<PgClient::Row>& rows);
/// A column holding an integer. Throws std::runtime_error for anything else.
[[nodiscard]] std::int64_t number_of(const PgClient::Row& row, std::size_t column);

}  // namespace pgdual::jobs
