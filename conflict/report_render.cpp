#include "conflict/report_render.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <vector>

#include "conflict/json.h"

namespace pgdual::conflict {
namespace {

std::string_view reachability_name(Reachability reachability) {
  switch (reachability) {
    case Reachability::reached: return "reached";
    case Reachability::unreachable: return "unreachable";
    case Reachability::timed_out: return "timed_out";
  }
  return "reached";
}

std::string_view resolution_name(Resolution resolution) {
  return resolution == Resolution::resolved ? "resolved" : "open";
}

// The groups of conflicts that name a table: text and HTML list the others one by one, by id.
std::vector<ReportGroup> groups_naming_tables(const Report& report) {
  std::vector<ReportGroup> groups;
  std::copy_if(report.groups.begin(), report.groups.end(), std::back_inserter(groups),
               [](const ReportGroup& group) { return group.table != kNoTable; });
  return groups;
}

// "4 conflicts, 3 open, in 3 groups", and "; 1 naming no table" when there are such.
std::string totals_text(const Report& report, std::size_t groups) {
  auto text = std::to_string(report.conflicts) + (report.conflicts == 1 ? " conflict, " : " conflicts, ") +
              std::to_string(report.open_count) + " open, in " + std::to_string(groups) +
              (groups == 1 ? " group" : " groups");
  if (!report.untabled.empty()) text += "; " + std::to_string(report.untabled.size()) + " naming no table";
  return text;
}

constexpr std::string_view kUntabledTitle = "Conflicts naming no table";
constexpr std::string_view kUntabledAdvice =
    "no reconcile can settle these: resolve each by id with pgdual conflicts resolve";

// ---- text ----------------------------------------------------------------

constexpr std::size_t kStatementWidth = 60;
constexpr std::string_view kEllipsis = "…";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Characters on a terminal, assuming one column each (UTF-8 code points).
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation_byte(c); }));
}

// Whitespace runs (a statement's line breaks) become one space; other control
// characters, C1 ones included (U+0080..U+009F, e.g. CSI), become U+FFFD, so a
// value cannot steer the terminal.
std::string terminal_safe(std::string_view text) {
  std::string safe;
  safe.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == ' ' || (byte >= '\t' && byte <= '\r')) {
      if (!safe.ends_with(' ')) safe.push_back(' ');
    } else if (byte < 0x20 || byte == 0x7F) {
      safe.append(kReplacement);
    } else if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F &&
               is_continuation_byte(text[i + 1])) {
      safe.append(kReplacement);
      ++i;
    } else {
      safe.push_back(text[i]);
    }
  }
  return safe;
}

// `text` cut to `width` characters, the last of them "…" when it was longer.
std::string truncated(std::string text, std::size_t width) {
  if (display_width(text) <= width) return text;
  std::size_t characters = 0;
  std::size_t end = 0;
  for (; end < text.size(); ++end) {
    if (!is_continuation_byte(text[end]) && characters++ == width - 1) break;
  }
  text.resize(end);
  return text.append(kEllipsis);
}

// "DELETE 0", "COMMIT, 3 rows", "error 23505", "unreachable": the row count
// only when the tag does not already say it (a transaction ends in COMMIT).
std::string outcome_text(const OutcomeSummary& outcome) {
  std::vector<std::string> parts;
  if (outcome.reachability != Reachability::reached) parts.emplace_back(reachability_name(outcome.reachability));
  if (!outcome.command_tag.empty()) parts.push_back(outcome.command_tag);
  if (outcome.row_count && parse_row_count(outcome.command_tag) != outcome.row_count) {
    parts.push_back(std::to_string(*outcome.row_count) + (*outcome.row_count == 1 ? " row" : " rows"));
  }
  if (!outcome.sqlstate.empty()) parts.push_back("error " + outcome.sqlstate);
  if (parts.empty()) return "-";
  std::string text = parts.front();
  for (std::size_t i = 1; i < parts.size(); ++i) text.append(", ").append(parts[i]);
  return terminal_safe(text);
}

// The time to the second: the table is for reading, JSON and CSV keep the fraction.
std::string seconds_only(Timestamp time) { return to_rfc3339(Timestamp{time.seconds, 0}); }

constexpr std::size_t kColumns = 9;
using TextRow = std::array<std::string, kColumns>;
constexpr TextRow kTextHeader{"COUNT", "OPEN", "TABLE", "KIND", "FIRST SEEN", "LAST SEEN", "PRIMARY", "MIRROR",
                              "STATEMENT"};
constexpr std::size_t kRightAlignedColumns = 2;  // COUNT and OPEN

TextRow text_row(const ReportGroup& group) {
  return {std::to_string(group.count),
          std::to_string(group.open_count),
          terminal_safe(group.table),
          std::string{to_string(group.kind)},
          seconds_only(group.first_seen),
          seconds_only(group.last_seen),
          outcome_text(group.primary),
          outcome_text(group.mirror),
          truncated(terminal_safe(group.example_statement), kStatementWidth)};
}

// The first `right_aligned` columns are aligned right, the others left.
template <std::size_t Columns>
void append_table(std::string& out, const std::vector<std::array<std::string, Columns>>& rows,
                  std::size_t right_aligned) {
  std::array<std::size_t, Columns> widths{};
  for (const auto& row : rows) {
    for (std::size_t column = 0; column < Columns; ++column) {
      widths[column] = std::max(widths[column], display_width(row[column]));
    }
  }
  for (const auto& row : rows) {
    for (std::size_t column = 0; column < Columns; ++column) {
      const std::string padding(widths[column] - display_width(row[column]), ' ');
      if (column > 0) out.append("  ");
      if (column < right_aligned) {
        out.append(padding).append(row[column]);
      } else {
        out.append(row[column]);
        if (column + 1 < Columns) out.append(padding);
      }
    }
    out.push_back('\n');
  }
}

constexpr std::size_t kUntabledColumns = 7;
using UntabledRow = std::array<std::string, kUntabledColumns>;
constexpr UntabledRow kUntabledHeader{"ID", "KIND", "DETECTED", "STATUS", "RESOLVED BY", "NOTE", "STATEMENT"};

UntabledRow untabled_row(const UntabledConflict& conflict) {
  const bool resolved = conflict.resolution == Resolution::resolved;
  const auto or_dash = [](const std::string& text) { return text.empty() ? std::string{"-"} : text; };
  return {terminal_safe(conflict.id),
          std::string{to_string(conflict.kind)},
          seconds_only(conflict.detected),
          resolved && conflict.resolved_at ? "resolved " + seconds_only(*conflict.resolved_at) : "open",
          truncated(terminal_safe(or_dash(conflict.resolved_by)), kStatementWidth),
          truncated(terminal_safe(or_dash(conflict.resolution_note)), kStatementWidth),
          truncated(terminal_safe(conflict.statement), kStatementWidth)};
}

void append_untabled_text(std::string& out, const std::vector<UntabledConflict>& conflicts) {
  if (conflicts.empty()) return;
  out.append("\n").append(kUntabledTitle).append(" (").append(kUntabledAdvice).append("):\n");
  std::vector<UntabledRow> rows{kUntabledHeader};
  for (const auto& conflict : conflicts) rows.push_back(untabled_row(conflict));
  append_table(out, rows, 0);
}

std::string joined_files(const std::vector<std::string>& files) {
  std::string text;
  for (const auto& file : files) {
    if (!text.empty()) text.append(", ");
    text.append(terminal_safe(file));
  }
  return text;
}

void append_chain_text(std::string& out, const ChainSummary& chain) {
  if (chain.first_bad) {
    out.append("Hash chain: BROKEN at ")
        .append(terminal_safe(chain.first_bad->file))
        .append(":")
        .append(std::to_string(chain.first_bad->line))
        .append("; this report covers only the ")
        .append(std::to_string(chain.records))
        .append(" records before it\n");
    return;
  }
  out.append("Hash chain: intact, ")
      .append(std::to_string(chain.records))
      .append(chain.records == 1 ? " record in " : " records in ")
      .append(joined_files(chain.files))
      .append("\n  starts ")
      .append(chain.start == kGenesisHash ? std::string{"at genesis"}
                                          : "after " + chain.start + " (older files rotated away)")
      .append("; head ")
      .append(chain.head)
      .append("\n");
}

void append_filter_text(std::string& out, const ReportFilter& filter) {
  std::string criteria;
  const auto add = [&criteria](std::string_view name, const std::string& value) {
    criteria.append(criteria.empty() ? "Filter: " : ", ").append(name).append(" ").append(terminal_safe(value));
  };
  if (filter.since) add("since", to_rfc3339(*filter.since));
  if (filter.until) add("until", to_rfc3339(*filter.until));
  if (filter.kind) add("kind", std::string{to_string(*filter.kind)});
  if (filter.table) add("table", *filter.table);
  if (filter.status) add("status", std::string{resolution_name(*filter.status)});
  if (!criteria.empty()) out.append(criteria).append("\n");
}

std::string render_text(const Report& report) {
  const auto groups = groups_naming_tables(report);
  std::string out = "Conflict report: " + totals_text(report, groups.size()) + "\n";
  append_chain_text(out, report.chain);
  append_filter_text(out, report.filter);
  out.push_back('\n');
  if (report.groups.empty()) {
    out.append("No conflicts match.\n");
    return out;
  }
  if (!groups.empty()) {
    std::vector<TextRow> rows{kTextHeader};
    for (const auto& group : groups) rows.push_back(text_row(group));
    append_table(out, rows, kRightAlignedColumns);
  }
  append_untabled_text(out, report.untabled);
  return out;
}

// ---- json ----------------------------------------------------------------

void append_json_string_or_null(std::string& out, const std::optional<std::string>& text) {
  if (text) {
    json::append_string(out, *text);
  } else {
    out.append("null");
  }
}

void append_json_outcome(std::string& out, const OutcomeSummary& outcome) {
  out.append("{\"reachability\":");
  json::append_string(out, reachability_name(outcome.reachability));
  out.append(",\"command_tag\":");
  json::append_string(out, outcome.command_tag);
  out.append(",\"row_count\":").append(outcome.row_count ? std::to_string(*outcome.row_count) : "null");
  out.append(",\"sqlstate\":");
  append_json_string_or_null(out, outcome.sqlstate.empty() ? std::nullopt : std::optional{outcome.sqlstate});
  out.push_back('}');
}

void append_json_chain(std::string& out, const ChainSummary& chain) {
  out.append("{\"intact\":").append(chain.intact() ? "true" : "false");
  out.append(",\"records\":").append(std::to_string(chain.records)).append(",\"files\":[");
  for (std::size_t i = 0; i < chain.files.size(); ++i) {
    if (i > 0) out.push_back(',');
    json::append_string(out, chain.files[i]);
  }
  out.append("],\"start\":");
  json::append_string(out, chain.start);
  out.append(",\"head\":");
  json::append_string(out, chain.head);
  out.append(",\"first_bad\":");
  if (chain.first_bad) {
    out.append("{\"file\":");
    json::append_string(out, chain.first_bad->file);
    out.append(",\"line\":").append(std::to_string(chain.first_bad->line)).append("}");
  } else {
    out.append("null");
  }
  out.push_back('}');
}

void append_json_filter(std::string& out, const ReportFilter& filter) {
  const auto text = [](const auto& value, auto name) -> std::optional<std::string> {
    if (!value) return std::nullopt;
    return std::string{name(*value)};
  };
  out.append("{\"since\":");
  append_json_string_or_null(out, text(filter.since, to_rfc3339));
  out.append(",\"until\":");
  append_json_string_or_null(out, text(filter.until, to_rfc3339));
  out.append(",\"kind\":");
  append_json_string_or_null(out, text(filter.kind, [](ConflictKind kind) { return to_string(kind); }));
  out.append(",\"table\":");
  append_json_string_or_null(out, filter.table);
  out.append(",\"status\":");
  append_json_string_or_null(out, text(filter.status, resolution_name));
  out.push_back('}');
}

void append_json_group(std::string& out, const ReportGroup& group) {
  out.append("{\"table\":");
  json::append_string(out, group.table);
  out.append(",\"kind\":");
  json::append_string(out, to_string(group.kind));
  out.append(",\"fingerprint\":");
  json::append_string(out, group.fingerprint);
  out.append(",\"count\":").append(std::to_string(group.count));
  out.append(",\"open\":").append(std::to_string(group.open_count));
  out.append(",\"first_seen\":");
  json::append_string(out, to_rfc3339(group.first_seen));
  out.append(",\"last_seen\":");
  json::append_string(out, to_rfc3339(group.last_seen));
  out.append(",\"statement\":");
  json::append_string(out, group.example_statement);
  out.append(",\"primary\":");
  append_json_outcome(out, group.primary);
  out.append(",\"mirror\":");
  append_json_outcome(out, group.mirror);
  out.push_back('}');
}

void append_json_untabled(std::string& out, const UntabledConflict& conflict) {
  out.append("{\"id\":");
  json::append_string(out, conflict.id);
  out.append(",\"kind\":");
  json::append_string(out, to_string(conflict.kind));
  out.append(",\"detected\":");
  json::append_string(out, to_rfc3339(conflict.detected));
  out.append(",\"fingerprint\":");
  json::append_string(out, conflict.fingerprint);
  out.append(",\"statement\":");
  json::append_string(out, conflict.statement);
  out.append(",\"resolution\":");
  json::append_string(out, resolution_name(conflict.resolution));
  const auto text_or_null = [](const std::string& text) { return text.empty() ? std::nullopt : std::optional{text}; };
  out.append(",\"resolved_at\":");
  append_json_string_or_null(out, conflict.resolved_at ? std::optional{to_rfc3339(*conflict.resolved_at)}
                                                       : std::nullopt);
  out.append(",\"resolved_by\":");
  append_json_string_or_null(out, text_or_null(conflict.resolved_by));
  out.append(",\"resolution_note\":");
  append_json_string_or_null(out, text_or_null(conflict.resolution_note));
  out.push_back('}');
}

// One group (and one conflict naming no table) per line, so the output reads and diffs well without a JSON tool.
std::string render_json(const Report& report) {
  std::string out = "{\"chain\":";
  append_json_chain(out, report.chain);
  out.append(",\n\"filter\":");
  append_json_filter(out, report.filter);
  out.append(",\n\"conflicts\":").append(std::to_string(report.conflicts));
  out.append(",\"open\":").append(std::to_string(report.open_count));
  out.append(",\n\"groups\":[");
  for (std::size_t i = 0; i < report.groups.size(); ++i) {
    out.append(i == 0 ? "\n" : ",\n");
    append_json_group(out, report.groups[i]);
  }
  out.append("],\n\"no_table\":[");
  for (std::size_t i = 0; i < report.untabled.size(); ++i) {
    out.append(i == 0 ? "\n" : ",\n");
    append_json_untabled(out, report.untabled[i]);
  }
  out.append("]}\n");
  return out;
}

// ---- csv -----------------------------------------------------------------

constexpr std::string_view kCsvHeader =
    "table,kind,fingerprint,count,open,first_seen,last_seen,statement,"
    "primary_reachability,primary_command_tag,primary_row_count,primary_sqlstate,"
    "mirror_reachability,mirror_command_tag,mirror_row_count,mirror_sqlstate\r\n";

void append_csv_field(std::string& out, std::string_view field, bool first = false) {
  if (!first) out.push_back(',');
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (const char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_csv_outcome(std::string& out, const OutcomeSummary& outcome) {
  append_csv_field(out, reachability_name(outcome.reachability));
  append_csv_field(out, outcome.command_tag);
  append_csv_field(out, outcome.row_count ? std::to_string(*outcome.row_count) : std::string{});
  append_csv_field(out, outcome.sqlstate);
}

std::string render_csv(const Report& report) {
  std::string out{kCsvHeader};
  for (const auto& group : report.groups) {
    append_csv_field(out, group.table, true);
    append_csv_field(out, to_string(group.kind));
    append_csv_field(out, group.fingerprint);
    append_csv_field(out, std::to_string(group.count));
    append_csv_field(out, std::to_string(group.open_count));
    append_csv_field(out, to_rfc3339(group.first_seen));
    append_csv_field(out, to_rfc3339(group.last_seen));
    append_csv_field(out, group.example_statement);
    append_csv_outcome(out, group.primary);
    append_csv_outcome(out, group.mirror);
    out.append("\r\n");
  }
  return out;
}

// ---- html ----------------------------------------------------------------

constexpr std::int64_t kSecondsPerHour = 3'600;
constexpr std::int64_t kSecondsPerDay = 86'400;
// Two weeks of hours: beyond that a bar covers a day (or several), so the chart stays readable.
constexpr std::int64_t kMostBars = 14 * 24;

// The text format's neutralizing, then & < > " ' as entities: no value can
// open a tag, leave an attribute or carry a control character.
std::string html_text(std::string_view text) {
  std::string escaped;
  for (const char c : terminal_safe(text)) {
    switch (c) {
      case '&': escaped.append("&amp;"); break;
      case '<': escaped.append("&lt;"); break;
      case '>': escaped.append("&gt;"); break;
      case '"': escaped.append("&quot;"); break;
      case '\'': escaped.append("&#39;"); break;
      default: escaped.push_back(c);
    }
  }
  return escaped;
}

// One colour per kind (Tableau's ten, a teal and an olive), distinct next to each other in a stacked bar.
std::string_view kind_colour(ConflictKind kind) {
  switch (kind) {
    case ConflictKind::primary_unavailable: return "#4e79a7";
    case ConflictKind::mirror_unavailable: return "#f28e2b";
    case ConflictKind::mirror_timeout: return "#edc948";
    case ConflictKind::mirror_error: return "#e15759";
    case ConflictKind::error_primary_only: return "#76b7b2";
    case ConflictKind::different_errors: return "#59a14f";
    case ConflictKind::row_count: return "#b07aa1";
    case ConflictKind::returning_differs: return "#ff9da7";
    case ConflictKind::transaction_status_differs: return "#9c755f";
    case ConflictKind::unclassified: return "#bab0ac";
    case ConflictKind::nondeterministic: return "#499894";
    case ConflictKind::read_mismatch: return "#b6992d";
  }
  return "#bab0ac";
}

// A kind's position in kAllConflictKinds, which lists them in declaration order.
constexpr std::size_t kind_index(ConflictKind kind) { return static_cast<std::size_t>(kind); }
static_assert([] {
  for (std::size_t i = 0; i < kAllConflictKinds.size(); ++i) {
    if (kind_index(kAllConflictKinds[i]) != i) return false;
  }
  return true;
}());

std::int64_t round_down(std::int64_t seconds, std::int64_t unit) { return seconds - (seconds % unit + unit) % unit; }

// "2024-05-01", "12:00": parts of a UTC time for axis labels.
std::string date_of(std::int64_t seconds) { return to_rfc3339(Timestamp{seconds, 0}).substr(0, 10); }
std::string hour_of(std::int64_t seconds) { return to_rfc3339(Timestamp{seconds, 0}).substr(11, 5); }

struct ChartBar {
  std::int64_t start = 0;  ///< seconds since the epoch
  std::array<std::size_t, kAllConflictKinds.size()> counts{};
  std::size_t total = 0;
};

// The timeline: consecutive bars of `bar_seconds` each from the first
// conflict's hour (or day) to the last one's, empty ones included.
struct Chart {
  std::int64_t bar_seconds = kSecondsPerHour;
  std::int64_t span_days = 0;  ///< set when bars are days
  std::vector<ChartBar> bars;
  std::array<std::size_t, kAllConflictKinds.size()> kind_totals{};

  [[nodiscard]] bool hourly() const { return bar_seconds == kSecondsPerHour; }
  [[nodiscard]] std::size_t tallest() const {
    std::size_t tallest = 0;
    for (const auto& bar : bars) tallest = std::max(tallest, bar.total);
    return tallest;
  }
};

Chart chart_of(const std::vector<HourlyCount>& hourly) {
  Chart chart;
  if (hourly.empty()) return chart;
  const auto first = hourly.front().hour.seconds;
  const auto last = hourly.back().hour.seconds;
  auto start = first;
  if ((last - first) / kSecondsPerHour >= kMostBars) {
    start = round_down(first, kSecondsPerDay);
    chart.span_days = (round_down(last, kSecondsPerDay) - start) / kSecondsPerDay + 1;
    chart.bar_seconds = (chart.span_days + kMostBars - 1) / kMostBars * kSecondsPerDay;
  }
  chart.bars.resize(static_cast<std::size_t>((last - start) / chart.bar_seconds + 1));
  for (std::size_t i = 0; i < chart.bars.size(); ++i) {
    chart.bars[i].start = start + static_cast<std::int64_t>(i) * chart.bar_seconds;
  }
  for (const auto& entry : hourly) {
    auto& bar = chart.bars[static_cast<std::size_t>((entry.hour.seconds - start) / chart.bar_seconds)];
    bar.counts[kind_index(entry.kind)] += entry.count;
    bar.total += entry.count;
    chart.kind_totals[kind_index(entry.kind)] += entry.count;
  }
  return chart;
}

std::string chart_title(const Chart& chart) {
  if (chart.hourly()) return "Conflicts per hour by kind (UTC)";
  const auto days_per_bar = chart.bar_seconds / kSecondsPerDay;
  const auto unit = days_per_bar == 1 ? std::string{"day"} : std::to_string(days_per_bar) + " days";
  return "Conflicts per " + unit + " by kind (UTC): per " + unit + " rather than per hour, as they span " +
         std::to_string(chart.span_days) + " days, more than 14";
}

// Where the SVG puts things, in its user units (pixels at 100 %).
struct ChartGeometry {
  static constexpr double left = 56;  // the y axis labels
  static constexpr double top = 12;
  static constexpr double plot_height = 220;
  static constexpr double bottom = 52;  // two lines of x axis labels and the axis title
  static constexpr double legend_gap = 24;
  static constexpr double legend_width = 200;
  static constexpr double widest_bar_slot = 40;
  static constexpr double plot_width_at_most = 880;  // with the legend, fits a 1280 pixel window

  explicit ChartGeometry(const Chart& chart)
      : slot{std::min(widest_bar_slot, plot_width_at_most / static_cast<double>(chart.bars.size()))},
        plot_width{slot * static_cast<double>(chart.bars.size())} {}

  double slot;
  double plot_width;
  [[nodiscard]] double baseline() const { return top + plot_height; }
  [[nodiscard]] double width() const { return left + plot_width + legend_gap + legend_width; }
  [[nodiscard]] double height() const { return top + plot_height + bottom; }
  [[nodiscard]] double bar_centre(std::size_t index) const {
    return left + slot * (static_cast<double>(index) + 0.5);
  }
};

// A coordinate with one decimal at most: "12", "12.5".
std::string number(double value) {
  char text[32];
  const int length = std::snprintf(text, sizeof text, "%.1f", value);
  std::string_view result(text, static_cast<std::size_t>(length));
  if (result.ends_with(".0")) result.remove_suffix(2);
  return std::string{result};
}

// The step between y axis ticks: 1, 2 or 5 times a power of ten, for four ticks or fewer.
std::size_t tick_step(std::size_t tallest) {
  const auto wanted = std::max<std::size_t>(1, (tallest + 3) / 4);
  for (std::size_t magnitude = 1;; magnitude *= 10) {
    for (const std::size_t multiple : {1, 2, 5}) {
      if (multiple * magnitude >= wanted) return multiple * magnitude;
    }
  }
}

void append_y_axis(std::string& out, const ChartGeometry& geometry, std::size_t step, std::size_t axis_top) {
  for (std::size_t value = 0; value <= axis_top; value += step) {
    const auto y = number(geometry.baseline() - geometry.plot_height * static_cast<double>(value) /
                                                    static_cast<double>(axis_top));
    out.append("<line class=\"grid\" x1=\"").append(number(geometry.left)).append("\" x2=\"")
        .append(number(geometry.left + geometry.plot_width)).append("\" y1=\"").append(y).append("\" y2=\"")
        .append(y).append("\"/>\n<text class=\"y-label\" x=\"").append(number(geometry.left - 6))
        .append("\" y=\"").append(y).append("\" dy=\"4\" text-anchor=\"end\">").append(std::to_string(value))
        .append("</text>\n");
  }
  out.append("<text class=\"axis-title\" transform=\"rotate(-90)\" x=\"")
      .append(number(-(geometry.top + geometry.plot_height / 2)))
      .append("\" y=\"14\" text-anchor=\"middle\">conflicts</text>\n");
}

// "2024-05-01 12:00 UTC: 3 conflicts (row_count 2, mirror_error 1)", shown on hover.
std::string bar_tooltip(const Chart& chart, const ChartBar& bar) {
  std::string text = chart.hourly() ? date_of(bar.start) + " " + hour_of(bar.start) + " UTC" : date_of(bar.start);
  if (!chart.hourly() && chart.bar_seconds > kSecondsPerDay) {
    text.append(" to ").append(date_of(bar.start + chart.bar_seconds - kSecondsPerDay));
  }
  text.append(": ").append(std::to_string(bar.total)).append(bar.total == 1 ? " conflict" : " conflicts");
  std::string kinds;
  for (const auto kind : kAllConflictKinds) {
    if (const auto count = bar.counts[kind_index(kind)]; count > 0) {
      kinds.append(kinds.empty() ? " (" : ", ").append(to_string(kind)).append(" ").append(std::to_string(count));
    }
  }
  return kinds.empty() ? text : text + kinds + ")";
}

// One <g class="bar"> per bar, empty ones too; each kind's part stacked in declaration order.
void append_bars(std::string& out, const Chart& chart, const ChartGeometry& geometry, std::size_t axis_top) {
  const double bar_width = geometry.slot * 0.8;
  for (std::size_t i = 0; i < chart.bars.size(); ++i) {
    const auto& bar = chart.bars[i];
    out.append("<g class=\"bar\" data-start=\"").append(to_rfc3339(Timestamp{bar.start, 0})).append("\"><title>")
        .append(html_text(bar_tooltip(chart, bar))).append("</title>");
    double y = geometry.baseline();
    for (const auto kind : kAllConflictKinds) {
      const auto count = bar.counts[kind_index(kind)];
      if (count == 0) continue;
      const double height = geometry.plot_height * static_cast<double>(count) / static_cast<double>(axis_top);
      y -= height;
      out.append("<rect x=\"").append(number(geometry.bar_centre(i) - bar_width / 2)).append("\" y=\"")
          .append(number(y)).append("\" width=\"").append(number(bar_width)).append("\" height=\"")
          .append(number(height)).append("\" fill=\"").append(kind_colour(kind)).append("\"/>");
    }
    out.append("</g>\n");
  }
}

void append_x_label(std::string& out, const ChartGeometry& geometry, std::size_t index, std::string_view first_line,
                    std::string_view second_line) {
  const auto x = number(geometry.bar_centre(index));
  out.append("<line class=\"tick\" x1=\"").append(x).append("\" x2=\"").append(x).append("\" y1=\"")
      .append(number(geometry.baseline())).append("\" y2=\"").append(number(geometry.baseline() + 4))
      .append("\"/>\n<text class=\"x-label\" x=\"").append(x).append("\" y=\"")
      .append(number(geometry.baseline() + 16)).append("\" text-anchor=\"middle\">").append(first_line);
  if (!second_line.empty()) {
    out.append("<tspan x=\"").append(x).append("\" dy=\"13\">").append(second_line).append("</tspan>");
  }
  out.append("</text>\n");
}

constexpr double kHourLabelWidth = 36;
constexpr double kDateLabelWidth = 72;

// The date, every few bars if they are narrow.
void append_day_labels(std::string& out, const Chart& chart, const ChartGeometry& geometry) {
  const auto every = static_cast<std::size_t>(std::ceil(kDateLabelWidth / geometry.slot));
  for (std::size_t i = 0; i < chart.bars.size(); i += every) {
    append_x_label(out, geometry, i, date_of(chart.bars[i].start), "");
  }
}

// "12:00" every 1, 2, 3, 4, 6, 12, 24 or 48 hours (the first that leaves room), the date under
// each midnight and under the first label.
void append_hour_labels(std::string& out, const Chart& chart, const ChartGeometry& geometry) {
  std::int64_t hours_apart = 48;
  for (const std::int64_t candidate : {1, 2, 3, 4, 6, 12, 24}) {
    const auto width = candidate == 24 ? kDateLabelWidth : kHourLabelWidth;  // every label is dated
    if (geometry.slot * static_cast<double>(candidate) >= width) {
      hours_apart = candidate;
      break;
    }
  }
  const auto at_midnight = [&chart](std::size_t index) {
    return round_down(chart.bars[index].start, kSecondsPerDay) == chart.bars[index].start;
  };
  std::vector<std::size_t> labelled;
  for (std::size_t i = 0; i < chart.bars.size(); ++i) {
    if (round_down(chart.bars[i].start, hours_apart * kSecondsPerHour) == chart.bars[i].start) labelled.push_back(i);
  }
  // The first label is dated too, unless its date would overlap the first midnight's.
  const auto first_midnight = std::find_if(labelled.begin(), labelled.end(), at_midnight);
  const bool date_first = first_midnight == labelled.end() ||
                          geometry.slot * static_cast<double>(*first_midnight - labelled.front()) >= kDateLabelWidth;
  for (const auto i : labelled) {
    const bool dated = at_midnight(i) || (i == labelled.front() && date_first);
    append_x_label(out, geometry, i, hour_of(chart.bars[i].start), dated ? date_of(chart.bars[i].start) : "");
  }
}

void append_x_axis(std::string& out, const Chart& chart, const ChartGeometry& geometry) {
  out.append("<line class=\"axis\" x1=\"").append(number(geometry.left)).append("\" x2=\"")
      .append(number(geometry.left + geometry.plot_width)).append("\" y1=\"").append(number(geometry.baseline()))
      .append("\" y2=\"").append(number(geometry.baseline())).append("\"/>\n");
  if (chart.hourly()) {
    append_hour_labels(out, chart, geometry);
  } else {
    append_day_labels(out, chart, geometry);
  }
  out.append("<text class=\"axis-title\" x=\"").append(number(geometry.left + geometry.plot_width / 2))
      .append("\" y=\"").append(number(geometry.height() - 4)).append("\" text-anchor=\"middle\">")
      .append(chart.hourly() ? "hour" : "day").append(" (UTC)</text>\n");
}

void append_legend(std::string& out, const Chart& chart, const ChartGeometry& geometry) {
  const auto x = geometry.left + geometry.plot_width + geometry.legend_gap;
  double y = geometry.top;
  for (const auto kind : kAllConflictKinds) {
    const auto total = chart.kind_totals[kind_index(kind)];
    if (total == 0) continue;
    out.append("<g class=\"legend-entry\"><rect x=\"").append(number(x)).append("\" y=\"").append(number(y))
        .append("\" width=\"12\" height=\"12\" fill=\"").append(kind_colour(kind)).append("\"/><text x=\"")
        .append(number(x + 18)).append("\" y=\"").append(number(y + 10)).append("\">").append(to_string(kind))
        .append(" (").append(std::to_string(total)).append(")</text></g>\n");
    y += 18;
  }
}

void append_chart(std::string& out, const Report& report) {
  const auto chart = chart_of(report.hourly);
  if (chart.bars.empty()) {
    out.append("<h2>Conflicts per hour by kind (UTC)</h2>\n<p class=\"empty\">No conflicts match.</p>\n");
    return;
  }
  const ChartGeometry geometry{chart};
  const auto step = tick_step(chart.tallest());
  const auto axis_top = (chart.tallest() + step - 1) / step * step;
  const auto title = html_text(chart_title(chart));
  out.append("<h2>").append(title).append("</h2>\n<div class=\"figure\"><svg class=\"timeline\" width=\"")
      .append(number(geometry.width())).append("\" height=\"").append(number(geometry.height()))
      .append("\" viewBox=\"0 0 ").append(number(geometry.width())).append(" ").append(number(geometry.height()))
      .append("\" role=\"img\" aria-label=\"").append(title).append("\">\n");
  append_y_axis(out, geometry, step, axis_top);
  append_bars(out, chart, geometry, axis_top);
  append_x_axis(out, chart, geometry);
  append_legend(out, chart, geometry);
  out.append("</svg></div>\n");
}

void append_chain_html(std::string& out, const ChainSummary& chain) {
  std::string files;
  for (const auto& file : chain.files) files.append(files.empty() ? "" : ", ").append(html_text(file));
  if (chain.first_bad) {
    out.append("<p class=\"chain broken\">Hash chain: BROKEN at ").append(html_text(chain.first_bad->file))
        .append(":").append(std::to_string(chain.first_bad->line)).append("; this report covers only the ")
        .append(std::to_string(chain.records)).append(chain.records == 1 ? " record" : " records")
        .append(" before it. Files read: ").append(files).append("</p>\n");
    return;
  }
  const auto start = chain.start == kGenesisHash
                         ? std::string{"at genesis"}
                         : "after <code>" + html_text(chain.start) + "</code> (older files rotated away)";
  out.append("<p class=\"chain intact\">Hash chain: intact, ").append(std::to_string(chain.records))
      .append(chain.records == 1 ? " record in " : " records in ").append(files).append("; starts ").append(start)
      .append("; head <code>").append(html_text(chain.head)).append("</code></p>\n");
}

void append_filter_html(std::string& out, const ReportFilter& filter) {
  std::string criteria;
  const auto add = [&criteria](std::string_view name, std::string_view value) {
    criteria.append(criteria.empty() ? "" : ", ").append(name).append(" <b>").append(html_text(value)).append("</b>");
  };
  if (filter.since) add("since", to_rfc3339(*filter.since));
  if (filter.until) add("until", to_rfc3339(*filter.until));
  if (filter.kind) add("kind", to_string(*filter.kind));
  if (filter.table) add("table", *filter.table);
  if (filter.status) add("status", resolution_name(*filter.status));
  if (criteria.empty()) criteria = "none, every conflict";
  out.append("<p class=\"filter\">Filter: ").append(criteria).append("</p>\n");
}

std::string html_time(Timestamp time) {
  return "<time datetime=\"" + to_rfc3339(time) + "\">" + seconds_only(time) + "</time>";
}

void append_group_row(std::string& out, const ReportGroup& group) {
  out.append("<tr class=\"group\"><td class=\"number\">").append(std::to_string(group.count))
      .append("</td><td class=\"number\">").append(std::to_string(group.open_count)).append("</td><td>")
      .append(html_text(group.table)).append("</td><td class=\"kind\"><span class=\"swatch\" style=\"background:")
      .append(kind_colour(group.kind)).append("\"></span>").append(to_string(group.kind))
      .append("</td><td><code>").append(html_text(group.fingerprint)).append("</code></td><td>")
      .append(html_time(group.first_seen)).append("</td><td>").append(html_time(group.last_seen)).append("</td><td>")
      .append(html_text(outcome_text(group.primary))).append("</td><td>").append(html_text(outcome_text(group.mirror)))
      .append("</td><td><code class=\"statement\">").append(html_text(group.example_statement))
      .append("</code></td></tr>\n");
}

void append_groups_html(std::string& out, const std::vector<ReportGroup>& groups) {
  out.append("<h2>Conflicts by table, kind and statement</h2>\n");
  if (groups.empty()) {
    out.append("<p class=\"empty\">No conflicts match.</p>\n");
    return;
  }
  out.append("<table class=\"groups\">\n<thead><tr><th>Count</th><th>Open</th><th>Table</th><th>Kind</th>"
             "<th>Fingerprint</th><th>First seen</th><th>Last seen</th><th>Primary</th><th>Mirror</th>"
             "<th>Statement</th></tr></thead>\n<tbody>\n");
  for (const auto& group : groups) append_group_row(out, group);
  out.append("</tbody>\n</table>\n");
}

void append_untabled_row(std::string& out, const UntabledConflict& conflict) {
  const bool resolved = conflict.resolution == Resolution::resolved && conflict.resolved_at;
  out.append("<tr class=\"untabled\"><td><code>").append(html_text(conflict.id))
      .append("</code></td><td class=\"kind\"><span class=\"swatch\" style=\"background:")
      .append(kind_colour(conflict.kind)).append("\"></span>").append(to_string(conflict.kind)).append("</td><td>")
      .append(html_time(conflict.detected)).append("</td><td>")
      .append(resolved ? "resolved " + html_time(*conflict.resolved_at) : std::string{"open"}).append("</td><td>")
      .append(html_text(conflict.resolved_by)).append("</td><td>").append(html_text(conflict.resolution_note))
      .append("</td><td><code class=\"statement\">").append(html_text(conflict.statement))
      .append("</code></td></tr>\n");
}

void append_untabled_html(std::string& out, const std::vector<UntabledConflict>& conflicts) {
  if (conflicts.empty()) return;
  out.append("<h2>").append(kUntabledTitle).append("</h2>\n<p>").append(html_text(kUntabledAdvice))
      .append(".</p>\n<table class=\"untabled\">\n<thead><tr><th>Id</th><th>Kind</th><th>Detected</th>"
              "<th>Status</th><th>Resolved by</th><th>Note</th><th>Statement</th></tr></thead>\n<tbody>\n");
  for (const auto& conflict : conflicts) append_untabled_row(out, conflict);
  out.append("</tbody>\n</table>\n");
}

// The policy forbids every load, so a value that escaped escaping could still fetch nothing.
constexpr std::string_view kHtmlHead =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
    "<title>pgdual conflict report</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;color:#222;margin:24px}\n"
    "h1{font-size:20px;margin:0 0 8px}\n"
    "h2{font-size:16px;margin:24px 0 8px}\n"
    "p{margin:4px 0}\n"
    ".chain.intact{color:#1a7f37}\n"
    ".chain.broken{color:#fff;background:#b42318;padding:8px;font-weight:bold}\n"
    ".figure{overflow-x:auto}\n"
    "svg text{font:11px system-ui,sans-serif;fill:#444}\n"
    "svg .axis-title{font-size:12px}\n"
    "svg .axis,svg .tick{stroke:#444}\n"
    "svg .grid{stroke:#e5e5e5}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f4f4f4}\n"
    "td.number{text-align:right}\n"
    "td.kind,td time{white-space:nowrap}\n"
    "code{font:12px ui-monospace,monospace}\n"
    "code.statement{overflow-wrap:anywhere}\n"
    ".swatch{display:inline-block;width:10px;height:10px;margin-right:6px}\n"
    "</style>\n</head>\n<body>\n<h1>pgdual conflict report</h1>\n";

std::string render_html(const Report& report) {
  std::string out{kHtmlHead};
  const auto groups = groups_naming_tables(report);
  out.append("<p class=\"totals\">").append(totals_text(report, groups.size())).append("</p>\n");
  append_chain_html(out, report.chain);
  append_filter_html(out, report.filter);
  append_chart(out, report);
  if (!groups.empty() || report.untabled.empty()) append_groups_html(out, groups);
  append_untabled_html(out, report.untabled);
  out.append("</body>\n</html>\n");
  return out;
}

}  // namespace

std::optional<ReportFormat> report_format_from_string(std::string_view name) noexcept {
  if (name == "text") return ReportFormat::text;
  if (name == "json") return ReportFormat::json;
  if (name == "csv") return ReportFormat::csv;
  if (name == "html") return ReportFormat::html;
  return std::nullopt;
}

std::string render_report(const Report& report, ReportFormat format) {
  switch (format) {
    case ReportFormat::text: return render_text(report);
    case ReportFormat::json: return render_json(report);
    case ReportFormat::csv: return render_csv(report);
    case ReportFormat::html: return render_html(report);
  }
  return render_text(report);
}

}  // namespace pgdual::conflict
