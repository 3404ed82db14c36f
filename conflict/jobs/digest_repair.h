#pragma once

#include <map>
#include <string>
#include <vector>

#include "conflict/reconcile.h"
#include "conflict/verify.h"
#include "conflict/jobs/mirror_writer.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/verifier.h"

namespace pgdual::jobs {

/// Repairs a table without a key by whole-row digests (conflict::DigestRepairQueries), or only
/// counts what it would change when there is no writer.
///
/// Such a table has no row identity: a row in flight cannot be told from a missing one. Before a
/// batch of digests changes, the mirror's table is locked against writes and each digest's copies
/// are counted again on both sides, the primary's latest rows: a digest whose surplus is no longer
/// the one the comparison found (a write landed meanwhile) is left alone. A surplus that holds
/// across both readings is repaired; one that a write still in flight then brings to the mirror
/// too is not told apart (docs/reconcile.md).
class DigestRepair {
 public:
  /// `primary_now`, with `writer`: a session on the primary outside any snapshot.
  DigestRepair(Verifier& verifier, const conflict::TableSchema& ours, const conflict::TableSchema& theirs,
               MirrorWriter* writer, PgClient* primary_now);

  void run(conflict::TablePlan& plan);

 private:
  void fetch(conflict::Side side, conflict::DigestCountMerge& merge);
  void repair(std::vector<conflict::DigestSurplus> batch, conflict::TablePlan& plan);
  /// Changes the mirror where the surplus holds; returns the surpluses it repaired.
  std::vector<conflict::DigestSurplus> write(const std::vector<conflict::DigestSurplus>& batch);
  /// Each digest's surplus on the primary now, `mirror` locked.
  std::map<std::string, std::int64_t> surplus_now(PgClient& mirror, const std::vector<std::string>& digests);
  std::map<std::string, PgClient::Row> primary_rows(const std::vector<std::string>& digests);

  conflict::DigestRepairQueries queries_;
  PgClient& primary_;
  PgClient& mirror_;
  MirrorWriter* writer_;
  PgClient* primary_now_;
};

}  // namespace pgdual::jobs
