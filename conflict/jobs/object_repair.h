#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/database_objects.h"
#include "conflict/resolution.h"
#include "conflict/jobs/mirror_writer.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/verifier.h"

/// `pgdual reconcile`'s repairs of what is not a table or a sequence: large objects copied to the
/// mirror with their OIDs, materialized views refreshed there, and the relations it cannot compare
/// named (docs/reconcile.md). The plan's text and statements are conflict/large_objects.h and
/// conflict/database_objects.h.
namespace pgdual::jobs {

/// What reconcile must know of the repairs: whether there was something to do, and whether
/// something is left to an operator.
struct ObjectRepairOutcome {
  bool something = false;
  bool by_hand = false;
};

/// Reads through the comparison's connections (Verifier's) and, with --apply, writes through
/// reconcile's MirrorWriter, one transaction per object. Not thread safe.
class ObjectRepair {
 public:
  /// `whole_database`: no --table was given. Views and large objects belong to no table, so they
  /// are reconciled only then. With `writer` (and the whole database: only views and large
  /// objects are written here), the repairs are made, not only planned.
  ObjectRepair(Verifier& verifier, bool whole_database, MirrorWriter* writer);

  /// `tables` without the relations that cannot be compared, which are kept to be named by
  /// repair(). Throws PgClientError.
  [[nodiscard]] std::vector<conflict::TableName> comparable(const std::vector<conflict::TableName>& tables);

  /// Names the relations not compared, and plans (or makes) the repairs of differing views and
  /// large objects, printing each to `out`. Call it once the tables are repaired: a view is
  /// refreshed from the mirror's tables. Throws PgClientError when the catalogs cannot be read.
  ObjectRepairOutcome repair(std::FILE* out);

  /// Compares views and large objects again, printing what still differs. Unless the large objects
  /// were compared and are identical, removes from `scope.identical` the tables that may hold their
  /// OIDs (conflict::may_reference_large_objects()), so that no conflict about them is resolved.
  /// Returns whether everything compared is identical. Throws PgClientError.
  [[nodiscard]] bool verify_again(conflict::VerifiedScope& scope, std::FILE* out);

 private:
  void repair_large_objects(const conflict::LargeObjectDifferences& differences, conflict::LargeObjectPlan& plan);
  void copy_large_object(conflict::Oid oid, bool exists_on_mirror);

  Verifier& verifier_;
  bool whole_database_;
  MirrorWriter* writer_;  ///< nullptr: plan only
  std::vector<conflict::NotCompared> not_compared_;
};

}  // namespace pgdual::jobs
