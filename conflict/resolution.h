#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/conflict_record.h"
#include "conflict/report.h"
#include "conflict/verify.h"

/// Which open conflicts are resolved, and the records that say so: `pgdual reconcile --apply`
/// resolves a conflict once every table it wrote is verified identical on both backends, and
/// `pgdual conflicts resolve` the conflicts an operator names. Every resolution record says who
/// resolved the conflict and why. Pure: records in, the resolution records to append out.
namespace pgdual::conflict {

/// The conflicts whose latest record is open, collected from a log read in order, and the ids
/// of those already resolved.
class OpenConflicts {
 public:
  /// Takes the next record of the log: the latest record of an id decides whether it is open.
  void add(const ConflictRecord& record);

  /// By id.
  [[nodiscard]] const std::map<std::string, ConflictRecord>& records() const noexcept { return open_; }
  /// Whether the latest record of `id` is a resolution.
  [[nodiscard]] bool resolved(const std::string& id) const { return resolved_.contains(id); }

 private:
  std::map<std::string, ConflictRecord> open_;
  std::set<std::string> resolved_;
};

/// Who reconcile's resolutions name as their resolver.
inline constexpr std::string_view kReconcileResolver = "pgdual reconcile";

/// What one reconciliation proved.
struct VerifiedScope {
  std::string database;
  std::vector<TableName> compared;   ///< every table the final verification compared
  std::vector<TableName> identical;  ///< of those, the ones it found identical
  /// When the final verification started: a conflict detected later may be a write it did not see.
  Timestamp verified_from;
};

/// How a conflict's table, as the statement named it ("t", "public.t", "db.public.t"), refers to
/// the compared tables: a qualified name to that table, an unqualified one to every compared
/// table of that name in any schema (the session's search_path is not known). None when the
/// name is not among them.
[[nodiscard]] std::vector<TableName> referred_tables(std::string_view written, const std::vector<TableName>& compared);

/// Whether `scope` settles `conflict`: it is of scope's database, was detected before the final
/// verification started, names at least one table, and every table it names refers to compared
/// tables that are all identical. A conflict of a database not recorded ("", older records) is
/// never settled.
[[nodiscard]] bool settles(const VerifiedScope& scope, const ConflictRecord& conflict);

/// For each open conflict `scope` settles, in detection order: a copy of its latest record with
/// resolution `resolved`, time `resolved_at` (RFC 3339), resolved by kReconcileResolver, with the
/// note "verified identical on both backends: " and the tables (schema.name) it wrote. The log is
/// append-only, so this new record with the same id is what resolves it; readers keep the first
/// detection time.
[[nodiscard]] std::vector<ConflictRecord> resolutions(const OpenConflicts& open, const VerifiedScope& scope,
                                                      std::string_view resolved_at);

/// An operator's resolution of the conflicts they name (`pgdual conflicts resolve`).
struct OperatorResolution {
  std::vector<std::string> ids;
  std::string by;      ///< who resolves them; not empty
  std::string reason;  ///< why; not empty
};

/// What an operator's resolution comes to.
struct OperatorOutcome {
  std::vector<ConflictRecord> records;  ///< the resolutions to append, in the order the ids were given
  std::vector<std::string> refused;     ///< "ID: why", for each id not resolved
};

/// Resolves each open conflict `request` names, each once: a copy of its latest record with
/// resolution `resolved`, time `resolved_at`, resolved by `request.by`, and `request.reason` as
/// the note. A conflict that names tables may be resolved too (repaired by hand), and its note
/// then begins "by hand, tables not verified by pgdual (t, u): ", so the log never
/// passes it off as verified. An id without a record, or whose conflict is resolved already,
/// is refused.
[[nodiscard]] OperatorOutcome operator_resolutions(const OpenConflicts& open, const OperatorResolution& request,
                                                   std::string_view resolved_at);

}  // namespace pgdual::conflict
