#pragma once

#include <string>
#include <string_view>
#include <vector>

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

/// A piece of a next step: plain words, or a command to run as it stands (FILE, DB, ID, NAME and
/// TEXT left for the reader to fill in).
struct StepPart {
  std::string text;
  bool command = false;

  friend bool operator==(const StepPart&, const StepPart&) = default;
};
using NextStep = std::vector<StepPart>;

/// What to do next about `group`, with the commands to run: its table and, when all its conflicts
/// came from one database, that database are filled in (DB otherwise). A resolved group needs
/// nothing; a group naming no table is resolved by id.
[[nodiscard]] NextStep next_step(const ReportGroup& group);

/// The step as one line of text, commands included as they stand.
[[nodiscard]] std::string step_text(const NextStep& step);

}  // namespace pgdual::conflict
