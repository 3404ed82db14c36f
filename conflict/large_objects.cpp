#include "conflict/large_objects.h"

#include <algorithm>

namespace pgdual::conflict {
namespace {

const std::string kSlice = std::to_string(kLargeObjectSlice);

/// Whether the current user may read object `m`: lo_get would fail otherwise, and one failure
/// would stop the whole listing. PostgreSQL 15 has no has_largeobject_privilege().
const std::string kReadable =
    "(SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = CURRENT_USER) "
    "OR pg_catalog.current_setting('lo_compat_privileges')::pg_catalog.bool "
    "OR pg_catalog.pg_has_role(m.lomowner, 'USAGE') "
    "OR EXISTS (SELECT FROM pg_catalog.aclexplode(m.lomacl) AS a WHERE a.privilege_type = 'SELECT' "
    "AND (a.grantee = 0 OR pg_catalog.pg_has_role(a.grantee, 'USAGE')))";

/// The slices are read one by one and only their md5s are kept, so no object is held whole,
/// whatever its size (lo_get of a whole object fails beyond 1 GB).
const std::string kDigest =
    "(WITH RECURSIVE slices(at, size, digest) AS ("
    "SELECT 0::pg_catalog.int8, pg_catalog.length(s.part), pg_catalog.md5(s.part) "
    "FROM (SELECT pg_catalog.lo_get(m.oid, 0, " + kSlice + ") AS part) AS s "
    "UNION ALL SELECT p.at + " + kSlice + ", pg_catalog.length(s.part), pg_catalog.md5(s.part) FROM slices AS p, "
    "LATERAL (SELECT pg_catalog.lo_get(m.oid, p.at + " + kSlice + ", " + kSlice + ") AS part) AS s "
    "WHERE p.size = " + kSlice + ") "
    "SELECT pg_catalog.md5(pg_catalog.string_agg(slices.digest, '' ORDER BY slices.at)) FROM slices)";

std::string render_oids(std::string_view title, const OidList& oids, std::string_view note = {}) {
  if (oids.count() == 0) return {};
  std::string text = "  " + std::string{title} + ": " + plural(oids.count(), "large object") + std::string{note} + "\n";
  for (const auto oid : oids.listed()) text += "    " + std::to_string(oid) + "\n";
  if (oids.count() > oids.listed().size()) {
    text += "    ... and " + std::to_string(oids.count() - oids.listed().size()) + " more\n";
  }
  return text;
}

}  // namespace

std::string large_object_chunk_end_query() {
  return "SELECT m.oid FROM pg_catalog.pg_largeobject_metadata AS m WHERE m.oid > $1::pg_catalog.oid "
         "ORDER BY m.oid OFFSET " + std::to_string(kLargeObjectsPerChunk - 1) + " LIMIT 1";
}

std::string large_object_digests_query() {
  return "SELECT m.oid, CASE WHEN " + kReadable + " THEN " + kDigest +
         " END FROM pg_catalog.pg_largeobject_metadata AS m "
         "WHERE m.oid > $1::pg_catalog.oid AND m.oid <= $2::pg_catalog.oid ORDER BY m.oid";
}

bool LargeObjectDifferences::empty() const noexcept {
  return missing_on_mirror.empty() && extra_on_mirror.empty() && differing.empty() && unreadable.empty();
}

LargeObjectDifferences compare_large_objects(std::span<const LargeObjectDigest> primary,
                                             std::span<const LargeObjectDigest> mirror) {
  LargeObjectDifferences differences;
  auto ours = primary.begin();
  auto theirs = mirror.begin();
  while (ours != primary.end() || theirs != mirror.end()) {
    if (theirs == mirror.end() || (ours != primary.end() && ours->oid < theirs->oid)) {
      differences.missing_on_mirror.push_back((ours++)->oid);
    } else if (ours == primary.end() || theirs->oid < ours->oid) {
      differences.extra_on_mirror.push_back((theirs++)->oid);
    } else {
      if (!ours->digest || !theirs->digest) {
        differences.unreadable.push_back(ours->oid);
      } else if (*ours->digest != *theirs->digest) {
        differences.differing.push_back(ours->oid);
      }
      ++ours;
      ++theirs;
    }
  }
  return differences;
}

void OidList::add(std::span<const Oid> oids) {
  count_ += oids.size();
  const auto room = std::min(kMaxListedKeys - listed_.size(), oids.size());
  listed_.insert(listed_.end(), oids.begin(), oids.begin() + static_cast<std::ptrdiff_t>(room));
}

void LargeObjectVerdict::add(std::uint64_t primary_objects, std::uint64_t mirror_objects,
                             const LargeObjectDifferences& differences) {
  on_primary += primary_objects;
  on_mirror += mirror_objects;
  missing_on_mirror.add(differences.missing_on_mirror);
  extra_on_mirror.add(differences.extra_on_mirror);
  differing.add(differences.differing);
  unreadable.add(differences.unreadable);
}

bool LargeObjectVerdict::identical() const noexcept {
  return error.empty() && missing_on_mirror.count() == 0 && extra_on_mirror.count() == 0 &&
         differing.count() == 0 && unreadable.count() == 0;
}

std::uint64_t LargeObjectVerdict::identical_count() const noexcept {
  return on_primary - missing_on_mirror.count() - differing.count() - unreadable.count();
}

std::string render_large_objects(const LargeObjectVerdict& verdict) {
  if (verdict.total() == 0 && verdict.identical()) return {};
  std::string text = "large objects: " + std::string{verdict.identical() ? "identical" : "differs"};
  if (verdict.error.empty()) {
    text += ", " + (verdict.on_primary == verdict.on_mirror
                        ? plural(verdict.on_primary, "object")
                        : std::to_string(verdict.on_primary) + " on primary, " + std::to_string(verdict.on_mirror) +
                              " on mirror") +
            ", compared by OID and content digest";
  }
  text += "\n";
  if (!verdict.error.empty()) text += "  not compared: " + verdict.error + "\n";
  text += render_oids("missing on mirror", verdict.missing_on_mirror);
  text += render_oids("extra on mirror", verdict.extra_on_mirror);
  text += render_oids("differing contents", verdict.differing);
  text += render_oids("not readable", verdict.unreadable, " (no SELECT on it on one side or both)");
  return text;
}

bool LargeObjectPlan::empty() const noexcept {
  return copy.count() == 0 && overwrite.count() == 0 && remove.count() == 0 && unreadable.count() == 0 &&
         error.empty();
}

std::string render_large_object_plan(const LargeObjectPlan& plan, bool applied) {
  std::vector<std::string> summary;
  const auto count = [&](const OidList& oids, std::string_view planned, std::string_view done) {
    if (oids.count() > 0) summary.push_back(std::string{applied ? done : planned} + " " + std::to_string(oids.count()));
  };
  count(plan.copy, "copy", "copied");
  count(plan.overwrite, "overwrite", "overwrote");
  count(plan.remove, "delete", "deleted");
  std::string text =
      "large objects: " + (summary.empty() ? std::string{"nothing pgdual can change"} : join(summary, ", ")) + "\n";
  text += render_oids(applied ? "copied (were missing on mirror)" : "copy (missing on mirror)", plan.copy);
  text += render_oids(applied ? "overwritten (differed)" : "overwrite (differing)", plan.overwrite);
  text += render_oids(applied ? "deleted (were extra on mirror)" : "delete (extra on mirror)", plan.remove);
  text += render_oids("by hand", plan.unreadable, " (no SELECT on it: grant it, or reconcile as their owner)");
  if (!plan.error.empty()) text += "  not reconciled: " + plan.error + "\n";
  return text;
}

std::string_view create_large_object() noexcept {
  return "SELECT pg_catalog.lo_create($1::pg_catalog.oid)";
}

std::string_view truncate_large_object() noexcept {
  // INV_WRITE: 0x20000. The descriptor closes with the transaction.
  return "SELECT pg_catalog.lo_truncate64(pg_catalog.lo_open($1::pg_catalog.oid, 131072), 0)";
}

std::string_view read_large_object_slice() noexcept {
  static_assert(kLargeObjectSlice == 1048576);
  return "SELECT pg_catalog.lo_get($1::pg_catalog.oid, $2::pg_catalog.int8, 1048576)";
}

std::string_view write_large_object_slice() noexcept {
  return "SELECT pg_catalog.lo_put($1::pg_catalog.oid, $2::pg_catalog.int8, $3::pg_catalog.bytea)";
}

std::string_view unlink_large_object() noexcept { return "SELECT pg_catalog.lo_unlink($1::pg_catalog.oid)"; }

bool may_reference_large_objects(const TableSchema& table) {
  return std::ranges::any_of(table.columns, [](const ColumnSchema& column) {
    return column.type == "oid" || column.type == "lo" || column.type.ends_with(".lo");
  });
}

}  // namespace pgdual::conflict
