#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conflict/compare.h"
#include "conflict/conflict_record.h"
#include "conflict/outcome.h"
#include "protocol/expected.h"

/// The conflict report (`pgdual conflicts report`): conflict records in, the
/// latest state of each conflict grouped by table, kind and statement out.
/// Pure: the command that reads the log files is conflict/jobs/report_command.h, and the
/// renderers are report_render.h.
namespace pgdual::conflict {

/// A point in time: seconds since 1970-01-01T00:00:00Z and a fraction.
struct Timestamp {
  std::int64_t seconds = 0;
  std::uint32_t nanoseconds = 0;  ///< 0..999'999'999

  friend auto operator<=>(const Timestamp&, const Timestamp&) = default;
};

/// Reads an RFC 3339 date-time ("2024-05-01T12:00:00.123456Z",
/// "2024-05-01T14:00:00+02:00"; 't', 'z' and a space for 'T' accepted), or a
/// full-date alone ("2024-05-01"), which means midnight UTC. Fractions finer
/// than nanoseconds are cut. A leap second (:60) counts as the next second's start.
///
/// @return std::nullopt when `text` is neither
[[nodiscard]] std::optional<Timestamp> parse_rfc3339(std::string_view text) noexcept;

/// `time` in UTC as RFC 3339, the fraction without trailing zeros and left
/// out when zero: "2024-05-01T12:00:00.5Z".
[[nodiscard]] std::string to_rfc3339(Timestamp time);

/// Which conflicts a report shows. Every criterion is optional; all given ones
/// must hold. (The explicit `{}` lets `{.kind = …}` leave the others out
/// without -Wmissing-field-initializers.)
struct ReportFilter {
  /// A conflict counts from the time of its first record (when it was
  /// detected): shown when since <= that time < until.
  std::optional<Timestamp> since{};
  std::optional<Timestamp> until{};
  std::optional<ConflictKind> kind{};
  /// A table name as the records write them ("public.patients" or
  /// "patients"). When either side is unqualified only the names after the
  /// schema are compared, so "patients" matches "billing.patients" too.
  /// "(none)" selects the conflicts that name no table.
  std::optional<std::string> table{};
  std::optional<Resolution> status{};  ///< of the conflict's latest record
};

/// The group name of conflicts whose records name no table.
inline constexpr std::string_view kNoTable = "(none)";

/// What a report shows of one backend's outcome: never rows, digests or messages.
struct OutcomeSummary {
  Reachability reachability = Reachability::reached;
  std::string command_tag;                ///< empty when no CommandComplete arrived
  std::optional<std::uint64_t> row_count;
  std::string sqlstate;                   ///< of the first error; empty when there was none

  friend bool operator==(const OutcomeSummary&, const OutcomeSummary&) = default;
};

/// How many of a group's conflicts came from sessions with one value (a database, a user, an
/// application_name). The value is as recorded, so it may be empty.
struct NameCount {
  std::string name;
  std::size_t count = 0;

  friend bool operator==(const NameCount&, const NameCount&) = default;
};

/// The most frequent values of one session field in a group.
struct NameCounts {
  /// Largest count first, then by name; at most kMostNamesShown.
  std::vector<NameCount> shown;
  std::size_t others = 0;  ///< how many other values there were

  friend bool operator==(const NameCounts&, const NameCounts&) = default;
};

/// How many values of one session field a group lists: a review needs who wrote, not everyone.
inline constexpr std::size_t kMostNamesShown = 5;

/// The conflicts of one table, kind and statement fingerprint. A conflict
/// whose records name several tables is counted in each table's group.
struct ReportGroup {
  std::string table;  ///< or kNoTable
  ConflictKind kind = ConflictKind::unclassified;
  std::string fingerprint;
  std::size_t count = 0;       ///< conflicts (distinct ids)
  std::size_t open_count = 0;  ///< of those, the ones whose latest record is open
  Timestamp first_seen;        ///< earliest detection time in the group
  Timestamp last_seen;         ///< latest detection time in the group
  /// From the group's record latest in the log: its normalized statement
  /// (constants already replaced by $n) and both outcomes.
  std::string example_statement;
  OutcomeSummary primary;
  OutcomeSummary mirror;
  /// Whose sessions wrote the group's conflicts (as each conflict's first record says), counted in conflicts.
  NameCounts databases{};
  NameCounts users{};
  NameCounts applications{};
};

/// A conflict that names no table (a COMMIT, a large object, a bare `SELECT nextval`): no
/// reconcile can settle it, so the report lists it on its own, by id, for
/// `pgdual conflicts resolve`.
struct UntabledConflict {
  std::string id;
  ConflictKind kind = ConflictKind::unclassified;
  Timestamp detected;
  std::string fingerprint;
  std::string statement;  ///< normalized, from its latest record
  Resolution resolution = Resolution::open;
  /// Of a resolved conflict: when its resolution was recorded, who resolved it and why (empty in
  /// resolutions written before the log carried them).
  std::optional<Timestamp> resolved_at{};
  std::string resolved_by{};
  std::string resolution_note{};
};

/// Where a record sits in the log files: a path and a 1-based line number.
struct RecordLocation {
  std::string file;
  std::size_t line = 0;
};

/// What the hash-chain check over the log files found.
struct ChainSummary {
  std::vector<std::string> files;  ///< the files read, oldest first
  std::size_t records = 0;         ///< intact records read, resolutions included
  std::string start;               ///< the hash the first record follows (kGenesisHash unless rotated away)
  std::string head;                ///< the hash of the last intact record
  /// The first record that breaks the chain; the report covers only the
  /// records before it. std::nullopt when the chain is intact.
  std::optional<RecordLocation> first_bad;

  [[nodiscard]] bool intact() const noexcept { return !first_bad.has_value(); }
};

/// How many conflicts of one kind were detected in one hour.
struct HourlyCount {
  Timestamp hour;  ///< the hour's start, UTC
  ConflictKind kind = ConflictKind::unclassified;
  std::size_t count = 0;

  friend bool operator==(const HourlyCount&, const HourlyCount&) = default;
};

/// Everything a renderer prints.
struct Report {
  ChainSummary chain;  ///< filled in by whoever read the log
  ReportFilter filter;
  std::size_t conflicts = 0;   ///< distinct conflicts that passed the filter
  std::size_t open_count = 0;  ///< of those, the ones whose latest record is open
  /// By count (largest first), then table, then kind name, then fingerprint.
  std::vector<ReportGroup> groups;
  /// The conflicts counted in `conflicts`, each once, by the hour of its
  /// detection time and its kind (of its latest record). Sorted by hour, then
  /// kind in declaration order; hours and kinds without a conflict are left out.
  std::vector<HourlyCount> hourly;
  /// The conflicts counted in `conflicts` that name no table (each also in a kNoTable group), by
  /// detection time, then id.
  std::vector<UntabledConflict> untabled;
};

/// Collects records in log order and keeps each conflict's latest state, so a
/// log is read once and its records need not be kept.
class ReportBuilder {
 public:
  /// Takes the next record of the log. A record with the id of an earlier one
  /// supersedes it (a resolution); the conflict keeps the earlier detection time.
  ///
  /// @retval ConflictError::invalid_record  the record's time is not RFC 3339; nothing is taken
  [[nodiscard]] Expected<void> add(const ConflictRecord& record);

  /// The report of the conflicts that pass `filter`; its chain is left empty.
  [[nodiscard]] Report build(const ReportFilter& filter) const;

 private:
  struct Conflict {
    Timestamp detected;
    Timestamp latest;  ///< the time of its latest record: of a resolved one, when it was resolved
    std::uint64_t position = 0;  ///< of its latest record, in log order
    ConflictKind kind = ConflictKind::unclassified;
    std::vector<std::string> tables;
    std::string fingerprint;
    std::string statement;
    OutcomeSummary primary;
    OutcomeSummary mirror;
    SessionInfo session;  ///< of its first record
    Resolution resolution = Resolution::open;
    std::string resolved_by;
    std::string resolution_note;
  };

  static UntabledConflict untabled(const std::string& id, const Conflict& conflict);
  static bool passes(const ReportFilter& filter, const Conflict& conflict);
  static void add_to_group(ReportGroup& group, std::uint64_t& example_position, bool first_in_group,
                           const std::string& table, const Conflict& conflict);

  std::unordered_map<std::string, Conflict> conflicts_;
  std::uint64_t next_position_ = 0;
};

}  // namespace pgdual::conflict
