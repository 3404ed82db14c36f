#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/verify.h"

/// Large objects in `pgdual verify` and `pgdual reconcile`, the pure part: the queries that list
/// them with a content digest the server computes, the comparison of both sides' listings, and
/// the text. An object is known by its OID, which is its name (tables hold it), never by its
/// content: no content enters this model. The I/O is conflict/jobs/object_verifier.h and
/// conflict/jobs/object_repair.h; docs/verify.md describes the whole.
namespace pgdual::conflict {

using Oid = std::uint32_t;

/// How many large objects one listing query covers: each is read whole on the server.
inline constexpr std::int64_t kLargeObjectsPerChunk = 500;

/// The slice the digest and the copy read at a time with lo_get: no object is held whole.
inline constexpr std::int64_t kLargeObjectSlice = 1024 * 1024;

/// The last OID of the chunk that starts above $1 (an OID as text) on this server: the
/// kLargeObjectsPerChunk-th OID above $1. No row when fewer are left.
[[nodiscard]] std::string large_object_chunk_end_query();

/// Every large object with an OID above $1 and up to $2 (both OIDs as text), in OID order: its OID,
/// then the md5 of the md5s of its kLargeObjectSlice slices (NULL when the user may not read it:
/// no SELECT on it, not its owner's member, not superuser, lo_compat_privileges off).
[[nodiscard]] std::string large_object_digests_query();

/// The highest OID: the upper bound of the last chunk.
inline constexpr Oid kMaxOid = 4'294'967'295U;

/// One large object on one backend.
struct LargeObjectDigest {
  Oid oid = 0;
  std::optional<std::string> digest;  ///< std::nullopt: the user may not read it

  friend bool operator==(const LargeObjectDigest&, const LargeObjectDigest&) = default;
};

/// The large objects of one OID range that differ, in OID order.
struct LargeObjectDifferences {
  std::vector<Oid> missing_on_mirror;
  std::vector<Oid> extra_on_mirror;
  std::vector<Oid> differing;   ///< on both, with other contents
  std::vector<Oid> unreadable;  ///< on both, and the user may not read it on one side or both

  [[nodiscard]] bool empty() const noexcept;
};

/// Matches two listings of one range, each in OID order.
[[nodiscard]] LargeObjectDifferences compare_large_objects(std::span<const LargeObjectDigest> primary,
                                                           std::span<const LargeObjectDigest> mirror);

/// OIDs of one kind: all counted, the first kMaxListedKeys kept.
class OidList {
 public:
  void add(std::span<const Oid> oids);
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] const std::vector<Oid>& listed() const noexcept { return listed_; }

 private:
  std::uint64_t count_ = 0;
  std::vector<Oid> listed_;
};

/// What verify found of the large objects: built chunk by chunk with add().
struct LargeObjectVerdict {
  std::uint64_t on_primary = 0;
  std::uint64_t on_mirror = 0;
  OidList missing_on_mirror{};
  OidList extra_on_mirror{};
  OidList differing{};
  OidList unreadable{};
  std::string error{};  ///< why they could not all be compared; empty when they were

  /// One range: `primary_objects` and `mirror_objects` in it, and what differs.
  void add(std::uint64_t primary_objects, std::uint64_t mirror_objects, const LargeObjectDifferences& differences);
  [[nodiscard]] bool identical() const noexcept;
  /// Objects on either side: the summary's count.
  [[nodiscard]] std::uint64_t total() const noexcept { return on_primary + extra_on_mirror.count(); }
  /// Of total(), those on both sides with the same contents.
  [[nodiscard]] std::uint64_t identical_count() const noexcept;
};

/// `large objects: identical, 3 objects, compared by OID and content digest`, or `differs` and
/// each kind's OIDs indented under it; nothing when neither side has any. OIDs only.
[[nodiscard]] std::string render_large_objects(const LargeObjectVerdict& verdict);

/// What reconcile did, or plans, for the large objects.
struct LargeObjectPlan {
  OidList copy{};       ///< missing on the mirror: created there with the primary's OID and contents
  OidList overwrite{};  ///< differing: the mirror's truncated and written with the primary's contents
  OidList remove{};     ///< extra on the mirror: unlinked
  OidList unreadable{};  ///< by hand: the user may not read them
  std::string error{};  ///< what stopped the repair; empty when nothing did

  [[nodiscard]] bool empty() const noexcept;
  [[nodiscard]] bool needs_operator() const noexcept { return unreadable.count() > 0 || !error.empty(); }
};

/// `large objects: copy 2, overwrite 1, delete 1` (or `copied`… when `applied`), then the OIDs.
[[nodiscard]] std::string render_large_object_plan(const LargeObjectPlan& plan, bool applied);

/// The statements reconcile runs. On the mirror, within one transaction per object: lo_create($1),
/// or truncate_large_object($1) for one that differs, then write_large_object_slice($1, $2, $3)
/// per slice. On the primary: read_large_object_slice($1, $2). Every name is qualified: the
/// mirror's session may have an empty search_path.
[[nodiscard]] std::string_view create_large_object() noexcept;
[[nodiscard]] std::string_view truncate_large_object() noexcept;
[[nodiscard]] std::string_view read_large_object_slice() noexcept;
[[nodiscard]] std::string_view write_large_object_slice() noexcept;
[[nodiscard]] std::string_view unlink_large_object() noexcept;

/// Whether `table` has a column that can hold a large object's OID by type: `oid`, or the `lo`
/// extension's domain. Conflicts about such a table are not resolved while large objects differ.
[[nodiscard]] bool may_reference_large_objects(const TableSchema& table);

}  // namespace pgdual::conflict
