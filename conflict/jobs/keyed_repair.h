#pragma once

#include <set>
#include <string>
#include <vector>

#include "conflict/reconcile.h"
#include "conflict/verify.h"
#include "conflict/jobs/mirror_writer.h"
#include "conflict/jobs/pg_client.h"

namespace pgdual::jobs {

/// Repairs the rows of a keyed table on the mirror as verify finds them differ, a batch of keys per
/// transaction, and adds to the plan what it changed once that transaction committed.
///
/// Verify's two snapshots are not taken at the same moment, so under live writes a key may differ
/// between them only because a write was in flight. Each key is therefore read again just before
/// it changes: its mirror row first, locked (FOR UPDATE) until the repair commits, then the
/// primary's latest row. A key whose rows agree by then is left alone. Once the mirror row is
/// locked, every later write of that key reaches the mirror after the repair, and every earlier one
/// is in the primary row read: the repair never undoes an acknowledged write. No primary row is
/// locked, so clients' writes never wait for reconcile, and no cross-server lock cycle can form.
///
/// Rows are upserted by key. When that hits another unique index (values moved between rows:
/// two patients' ids swapped against their MRNs), the batch instead deletes the rows it replaces
/// and inserts the primary's, and a row whose unique value a row of a later batch still holds
/// waits for finish(), by when that row has been repaired too.
class KeyedRepair {
 public:
  /// `primary_now`: a session on the primary outside any snapshot, to read its latest rows.
  KeyedRepair(const conflict::TableSchema& primary, PgClient& primary_now, MirrorWriter& writer,
              conflict::TablePlan& plan);

  void add(const conflict::RowDifferences& differences);
  /// Repairs the keys still queued, then those put off. Throws PgClientError when the mirror
  /// refuses a repair.
  void finish();

  /// The SQLSTATE of the error that stopped the repair; empty when none did.
  [[nodiscard]] const std::string& failed_sqlstate() const noexcept { return failed_sqlstate_; }

 private:
  /// What one transaction changed, for the plan once it committed.
  struct Changes {
    std::vector<conflict::Key> inserted;
    std::vector<conflict::Key> updated;
    std::vector<conflict::Key> removed;
    std::uint64_t agreed = 0;
  };

  void repair(std::vector<conflict::Key> keys, bool may_put_off);
  void repair_slice(PgClient& mirror, std::span<const conflict::Key> keys, bool may_put_off, Changes& changes);
  /// Deletes what the decision replaces and inserts the primary's rows, putting off those that
  /// collide with rows outside the batch.
  void replace(PgClient& mirror, const conflict::KeyedRepairDecision& decision, Changes& changes);
  void remove(PgClient& mirror, const std::vector<conflict::Key>& keys);
  void upsert(PgClient& mirror, const std::vector<conflict::RowText>& rows);
  void note(Changes changes);

  conflict::KeyedRepairQueries queries_;
  PgClient& primary_;
  MirrorWriter& writer_;
  conflict::TablePlan& plan_;
  std::vector<conflict::Key> queued_;
  std::vector<conflict::Key> put_off_;
  std::set<conflict::Key> put_off_updates_;  ///< put-off keys whose mirror rows differed, reported as updates
  std::string failed_sqlstate_;
};

}  // namespace pgdual::jobs
