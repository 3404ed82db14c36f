#include "conflict/report_render.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <vector>

#include "conflict/json.h"
#include "conflict/report_parts.h"

namespace pgdual::conflict {
namespace report_parts {

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

// {"shown":[{"name":"ehr","count":3}],"others":0}
void append_json_names(std::string& out, const NameCounts& names) {
  out.append("{\"shown\":[");
  for (std::size_t i = 0; i < names.shown.size(); ++i) {
    out.append(i == 0 ? "{\"name\":" : ",{\"name\":");
    json::append_string(out, names.shown[i].name);
    out.append(",\"count\":").append(std::to_string(names.shown[i].count)).push_back('}');
  }
  out.append("],\"others\":").append(std::to_string(names.others)).push_back('}');
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
  out.append(",\"databases\":");
  append_json_names(out, group.databases);
  out.append(",\"users\":");
  append_json_names(out, group.users);
  out.append(",\"applications\":");
  append_json_names(out, group.applications);
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

}  // namespace report_parts

std::optional<ReportFormat> report_format_from_string(std::string_view name) noexcept {
  if (name == "text") return ReportFormat::text;
  if (name == "json") return ReportFormat::json;
  if (name == "csv") return ReportFormat::csv;
  if (name == "html") return ReportFormat::html;
  return std::nullopt;
}

std::string render_report(const Report& report, ReportFormat format) {
  using namespace report_parts;
  switch (format) {
    case ReportFormat::text: return render_text(report);
    case ReportFormat::json: return render_json(report);
    case ReportFormat::csv: return render_csv(report);
    case ReportFormat::html: return render_html(report);
  }
  return render_text(report);
}

}  // namespace pgdual::conflict
