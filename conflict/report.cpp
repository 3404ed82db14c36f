#include "conflict/report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <tuple>
#include <utility>

#include "conflict/conflict_error.h"

namespace pgdual::conflict {
namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;
constexpr std::int64_t kSecondsPerHour = 3'600;

// A cursor over RFC 3339 text that reads fixed-width fields and literals.
class Rfc3339Reader {
 public:
  explicit Rfc3339Reader(std::string_view text) : text_{text} {}

  std::optional<int> digits(std::size_t width) {
    if (text_.size() - position_ < width) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < width; ++i) {
      const char c = text_[position_ + i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    position_ += width;
    return value;
  }
  /// Takes one character if it is one of `accepted`.
  std::optional<char> one_of(std::string_view accepted) {
    if (at_end() || accepted.find(text_[position_]) == std::string_view::npos) return std::nullopt;
    return text_[position_++];
  }
  bool literal(char expected) { return one_of(std::string_view{&expected, 1}).has_value(); }
  /// ".123456": the fraction in nanoseconds, digits past the ninth cut; 0 when absent.
  std::optional<std::uint32_t> fraction() {
    if (!literal('.')) return 0U;
    std::uint32_t nanoseconds = 0;
    std::size_t count = 0;
    while (!at_end() && text_[position_] >= '0' && text_[position_] <= '9') {
      if (count < 9) nanoseconds = nanoseconds * 10 + static_cast<std::uint32_t>(text_[position_] - '0');
      ++count;
      ++position_;
    }
    if (count == 0) return std::nullopt;
    for (; count < 9; ++count) nanoseconds *= 10;
    return nanoseconds;
  }
  [[nodiscard]] bool at_end() const { return position_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t position_ = 0;
};

std::optional<std::int64_t> days_since_epoch(int year, int month, int day) {
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days{date}.time_since_epoch().count();
}

// "Z", "+hh:mm" or "-hh:mm": seconds to subtract from local time to get UTC.
std::optional<std::int64_t> offset_seconds(Rfc3339Reader& reader) {
  if (reader.one_of("Zz")) return 0;
  const auto sign = reader.one_of("+-");
  if (!sign) return std::nullopt;
  const auto hours = reader.digits(2);
  if (!hours || !reader.literal(':')) return std::nullopt;
  const auto minutes = reader.digits(2);
  if (!minutes || *hours > 23 || *minutes > 59) return std::nullopt;
  const std::int64_t offset = *hours * 3600 + *minutes * 60;
  return *sign == '+' ? offset : -offset;
}

std::optional<Timestamp> read_time_of_day(Rfc3339Reader& reader, std::int64_t days) {
  const auto hour = reader.digits(2);
  if (!hour || !reader.literal(':')) return std::nullopt;
  const auto minute = reader.digits(2);
  if (!minute || !reader.literal(':')) return std::nullopt;
  const auto second = reader.digits(2);
  if (!second) return std::nullopt;
  const auto nanoseconds = reader.fraction();
  if (!nanoseconds) return std::nullopt;
  const auto offset = offset_seconds(reader);
  if (!offset || !reader.at_end() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  return Timestamp{days * kSecondsPerDay + *hour * 3600 + *minute * 60 + *second - *offset, *nanoseconds};
}

OutcomeSummary summarize(const Outcome& outcome) {
  return {outcome.reachability, outcome.command_tag, outcome.row_count,
          outcome.error ? outcome.error->sqlstate : std::string{}};
}

std::string_view unqualified(std::string_view table) {
  const auto dot = table.rfind('.');
  return dot == std::string_view::npos ? table : table.substr(dot + 1);
}

bool table_matches(std::string_view wanted, std::string_view table) {
  if (wanted == table) return true;
  const bool either_unqualified =
      wanted.find('.') == std::string_view::npos || table.find('.') == std::string_view::npos;
  return either_unqualified && unqualified(wanted) == unqualified(table);
}

using GroupKey = std::tuple<std::string, ConflictKind, std::string>;

// Conflicts per value of each session field, in one group.
struct SessionTally {
  std::map<std::string, std::size_t> databases;
  std::map<std::string, std::size_t> users;
  std::map<std::string, std::size_t> applications;

  void add(const SessionInfo& session) {
    ++databases[session.database];
    ++users[session.user];
    ++applications[session.application_name];
  }
};

struct GroupEntry {
  ReportGroup group;
  std::uint64_t example_position = 0;  ///< in the log, of the record the example comes from
  SessionTally sessions;
};

NameCounts most_frequent(const std::map<std::string, std::size_t>& tally) {
  std::vector<NameCount> all;
  all.reserve(tally.size());
  for (const auto& [name, count] : tally) all.push_back({name, count});
  // The map is ordered by name, so a stable sort by count keeps names in order within a count.
  std::stable_sort(all.begin(), all.end(), [](const NameCount& left, const NameCount& right) {
    return left.count > right.count;
  });
  NameCounts counts;
  counts.others = all.size() > kMostNamesShown ? all.size() - kMostNamesShown : 0;
  all.resize(std::min(all.size(), kMostNamesShown));
  counts.shown = std::move(all);
  return counts;
}

// The start of the UTC hour `time` falls in (rounding down before 1970 too).
Timestamp start_of_hour(Timestamp time) {
  const auto into_hour = (time.seconds % kSecondsPerHour + kSecondsPerHour) % kSecondsPerHour;
  return Timestamp{time.seconds - into_hour, 0};
}

}  // namespace

std::optional<Timestamp> parse_rfc3339(std::string_view text) noexcept {
  Rfc3339Reader reader{text};
  const auto year = reader.digits(4);
  if (!year || !reader.literal('-')) return std::nullopt;
  const auto month = reader.digits(2);
  if (!month || !reader.literal('-')) return std::nullopt;
  const auto day = reader.digits(2);
  if (!day) return std::nullopt;
  const auto days = days_since_epoch(*year, *month, *day);
  if (!days) return std::nullopt;
  if (reader.at_end()) return Timestamp{*days * kSecondsPerDay, 0};
  if (!reader.one_of("Tt ")) return std::nullopt;
  return read_time_of_day(reader, *days);
}

std::string to_rfc3339(Timestamp time) {
  const std::chrono::sys_seconds instant{std::chrono::seconds{time.seconds}};
  const auto day = std::chrono::floor<std::chrono::days>(instant);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss clock{instant - day};
  char text[40];
  int length = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(date.year()),
                             static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                             static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                             static_cast<int>(clock.seconds().count()));
  std::string result(text, static_cast<std::size_t>(length));
  if (time.nanoseconds != 0) {
    length = std::snprintf(text, sizeof text, ".%09u", time.nanoseconds);
    std::string_view fraction(text, static_cast<std::size_t>(length));
    while (fraction.ends_with('0')) fraction.remove_suffix(1);
    result += fraction;
  }
  result += 'Z';
  return result;
}

// The cutover's audit records share the log's chain, but are no conflicts.
Expected<void> ReportBuilder::add(const ConflictRecord& record) {
  const auto detected = parse_rfc3339(record.time);
  if (!detected) return unexpected{make_error_code(ConflictError::invalid_record)};
  if (record.kind == ConflictKind::cutover) return {};
  auto [entry, first_record] = conflicts_.try_emplace(record.id);
  auto& conflict = entry->second;
  // Who wrote it is the detecting session's; a resolution says who resolved it instead.
  if (first_record) {
    conflict.detected = *detected;
    conflict.session = record.session;
  }
  conflict.latest = *detected;
  conflict.position = next_position_++;
  conflict.kind = record.kind;
  conflict.tables = record.tables;
  conflict.fingerprint = record.statement_fingerprint;
  conflict.statement = record.statement_normalized;
  conflict.primary = summarize(record.primary);
  conflict.mirror = summarize(record.mirror);
  conflict.resolution = record.resolution;
  conflict.resolved_by = record.resolved_by;
  conflict.resolution_note = record.resolution_note;
  return {};
}

Report ReportBuilder::build(const ReportFilter& filter) const {
  Report report;
  report.filter = filter;
  std::map<GroupKey, GroupEntry> grouped;
  // Holds one entry per hour and kind that has a conflict, not one per conflict.
  std::map<std::pair<Timestamp, ConflictKind>, std::size_t> hourly;
  const std::vector<std::string> no_table{std::string{kNoTable}};
  for (const auto& [id, conflict] : conflicts_) {
    if (!passes(filter, conflict)) continue;
    bool counted = false;
    for (const auto& table : conflict.tables.empty() ? no_table : conflict.tables) {
      if (filter.table && !table_matches(*filter.table, table)) continue;
      auto [entry, first_in_group] = grouped.try_emplace(GroupKey{table, conflict.kind, conflict.fingerprint});
      add_to_group(entry->second.group, entry->second.example_position, first_in_group, table, conflict);
      entry->second.sessions.add(conflict.session);
      counted = true;
    }
    if (!counted) continue;
    if (conflict.tables.empty()) report.untabled.push_back(untabled(id, conflict));
    ++report.conflicts;
    if (conflict.resolution == Resolution::open) ++report.open_count;
    ++hourly[{start_of_hour(conflict.detected), conflict.kind}];
  }
  std::sort(report.untabled.begin(), report.untabled.end(), [](const auto& left, const auto& right) {
    return std::tie(left.detected, left.id) < std::tie(right.detected, right.id);
  });
  report.hourly.reserve(hourly.size());
  for (const auto& [key, count] : hourly) report.hourly.push_back({key.first, key.second, count});
  report.groups.reserve(grouped.size());
  for (auto& [key, entry] : grouped) {
    entry.group.databases = most_frequent(entry.sessions.databases);
    entry.group.users = most_frequent(entry.sessions.users);
    entry.group.applications = most_frequent(entry.sessions.applications);
    report.groups.push_back(std::move(entry.group));
  }
  std::sort(report.groups.begin(), report.groups.end(), [](const ReportGroup& left, const ReportGroup& right) {
    if (left.count != right.count) return left.count > right.count;
    if (left.table != right.table) return left.table < right.table;
    if (left.kind != right.kind) return to_string(left.kind) < to_string(right.kind);
    return left.fingerprint < right.fingerprint;
  });
  return report;
}

UntabledConflict ReportBuilder::untabled(const std::string& id, const Conflict& conflict) {
  const bool resolved = conflict.resolution == Resolution::resolved;
  return {.id = id,
          .kind = conflict.kind,
          .detected = conflict.detected,
          .fingerprint = conflict.fingerprint,
          .statement = conflict.statement,
          .resolution = conflict.resolution,
          .resolved_at = resolved ? std::optional{conflict.latest} : std::nullopt,
          .resolved_by = conflict.resolved_by,
          .resolution_note = conflict.resolution_note};
}

bool ReportBuilder::passes(const ReportFilter& filter, const Conflict& conflict) {
  return (!filter.since || conflict.detected >= *filter.since) && (!filter.until || conflict.detected < *filter.until) &&
         (!filter.kind || conflict.kind == *filter.kind) && (!filter.status || conflict.resolution == *filter.status);
}

void ReportBuilder::add_to_group(ReportGroup& group, std::uint64_t& example_position, bool first_in_group,
                                 const std::string& table, const Conflict& conflict) {
  if (first_in_group) {
    group.table = table;
    group.kind = conflict.kind;
    group.fingerprint = conflict.fingerprint;
    group.first_seen = group.last_seen = conflict.detected;
  }
  ++group.count;
  if (conflict.resolution == Resolution::open) ++group.open_count;
  group.first_seen = std::min(group.first_seen, conflict.detected);
  group.last_seen = std::max(group.last_seen, conflict.detected);
  if (first_in_group || conflict.position > example_position) {
    example_position = conflict.position;
    group.example_statement = conflict.statement;
    group.primary = conflict.primary;
    group.mirror = conflict.mirror;
  }
}

}  // namespace pgdual::conflict
