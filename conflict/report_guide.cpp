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

std::string verify_command(const ReportGroup& group) {
  return "pgdual verify --config FILE --database " + database_of(group) + " --table " + group.table;
}

std::string reconcile_command(const ReportGroup& group) {
  return "pgdual reconcile --config FILE --database " + database_of(group) + " --table " + group.table + " --apply";
}

// "run pgdual verify …; if it reports differences, pgdual reconcile … --apply repairs the mirror
// and resolves these conflicts".
std::string verify_then_reconcile(const ReportGroup& group) {
  return "run " + verify_command(group) + "; if it reports differences, " + reconcile_command(group) +
         " repairs the mirror and resolves these conflicts";
}

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
  }
  return "the answers differ";
}

std::string next_step(const ReportGroup& group) {
  if (group.open_count == 0) return "Nothing to do: every conflict of this group is resolved.";
  if (group.table == kNoTable) {
    return "No reconcile can settle a conflict that names no table: check it, then resolve it by id with "
           "pgdual conflicts resolve --config FILE --id ID --by NAME --reason TEXT.";
  }
  switch (group.kind) {
    case ConflictKind::primary_unavailable:
      return "Look the write's idempotency key up in pgdual.ledger on both backends to learn whether it was "
             "applied; then " + verify_then_reconcile(group) + ".";
    case ConflictKind::mirror_unavailable:
      return "Check that the mirror is up and reachable from pgdual (pgdual's log says why it was not); once it "
             "is, " + verify_then_reconcile(group) + ".";
    case ConflictKind::mirror_timeout:
      return "Check the mirror's load and mirror.timeout_ms; then " + verify_then_reconcile(group) + ".";
    case ConflictKind::mirror_error:
      return "Read the mirror's SQLSTATE below: a missing table, column or constraint points at a schema "
             "difference, to fix first. Then " + verify_then_reconcile(group) + ".";
    case ConflictKind::error_primary_only:
    case ConflictKind::different_errors:
      return "Compare the SQLSTATEs below: a constraint or row the mirror lacks, or a schema difference. "
             "Then " + verify_then_reconcile(group) + ".";
    case ConflictKind::row_count:
    case ConflictKind::returning_differs:
      return "The table's rows differ: " + verify_then_reconcile(group) + ".";
    case ConflictKind::transaction_status_differs:
    case ConflictKind::unclassified:
      return "A person must compare the two answers below; then " + verify_then_reconcile(group) + ".";
    case ConflictKind::nondeterministic:
      return "Expected in statement mode for serial, identity and now() defaults: nothing to do now. Before "
             "cutover, " + verify_then_reconcile(group) + ". Mirror mode wal records none of these.";
    case ConflictKind::read_mismatch:
      return "Raise read_percent no further until this is settled: " + verify_then_reconcile(group) + ".";
  }
  return verify_then_reconcile(group);
}

}  // namespace pgdual::conflict
