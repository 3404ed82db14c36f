#include "conflict/jobs/reconcile_command.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/reconcile.h"
#include "conflict/verify.h"
#include "conflict/jobs/conflict_resolver.h"
#include "conflict/jobs/object_repair.h"
#include "conflict/jobs/verifier.h"
#include "protocol/sqlstate.h"

namespace pgdual::jobs {
namespace {

using conflict::Key;
using conflict::Side;
using conflict::TableName;
using conflict::TablePlan;
using conflict::TableSchema;

constexpr int kSomethingLeft = 1;
constexpr int kUsageError = 2;

constexpr std::array<std::string_view, 2> kSwitches{"--dry-run", "--apply"};

/// Digest counts fetched per round trip, for tables without a key.
constexpr int kDigestFetchRows = 5000;
/// Differing digests repaired per transaction.
constexpr std::size_t kDigestBatch = 500;
/// A foreign key violation: the referenced rows are not there yet, or still referenced.
constexpr std::string_view kForeignKeyViolation = protocol::sqlstate::kForeignKeyViolation;

constexpr std::string_view kUsage =
    "usage: pgdual reconcile --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
    "                        [--dry-run | --apply]\n"
    "  --dry-run (the default) prints what would change on the mirror; --apply changes it\n";

/// Changes the mirror, in transactions of its own: the connection the comparison reads through
/// stays in its read-only snapshot.
class MirrorWriter {
 public:
  MirrorWriter(const config::BackendConfig& mirror, const config::UserConfig& user, const std::string& database)
      : client_{mirror, user, database} {
    client_.execute(std::string{kComparableSessionSettings});
  }

  /// Runs `work` in one transaction, rolled back when it throws.
  void transaction(const std::function<void(PgClient&)>& work) {
    client_.execute("BEGIN");
    try {
      work(client_);
      client_.execute("COMMIT");
    } catch (...) {
      try {
        client_.execute("ROLLBACK");
      } catch (const PgClientError&) {
        // The connection is gone: the error being thrown says why.
      }
      throw;
    }
  }

 private:
  PgClient client_;
};

std::vector<std::string> flattened(std::span<const Key> keys) {
  std::vector<std::string> values;
  for (const auto& key : keys) values.insert(values.end(), key.begin(), key.end());
  return values;
}

template <class Item, class Work>
void in_slices(std::span<const Item> items, std::size_t slice, const Work& work) {
  for (std::size_t first = 0; first < items.size(); first += slice) {
    work(items.subspan(first, std::min(slice, items.size() - first)));
  }
}

/// Copies rows of a keyed table to the mirror as verify finds them, a batch per transaction, and
/// adds the keys to `plan` once their transaction committed.
class KeyedRepair {
 public:
  KeyedRepair(const TableSchema& primary, PgClient& primary_client, MirrorWriter& writer, TablePlan& plan)
      : queries_{primary}, primary_{primary_client}, writer_{writer}, plan_{plan} {}

  void add(const conflict::RowDifferences& differences) {
    copy_.insert(copy_.end(), differences.missing_on_mirror.begin(), differences.missing_on_mirror.end());
    copy_.insert(copy_.end(), differences.differing.begin(), differences.differing.end());
    remove_.insert(remove_.end(), differences.extra_on_mirror.begin(), differences.extra_on_mirror.end());
    missing_.insert(missing_.end(), differences.missing_on_mirror.begin(), differences.missing_on_mirror.end());
    differing_.insert(differing_.end(), differences.differing.begin(), differences.differing.end());
    if (copy_.size() + remove_.size() >= queries_.keys_per_statement()) flush();
  }

  void flush() {
    if (copy_.empty() && remove_.empty()) return;
    try {
      // Deletes first, each kind in its own transaction: a row extra on the mirror may hold a
      // unique value a missing row needs, and may be what keeps another table's delete from going
      // through, while an insert may wait for another table's rows.
      writer_.transaction([&](PgClient& mirror) {
        in_slices<Key>(remove_, queries_.keys_per_statement(), [&](std::span<const Key> keys) {
          const auto values = flattened(keys);
          mirror.execute(queries_.delete_rows(keys.size()), PgClient::Row{values.begin(), values.end()});
        });
      });
      plan_.remove.add(std::exchange(remove_, {}));
      writer_.transaction([&](PgClient& mirror) {
        in_slices<Key>(copy_, queries_.keys_per_statement(), [&](std::span<const Key> keys) {
          const auto rows = primary_.query(queries_.select_rows(keys.size()), flattened(keys));
          in_slices<PgClient::Row>(rows, queries_.rows_per_statement(), [&](std::span<const PgClient::Row> slice) {
            PgClient::Row values;
            for (const auto& row : slice) values.insert(values.end(), row.begin(), row.end());
            mirror.execute(queries_.upsert(slice.size()), values);
          });
        });
      });
    } catch (const PgClientError& error) {
      failed_sqlstate_ = error.sqlstate();
      throw;
    }
    copy_.clear();
    plan_.insert.add(std::exchange(missing_, {}));
    plan_.update.add(std::exchange(differing_, {}));
  }

  [[nodiscard]] const std::string& failed_sqlstate() const noexcept { return failed_sqlstate_; }

 private:
  conflict::KeyedRepairQueries queries_;
  PgClient& primary_;
  MirrorWriter& writer_;
  TablePlan& plan_;
  std::vector<Key> copy_;  ///< missing_ and differing_, in the order found
  std::vector<Key> remove_;
  std::vector<Key> missing_;
  std::vector<Key> differing_;
  std::string failed_sqlstate_;
};

/// Repairs a table without a key by whole-row digests (conflict::DigestRepairQueries), or only
/// counts what it would change when there is no writer.
class DigestRepair {
 public:
  DigestRepair(Verifier& verifier, const TableSchema& ours, const TableSchema& theirs, MirrorWriter* writer)
      : queries_{ours, conflict::compared_columns(ours, theirs)},
        primary_{verifier.client(Side::primary)},
        mirror_{verifier.client(Side::mirror)},
        writer_{writer} {}

  void run(TablePlan& plan) {
    const Snapshot primary_snapshot{primary_};
    const Snapshot mirror_snapshot{mirror_};
    const auto declare = "DECLARE pgdual_digests NO SCROLL CURSOR FOR " + queries_.digest_counts();
    primary_.execute(declare);
    mirror_.execute(declare);
    conflict::DigestCountMerge merge;
    std::vector<conflict::DigestSurplus> batch;
    while (!merge.finished()) {
      for (const auto side : {Side::primary, Side::mirror}) {
        if (merge.needs(side)) fetch(side, merge);
      }
      for (auto& surplus : merge.take()) batch.push_back(std::move(surplus));
      if (batch.size() >= kDigestBatch) repair(std::exchange(batch, {}), plan);
    }
    repair(std::move(batch), plan);
  }

 private:
  void fetch(Side side, conflict::DigestCountMerge& merge) {
    auto& client = side == Side::primary ? primary_ : mirror_;
    const auto rows = client.query("FETCH " + std::to_string(kDigestFetchRows) + " FROM pgdual_digests");
    std::vector<conflict::DigestCount> counts;
    for (const auto& row : rows) counts.push_back({.digest = text_of(row, 0), .rows = number_of(row, 1)});
    merge.add(side, std::move(counts), rows.size() < static_cast<std::size_t>(kDigestFetchRows));
  }

  void repair(std::vector<conflict::DigestSurplus> batch, TablePlan& plan) {
    if (batch.empty()) return;
    if (writer_ != nullptr) write(batch);
    for (const auto& surplus : batch) {
      if (surplus.surplus > 0) plan.copies_inserted += static_cast<std::uint64_t>(surplus.surplus);
      if (surplus.surplus < 0) plan.copies_deleted += static_cast<std::uint64_t>(-surplus.surplus);
    }
  }

  void write(const std::vector<conflict::DigestSurplus>& batch) {
    std::vector<std::string> wanted;
    for (const auto& surplus : batch) {
      if (surplus.surplus > 0) wanted.push_back(surplus.digest);
    }
    std::map<std::string, PgClient::Row> rows;
    if (!wanted.empty()) {
      for (auto& row : primary_.query(queries_.rows_with_digests(), {"{" + conflict::join(wanted, ",") + "}"})) {
        auto digest = text_of(row, 0);
        row.erase(row.begin());
        rows.emplace(std::move(digest), std::move(row));
      }
    }
    writer_->transaction([&](PgClient& mirror) {
      for (const auto& surplus : batch) {
        if (surplus.surplus < 0) {
          mirror.execute(queries_.delete_copies(), {surplus.digest, std::to_string(-surplus.surplus)});
        } else if (const auto row = rows.find(surplus.digest); row != rows.end()) {
          auto values = row->second;
          values.emplace_back(std::to_string(surplus.surplus));
          mirror.execute(queries_.insert_copies(), values);
        }
      }
    });
  }

  conflict::DigestRepairQueries queries_;
  PgClient& primary_;
  PgClient& mirror_;
  MirrorWriter* writer_;
};

void run_schema_repairs(const std::vector<conflict::SchemaRepair>& repairs, bool after_rows, MirrorWriter& writer) {
  const auto due = [&](const conflict::SchemaRepair& repair) {
    return !repair.statement.empty() && repair.after_rows == after_rows;
  };
  if (std::ranges::none_of(repairs, due)) return;
  writer.transaction([&](PgClient& mirror) {
    for (const auto& repair : repairs) {
      if (due(repair)) mirror.execute(repair.statement);
    }
  });
}

/// Plans one table's repairs and, with a writer, makes them.
class TableReconciler {
 public:
  TableReconciler(Verifier& verifier, MirrorWriter* writer) : verifier_{verifier}, writer_{writer} {}

  /// Adds to `plan` what it finds, and with a writer what it changed: rows count across tries.
  /// `failed_sqlstate` receives the SQLSTATE of an error that stopped the table, if any.
  void reconcile(TablePlan& plan, std::string& failed_sqlstate) {
    const auto& name = plan.table;
    plan.error.clear();
    const auto* ours = verifier_.schema(Side::primary, name);
    const auto* theirs = verifier_.schema(Side::mirror, name);
    if (ours == nullptr || theirs == nullptr) {
      plan.schema = conflict::plan_schema_repairs(name, verifier_.compare_table(name).schema);
      return;
    }
    // A table tried again keeps the schema repairs its first try made.
    if (auto repairs = conflict::plan_schema_repairs(name, conflict::compare_schemas(*ours, *theirs));
        !repairs.empty() || plan.schema.empty()) {
      plan.schema = std::move(repairs);
    }
    try {
      if (writer_ != nullptr) {
        run_schema_repairs(plan.schema, false, *writer_);
        verifier_.read_catalogs();
      }
      copy_rows(plan, failed_sqlstate);
      if (writer_ != nullptr) {
        run_schema_repairs(plan.schema, true, *writer_);
        verifier_.read_catalogs();
      }
    } catch (const PgClientError& error) {
      plan.error = error.what();
      failed_sqlstate = error.sqlstate();
    } catch (const std::exception& error) {
      plan.error = error.what();
    }
  }

 private:
  void copy_rows(TablePlan& plan, std::string& failed_sqlstate) {
    const auto& ours = *verifier_.schema(Side::primary, plan.table);
    const auto& theirs = *verifier_.schema(Side::mirror, plan.table);
    std::optional<KeyedRepair> keyed;
    if (writer_ != nullptr && conflict::choose_row_method(&ours, &theirs) == conflict::RowMethod::by_key) {
      keyed.emplace(ours, verifier_.client(Side::primary), *writer_, plan);
    }
    const auto on_differences = [&](const conflict::RowDifferences& differences) {
      if (keyed) keyed->add(differences);
    };
    auto verdict = verifier_.compare_table(plan.table, on_differences);
    if (keyed && verdict.error.empty()) keyed->flush();
    if (!verdict.error.empty()) {
      if (keyed) failed_sqlstate = keyed->failed_sqlstate();
      throw std::runtime_error{verdict.error};
    }
    plan.method = verdict.method;
    if (!keyed) {
      plan.insert = std::move(verdict.missing_on_mirror);
      plan.update = std::move(verdict.differing_rows);
      plan.remove = std::move(verdict.extra_on_mirror);
    }
    if (verdict.contents_differ) DigestRepair{verifier_, ours, theirs, writer_}.run(plan);
  }

  Verifier& verifier_;
  MirrorWriter* writer_;
};

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

/// Reconciles every table; with a writer, tables stopped by a foreign key are tried again after
/// the others, as long as each round gets further.
std::vector<TablePlan> reconcile_tables(Verifier& verifier, MirrorWriter* writer,
                                        const std::vector<TableName>& tables) {
  std::map<TableName, TablePlan> plans;
  TableReconciler reconciler{verifier, writer};
  auto pending = tables;
  while (!pending.empty()) {
    std::vector<TableName> again;
    for (const auto& name : pending) {
      std::string failed_sqlstate;
      auto& plan = plans.try_emplace(name, TablePlan{.table = name}).first->second;
      reconciler.reconcile(plan, failed_sqlstate);
      if (writer != nullptr && failed_sqlstate == kForeignKeyViolation) again.push_back(name);
    }
    if (again.size() == pending.size()) break;
    pending = std::move(again);
  }
  std::vector<TablePlan> ordered;
  for (auto& [name, plan] : plans) ordered.push_back(std::move(plan));
  return ordered;
}

/// What the verification after the repairs found.
struct FinalVerification {
  bool identical = true;
  conflict::VerifiedScope scope;
};

/// Verifies every table and sequence again, printing what still differs.
FinalVerification verify_again(Verifier& verifier, const std::string& database, const std::vector<TableName>& tables,
                               bool tables_named, std::FILE* out) {
  FinalVerification result{.identical = true,
                           .scope = {.database = database, .compared = tables, .identical = {},
                                     .verified_from = now_as_timestamp()}};
  verifier.read_catalogs();
  for (const auto& table : tables) {
    auto verdict = verifier.compare_table(table);
    verifier.find_orphans(verdict);
    if (verdict.identical()) {
      result.scope.identical.push_back(table);
    } else {
      print(out, "still differs: " + conflict::render_table(verdict));
      result.identical = false;
    }
  }
  for (const auto& sequence : verifier.compare_sequences(tables, tables_named)) {
    if (!sequence.identical()) print(out, "still differs: " + conflict::render_sequence(sequence));
    result.identical = result.identical && sequence.identical();
  }
  return result;
}

int reconcile(const config::ProxyConfig& config, const config::UserConfig& user, const ComparisonOptions& options,
              bool apply, std::FILE* out) {
  PgClient primary{config.primary_backend(), user, options.database};
  PgClient mirror{config.mirror_backend(), user, options.database};
  Verifier verifier{primary, mirror, options.chunk_rows};
  std::optional<ObjectRepair::MirrorLogin> object_writer;
  if (apply) object_writer.emplace(config.mirror_backend(), user, options.database);
  ObjectRepair objects{verifier, options.tables.empty(), object_writer};
  const auto tables = objects.comparable(verifier.tables(options.tables));
  std::optional<MirrorWriter> writer;
  if (apply) writer.emplace(config.mirror_backend(), user, options.database);
  print(out, "database \"" + options.database + "\": mirror " + config.mirror_backend().name +
                 " made equal to primary " + config.primary_backend().name +
                 (apply ? "\n" : " (dry run: nothing is changed)\n"));

  bool something = false;
  bool by_hand = false;
  for (const auto& plan : reconcile_tables(verifier, writer ? &*writer : nullptr, tables)) {
    if (plan.empty()) continue;
    print(out, conflict::render_plan(plan, apply));
    something = true;
    by_hand = by_hand || plan.needs_operator();
  }
  for (const auto& sequence : verifier.compare_sequences(tables, !options.tables.empty())) {
    if (sequence.identical()) continue;
    const auto statement = conflict::sequence_repair(sequence);
    if (apply && statement) writer->transaction([&](PgClient& client) { client.execute(*statement); });
    print(out, conflict::render_sequence_repair(sequence, apply));
    something = true;
    by_hand = by_hand || !statement;
  }
  const auto repaired = objects.repair(out);
  something = something || repaired.something;
  by_hand = by_hand || repaired.by_hand;
  if (!apply) {
    print(out,
          something ? "reconcile: changes planned; run with --apply to make them\n" : "reconcile: nothing to do\n");
    return something ? kSomethingLeft : 0;
  }
  auto verified = verify_again(verifier, options.database, tables, !options.tables.empty(), out);
  verified.identical = objects.verify_again(verified.scope, out) && verified.identical;
  const bool resolved = resolve_conflicts(config.conflicts, verified.scope, out);
  print(out, verified.identical ? (something ? "reconcile: done; verified identical\n" : "reconcile: nothing to do\n")
                                : "reconcile: differences remain\n");
  return verified.identical && !by_hand && resolved ? 0 : kSomethingLeft;
}

}  // namespace

int run_reconcile_command(std::span<char*> args, std::FILE* out, std::FILE* err) {
  ComparisonOptions options;
  auto problem = parse_comparison_arguments(args, kSwitches, options);
  const bool apply = std::ranges::find(options.switches, "--apply") != options.switches.end();
  const bool dry_run = std::ranges::find(options.switches, "--dry-run") != options.switches.end();
  if (problem.empty() && apply && dry_run) problem = "--dry-run and --apply exclude each other";
  if (!problem.empty()) {
    std::fprintf(err, "pgdual reconcile: %s\n%s", problem.c_str(), kUsage.data());
    return kUsageError;
  }
  const auto login = load_comparison_login(options, "reconcile", err);
  if (!login) return kUsageError;
  try {
    return reconcile(login->config, login->user, options, apply, out);
  } catch (const std::exception& error) {
    std::fprintf(err, "pgdual reconcile: %s\n", error.what());
    return kUsageError;
  }
}

}  // namespace pgdual::jobs
