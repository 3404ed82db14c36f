#include "conflict/report_guide.h"

namespace pgdual::conflict {
namespace {

// The group's one database, or the placeholder a reviewer fills in when it spans several (or was
// written before the log recorded databases).
std::string database_of(const ReportGroup& group) {
  const auto& shown = group.databases.shown;
  if (shown.size() == 1 && group.databases.others == 0 && !shown.front().name.empty()) return shown.front().name;
  return "DB";
}

// Builds a step from words and commands, in reading order.
class StepWriter {
 public:
  /// Words after words extend them: a step alternates between words and commands.
  StepWriter& words(std::string_view text) {
    if (!step_.empty() && !step_.back().command) {
      step_.back().text += text;
    } else {
      step_.push_back({std::string{text}, false});
    }
    return *this;
  }
  StepWriter& command(std::string text) {
    step_.push_back({std::move(text), true});
    return *this;
  }
  // "run pgdual verify …; if it reports differences, pgdual reconcile … --apply repairs the mirror and
  // resolves these conflicts."
  StepWriter& verify_then_reconcile(const ReportGroup& group) {
    const auto database = database_of(group);
    return words("run ")
        .command("pgdual verify --config FILE --database " + database + " --table " + group.table)
        .words("; if it reports differences, ")
        .command("pgdual reconcile --config FILE --database " + database + " --table " + group.table + " --apply")
        .words(" repairs the mirror and resolves these conflicts.");
  }
  [[nodiscard]] NextStep done() { return std::move(step_); }

 private:
  NextStep step_;
};

}  // namespace

Severity group_severity(const ReportGroup& group) noexcept {
  if (group.open_count == 0) return Severity::resolved;
  if (group.kind == ConflictKind::nondeterministic) return Severity::expected;
  return Severity::serious;
}

std::string_view severity_label(Severity severity) noexcept {
  switch (severity) {
    case Severity::serious: return "Serious";
    case Severity::expected: return "Expected";
    case Severity::resolved: return "Resolved";
  }
  return "Serious";
}

std::string_view kind_meaning(ConflictKind kind) noexcept {
  switch (kind) {
    case ConflictKind::primary_unavailable:
      return "the primary's answer was cut off, so whether it applied the write is unknown";
    case ConflictKind::mirror_unavailable:
      return "the mirror could not be reached, so it lacks the write";
    case ConflictKind::mirror_timeout:
      return "the mirror did not answer in time; it may or may not have applied the write";
    case ConflictKind::mirror_error:
      return "the primary applied the write and the mirror refused it: the mirror lacks it";
    case ConflictKind::error_primary_only:
      return "the primary refused a write the mirror would have accepted: their data or schema differ";
    case ConflictKind::different_errors:
      return "both refused the write with different errors: their data or schema differ";
    case ConflictKind::row_count:
      return "the write changed a different number of rows on each side: their rows differ";
    case ConflictKind::returning_differs:
      return "the write returned different rows on each side (an unpinned sequence or default, say)";
    case ConflictKind::transaction_status_differs:
      return "the backends ended the write in different transaction states";
    case ConflictKind::unclassified:
      return "the answers differ in a way no other kind names (COMMIT on one side, ROLLBACK on the other)";
    case ConflictKind::nondeterministic:
      return "the answers agreed, but the write used a value pgdual could not pin (now(), random(), a sequence)";
    case ConflictKind::read_mismatch:
      return "the cloud answered a read differently from the primary, twice: its copy of the data differs";
    case ConflictKind::cutover:
      return "an operator's step of the cutover, recorded for the audit trail: no disagreement";
  }
  return "the answers differ";
}

NextStep next_step(const ReportGroup& group) {
  StepWriter step;
  if (group.open_count == 0) return step.words("Nothing to do: every conflict of this group is resolved.").done();
  if (group.table == kNoTable) {
    return step.words("No reconcile can settle a conflict that names no table: check it, then resolve it by id with ")
        .command("pgdual conflicts resolve --config FILE --id ID --by NAME --reason TEXT")
        .words(".")
        .done();
  }
  switch (group.kind) {
    case ConflictKind::primary_unavailable:
      step.words("Look the write's idempotency key up in pgdual.ledger on both backends to learn whether it was "
                 "applied; then ");
      break;
    case ConflictKind::mirror_unavailable:
      step.words("Check that the mirror is up and reachable from pgdual (pgdual's log says why it was not); once "
                 "it is, ");
      break;
    case ConflictKind::mirror_timeout:
      step.words("Check the mirror's load and mirror.timeout_ms; then ");
      break;
    case ConflictKind::mirror_error:
      step.words("Read the mirror's SQLSTATE: a missing table, column or constraint points at a schema "
                 "difference, to fix first. Then ");
      break;
    case ConflictKind::error_primary_only:
    case ConflictKind::different_errors:
      step.words("Compare the two SQLSTATEs: a constraint or row the mirror lacks, or a schema difference. Then ");
      break;
    case ConflictKind::row_count:
    case ConflictKind::returning_differs:
      step.words("The table's rows differ: ");
      break;
    case ConflictKind::transaction_status_differs:
    case ConflictKind::unclassified:
      step.words("A person must compare the two answers; then ");
      break;
    case ConflictKind::nondeterministic:
      step.words("Expected in statement mode for serial, identity and now() defaults: nothing to do now. Before "
                 "cutover, ");
      break;
    case ConflictKind::read_mismatch:
      step.words("Raise read_percent no further until this is settled: ");
      break;
    case ConflictKind::cutover:
      return step.words("Nothing to do: an audit record of the cutover.").done();
  }
  step.verify_then_reconcile(group);
  if (group.kind == ConflictKind::nondeterministic) step.words(" Mirror mode wal records none of these.");
  return step.done();
}

std::string step_text(const NextStep& step) {
  std::string text;
  for (const auto& part : step) text += part.text;
  return text;
}

}  // namespace pgdual::conflict
