#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "conflict/report.h"

namespace pgdual::conflict {

/// How a report is printed. Each format is one renderer: Report in, text out.
enum class ReportFormat {
  /// An aligned table for a terminal. Control characters are neutralized and
  /// long statements cut with "…", so no value can move the cursor or break a row.
  /// The conflicts that name no table follow, apart, one row each with its id, status,
  /// resolver and note, instead of as "(none)" groups.
  text,
  /// One object: {"chain":{"intact":…,"records":N,…},"filter":{…},"conflicts":N,"open":N,"groups":[…],
  /// "no_table":[…]}: the groups, "(none)" ones included, each with its databases, users and
  /// applications counted; then each conflict that names no table with its id, status, resolver and note.
  json,
  /// RFC 4180: a header row, then one row per group; CRLF line ends; fields
  /// with a comma, quote, CR or LF quoted, quotes doubled. The chain's state
  /// is not in it (the command's exit code and stderr carry it).
  csv,
  /// One self-contained HTML5 document for a reviewer: inline style, no script, and nothing it
  /// loads (no URL of any kind; a Content-Security-Policy forbids loads). The chain's state, the
  /// filter, the totals, a timeline of conflicts per hour by kind as inline SVG stacked bars (per
  /// day, or per several days, when the conflicts span more than 14 days, which its title says);
  /// then the groups, serious ones first and harmless ones apart (report_guide.h), each with its
  /// databases, users and applications, what its kind and SQLSTATEs mean (sqlstate_names.h) and a
  /// next step; then the conflicts that name no table as a table of their own. Colours
  /// (report_style.h) never carry meaning alone. Every string is HTML-escaped after the text
  /// format's neutralizing of control characters; statements are not cut.
  html,
};

/// "text", "json", "csv" or "html"; std::nullopt for any other name.
[[nodiscard]] std::optional<ReportFormat> report_format_from_string(std::string_view name) noexcept;

/// `report` in `format`. Prints only what the records hold: names, counts,
/// times, normalized statements and command tags, never row values.
[[nodiscard]] std::string render_report(const Report& report, ReportFormat format);

}  // namespace pgdual::conflict
