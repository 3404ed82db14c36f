#include "conflict/jobs/reconcile_command.h"

#include <algorithm>
#include <array>
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
#include "conflict/jobs/digest_repair.h"
#include "conflict/jobs/keyed_repair.h"
#include "conflict/jobs/mirror_writer.h"
#include "conflict/jobs/object_repair.h"
#include "conflict/jobs/verifier.h"
#include "protocol/sqlstate.h"

namespace pgdual::jobs {
namespace {

using conflict::Side;
using conflict::TableName;
using conflict::TablePlan;
using conflict::TableSchema;

constexpr int kSomethingLeft = 1;
constexpr int kUsageError = 2;

constexpr std::array<std::string_view, 2> kSwitches{"--dry-run", "--apply"};

/// A foreign key added after the rows found rows that reference none: the referenced table's
/// rows are not repaired yet. Repairs themselves check no foreign key (MirrorWriter).
constexpr std::string_view kForeignKeyViolation = protocol::sqlstate::kForeignKeyViolation;

/// What --apply repairs through, apart from the comparison's snapshots.
struct RepairSessions {
  RepairSessions(const config::ProxyConfig& config, const config::UserConfig& user, const std::string& database)
      : mirror{config.mirror_backend(), user, database}, primary{config.primary_backend(), user, database} {
    primary.execute(std::string{kComparableSessionSettings});
  }

  MirrorWriter mirror;
  PgClient primary;  ///< the primary's latest rows, outside any snapshot
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

/// Plans one table's repairs and, with repair sessions, makes them.
class TableReconciler {
 public:
  TableReconciler(Verifier& verifier, RepairSessions* repairs)
      : verifier_{verifier}, repairs_{repairs}, writer_{repairs != nullptr ? &repairs->mirror : nullptr} {}

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
      keyed.emplace(ours, repairs_->primary, *writer_, plan);
    }
    const auto on_differences = [&](const conflict::RowDifferences& differences) {
      if (keyed) keyed->add(differences);
    };
    auto verdict = verifier_.compare_table(plan.table, on_differences);
    if (keyed && verdict.error.empty()) keyed->finish();
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
    if (verdict.contents_differ) {
      DigestRepair{verifier_, ours, theirs, writer_, repairs_ != nullptr ? &repairs_->primary : nullptr}.run(plan);
    }
  }

  Verifier& verifier_;
  RepairSessions* repairs_;
  MirrorWriter* writer_;
};

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

/// Reconciles every table; with repair sessions, tables stopped by a foreign key (a constraint
/// added after the rows, which checks them all) are tried again after the others, as long as each
/// round gets further.
std::vector<TablePlan> reconcile_tables(Verifier& verifier, RepairSessions* repairs,
                                        const std::vector<TableName>& tables) {
  std::map<TableName, TablePlan> plans;
  TableReconciler reconciler{verifier, repairs};
  auto pending = tables;
  while (!pending.empty()) {
    std::vector<TableName> again;
    for (const auto& name : pending) {
      std::string failed_sqlstate;
      auto& plan = plans.try_emplace(name, TablePlan{.table = name}).first->second;
      reconciler.reconcile(plan, failed_sqlstate);
      if (repairs != nullptr && failed_sqlstate == kForeignKeyViolation) again.push_back(name);
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
  std::optional<RepairSessions> repairs;
  if (apply) repairs.emplace(config, user, options.database);
  ObjectRepair objects{verifier, options.tables.empty(), repairs ? &repairs->mirror : nullptr};
  const auto tables = objects.comparable(verifier.tables(options.tables));
  print(out, "database \"" + options.database + "\": mirror " + config.mirror_backend().name +
                 " made equal to primary " + config.primary_backend().name +
                 (apply ? "\n" : " (dry run: nothing is changed)\n"));

  bool something = false;
  bool by_hand = false;
  for (const auto& plan : reconcile_tables(verifier, repairs ? &*repairs : nullptr, tables)) {
    if (plan.empty()) continue;
    print(out, conflict::render_plan(plan, apply));
    something = true;
    by_hand = by_hand || plan.needs_operator();
  }
  for (const auto& sequence : verifier.compare_sequences(tables, !options.tables.empty())) {
    if (sequence.identical()) continue;
    const auto statement = conflict::sequence_repair(sequence);
    if (apply && statement) repairs->mirror.transaction([&](PgClient& client) { client.execute(*statement); });
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

CommandHelp reconcile_help() {
  return {.name = "reconcile",
          .synopsis =
              "usage: pgdual reconcile --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
              "                        [--dry-run | --apply]\n",
          .details = "Makes the mirror's tables, rows and sequences the primary's (docs/reconcile.md).\n" +
                     std::string{kComparisonOptionsHelp} +
                     "  --dry-run          print what would change on the mirror, and change nothing (the default)\n"
                     "  --apply            change it, then verify again\n"
                     "Exit code: 0 nothing (left) to do, 1 something to do or left, 2 bad arguments or setup.\n"};
}

int run_reconcile_command(std::span<char*> args, std::FILE* out, std::FILE* err) {
  if (asks_for_help(args)) return print_help(reconcile_help(), out);
  ComparisonOptions options;
  auto problem = parse_comparison_arguments(args, kSwitches, options);
  const bool apply = std::ranges::find(options.switches, "--apply") != options.switches.end();
  const bool dry_run = std::ranges::find(options.switches, "--dry-run") != options.switches.end();
  if (problem.empty() && apply && dry_run) problem = "--dry-run and --apply exclude each other";
  if (!problem.empty()) return usage_error(reconcile_help(), problem, err);
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
