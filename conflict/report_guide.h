#pragma once

#include <string>
#include <string_view>

#include "conflict/report.h"

/// What a reviewer of the report is told about a group of conflicts: how serious it is, what its
/// kind means and what to do next. Pure; written from docs/conflict-log.md (Kinds),
/// docs/dual-write.md and docs/reconcile.md, which say the same at length.
namespace pgdual::conflict {

/// How much a group of conflicts asks of its reviewer.
enum class Severity {
  /// Open conflicts whose kind says the mirror may lack a write or hold other data.
  serious,
  /// Open conflicts of kind nondeterministic: both backends answered alike, and statement
  /// mirroring records one for every write that relies on a value it could not pin (a serial
  /// column, DEFAULT now()). Harmless until pgdual verify finds a difference.
  expected,
  /// Every conflict of the group is resolved: reconcile verified its tables identical, or an
  /// operator closed it with a reason. Harmless.
  resolved,
};

/// serious: the group needs action. expected and resolved are harmless, and the report shows them
/// apart, after the serious ones.
[[nodiscard]] Severity group_severity(const ReportGroup& group) noexcept;
[[nodiscard]] constexpr bool is_harmless(Severity severity) noexcept { return severity != Severity::serious; }

/// "Serious", "Expected", "Resolved": the label printed next to every colour, so no reader depends
/// on telling colours apart.
[[nodiscard]] std::string_view severity_label(Severity severity) noexcept;

/// One line: what a conflict of `kind` means for the mirror's data.
[[nodiscard]] std::string_view kind_meaning(ConflictKind kind) noexcept;

/// What to do next about `group`, as a command to run where there is one: its table and, when all
/// its conflicts came from one database, that database are filled in (DB otherwise). A resolved
/// group needs nothing; a group naming no table is resolved by id.
[[nodiscard]] std::string next_step(const ReportGroup& group);

}  // namespace pgdual::conflict
