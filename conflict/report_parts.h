#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conflict/report.h"

/// What the report's renderers share (conflict/report_render.cpp: text, JSON, CSV;
/// conflict/report_html.cpp and report_chart.cpp: HTML). Not for use outside them.
namespace pgdual::conflict::report_parts {

constexpr std::string_view kUntabledTitle = "Conflicts naming no table";
constexpr std::string_view kUntabledAdvice =
    "no reconcile can settle these: resolve each by id with pgdual conflicts resolve";

[[nodiscard]] std::string_view resolution_name(Resolution resolution);
/// The groups of conflicts that name a table: text and HTML list the others one by one, by id.
[[nodiscard]] std::vector<ReportGroup> groups_naming_tables(const Report& report);
/// "4 conflicts, 3 open, in 3 groups", and "; 1 naming no table" when there are such.
[[nodiscard]] std::string totals_text(const Report& report, std::size_t groups);
/// Whitespace runs become one space; other control characters, C1 ones included, become U+FFFD,
/// so a value cannot steer a terminal.
[[nodiscard]] std::string terminal_safe(std::string_view text);
/// "DELETE 0", "COMMIT, 3 rows", "error 23505", "unreachable".
[[nodiscard]] std::string outcome_text(const OutcomeSummary& outcome);
/// The time to the second.
[[nodiscard]] std::string seconds_only(Timestamp time);

/// The text format's neutralizing, then & < > " ' as entities: no value can open a tag, leave an
/// attribute or carry a control character.
[[nodiscard]] std::string html_text(std::string_view text);
/// The timeline of conflicts per hour (or day) by kind: a heading and an inline SVG chart.
void append_chart(std::string& out, const Report& report);

[[nodiscard]] std::string render_html(const Report& report);

}  // namespace pgdual::conflict::report_parts
