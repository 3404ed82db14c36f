#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "conflict/database_objects.h"
#include "conflict/large_objects.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/verifier.h"

/// The part of `pgdual verify` and `pgdual reconcile` that compares, on both backends, what is not
/// a table or a sequence: materialized views, large objects, and the relations that cannot be
/// compared (conflict/database_objects.h). docs/verify.md describes the comparison.
namespace pgdual::jobs {

/// One OID range's large objects that differ, handed over as they are found (reconcile repairs
/// them at once), before the verdict's lists cut them at conflict::kMaxListedKeys.
using LargeObjectSink = std::function<void(const conflict::LargeObjectDifferences&)>;

/// Reads both backends through connections set up as Verifier sets them up
/// (kComparableSessionSettings), outside any transaction. Not thread safe.
class ObjectVerifier {
 public:
  /// With `points`, views and large objects are compared in those snapshots (verify at one
  /// point); without, each comparison in snapshots of its own.
  ObjectVerifier(PgClient& primary, PgClient& mirror, PointSnapshots points = {})
      : primary_{primary}, mirror_{mirror}, points_{std::move(points)} {}

  /// The relations either backend has that cannot be compared, sorted: all of them when
  /// `whole_database`, else those among `tables` (the --table names). Throws PgClientError.
  [[nodiscard]] std::vector<conflict::NotCompared> not_compared(const std::vector<conflict::TableName>& tables,
                                                                bool whole_database);

  /// Every materialized view of either backend, sorted: definitions and whether populated, and
  /// the rows of those whose rows_comparable(). A view whose rows could not be read has the error
  /// in its verdict. Throws PgClientError when the catalogs cannot be read.
  [[nodiscard]] std::vector<conflict::MaterializedViewVerdict> compare_materialized_views();

  /// Every large object of either backend, by OID and content digest, conflict::kLargeObjectsPerChunk
  /// OIDs of the primary at a time; each range's differences go to `on_differences` too. A failed
  /// query (or an error `on_differences` throws) stops the comparison and becomes the verdict's error.
  [[nodiscard]] conflict::LargeObjectVerdict compare_large_objects(const LargeObjectSink& on_differences = {});

 private:
  [[nodiscard]] std::vector<conflict::MaterializedView> materialized_views(PgClient& client);

  PgClient& primary_;
  PgClient& mirror_;
  PointSnapshots points_;
};

}  // namespace pgdual::jobs
