#include "conflict/compare.h"

namespace pgdual::conflict {
namespace {

std::optional<ConflictKind> compare_reachability(const Outcome& primary, const Outcome& mirror) noexcept {
  if (primary.reachability != Reachability::reached) return ConflictKind::primary_unavailable;
  switch (mirror.reachability) {
    case Reachability::reached: return std::nullopt;
    case Reachability::unreachable: return ConflictKind::mirror_unavailable;
    case Reachability::timed_out: return ConflictKind::mirror_timeout;
  }
  return ConflictKind::unclassified;
}

std::optional<ConflictKind> compare_errors(const Outcome& primary, const Outcome& mirror) noexcept {
  if (primary.error && mirror.error) {
    if (primary.error->sqlstate == mirror.error->sqlstate) return std::nullopt;
    return ConflictKind::different_errors;
  }
  if (primary.error) return ConflictKind::error_primary_only;
  if (mirror.error) return ConflictKind::mirror_error;
  return std::nullopt;
}

std::optional<ConflictKind> compare_results(const Outcome& primary, const Outcome& mirror) noexcept {
  if (primary.tags_digest != mirror.tags_digest) {
    // Both ran the same statements, so with as many tags on each side the
    // tags can only differ in their counts, or (COMMIT answered ROLLBACK)
    // in their command.
    if (primary.command_count == mirror.command_count && primary.row_count != mirror.row_count) {
      return ConflictKind::row_count;
    }
    return ConflictKind::unclassified;
  }
  if (primary.rows_digest != mirror.rows_digest) return ConflictKind::returning_differs;
  if (primary.transaction_status != mirror.transaction_status) return ConflictKind::transaction_status_differs;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(ConflictKind kind) noexcept {
  switch (kind) {
    case ConflictKind::primary_unavailable: return "primary_unavailable";
    case ConflictKind::mirror_unavailable: return "mirror_unavailable";
    case ConflictKind::mirror_timeout: return "mirror_timeout";
    case ConflictKind::mirror_error: return "mirror_error";
    case ConflictKind::error_primary_only: return "error_primary_only";
    case ConflictKind::different_errors: return "different_errors";
    case ConflictKind::row_count: return "row_count";
    case ConflictKind::returning_differs: return "returning_differs";
    case ConflictKind::transaction_status_differs: return "transaction_status_differs";
    case ConflictKind::unclassified: return "unclassified";
    case ConflictKind::nondeterministic: return "nondeterministic";
    case ConflictKind::read_mismatch: return "read_mismatch";
    case ConflictKind::cutover: return "cutover";
  }
  return "unclassified";
}

std::optional<ConflictKind> conflict_kind_from_string(std::string_view name) noexcept {
  for (const auto kind : kAllConflictKinds) {
    if (to_string(kind) == name) return kind;
  }
  return std::nullopt;
}

std::optional<ConflictKind> compare(const Outcome& primary, const Outcome& mirror) noexcept {
  if (auto kind = compare_reachability(primary, mirror)) return kind;
  if (auto kind = compare_errors(primary, mirror)) return kind;
  return compare_results(primary, mirror);
}

}  // namespace pgdual::conflict
