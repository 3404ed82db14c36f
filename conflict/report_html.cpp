#include <algorithm>
#include <string>
#include <vector>

#include "conflict/report_guide.h"
#include "conflict/report_parts.h"
#include "conflict/report_style.h"
#include "conflict/sqlstate_names.h"

// The HTML report: one self-contained page for a reviewer. The chain's state, the timeline, the
// serious groups, each with who wrote it, what its kind and SQLSTATEs mean and what to do next,
// then the harmless groups apart, then the conflicts naming no table.
namespace pgdual::conflict::report_parts {
namespace {

using report_style::kind_colour;
using report_style::severity_class;

constexpr std::string_view kSeriousNote =
    "Open conflicts whose kind says the mirror may lack a write or hold other data than the primary. "
    "Each needs the next step it names before cutover.";
constexpr std::string_view kHarmlessNote =
    "Harmless means that nothing needs doing now. Resolved: every conflict of the group is resolved, "
    "because pgdual reconcile verified its tables identical on both backends or an operator closed it "
    "with a reason. Expected: the kind is nondeterministic, so both backends answered alike, and "
    "statement mirroring records one for every write that relies on a value it could not pin (a serial "
    "column, DEFAULT now()); pgdual verify before cutover tells whether the values differ.";

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

std::string plural(std::size_t count, std::string_view one, std::string_view many) {
  return std::to_string(count) + " " + std::string{count == 1 ? one : many};
}

// "<b>ehr</b>" for one value; "<b>ehr_app</b> (3), <b>batch</b> (1), and 2 more" for several.
std::string names_html(const NameCounts& names) {
  std::string text;
  const bool several = names.shown.size() > 1 || names.others > 0;
  for (const auto& [name, count] : names.shown) {
    text.append(text.empty() ? "" : ", ").append("<b>").append(name.empty() ? "(none recorded)" : html_text(name))
        .append("</b>");
    if (several) text.append(" (").append(std::to_string(count)).append(")");
  }
  if (names.others > 0) text.append(", and ").append(std::to_string(names.others)).append(" more");
  return text;
}

void append_group_header(std::string& out, const ReportGroup& group, Severity severity) {
  // The symbol is for the eye; a screen reader says the label alone.
  out.append("<header><span class=\"badge ").append(severity_class(severity)).append("\"><span aria-hidden=\"true\">")
      .append(report_style::severity_symbol(severity)).append("</span> ").append(severity_label(severity))
      .append("</span><h3 class=\"group-heading\"><span class=\"kind\"><span class=\"swatch\" style=\"background:")
      .append(kind_colour(group.kind)).append("\"></span>").append(to_string(group.kind))
      .append("</span> on <span class=\"table\">").append(html_text(group.table))
      .append("</span></h3><span class=\"counts\">").append(plural(group.count, "conflict", "conflicts")).append(", ")
      .append(std::to_string(group.open_count)).append(" open</span></header>\n<p class=\"who\">")
      .append("<span class=\"database\">database ").append(names_html(group.databases))
      .append("</span><span class=\"user\">user ").append(names_html(group.users))
      .append("</span><span class=\"application\">application ").append(names_html(group.applications))
      .append("</span></p>\n");
}

// "<code>23505</code> <b>unique_violation</b>: a row with the same unique key already exists".
std::string sqlstate_html(std::string_view sqlstate) {
  const auto description = describe_sqlstate(sqlstate);
  const auto code = "<code>" + html_text(sqlstate) + "</code> ";
  if (!description.condition.empty()) {
    return code + "<b class=\"condition\">" + std::string{description.condition} + "</b>: " +
           std::string{description.meaning};
  }
  return html_text(sqlstate_line(sqlstate));
}

void append_outcome(std::string& out, std::string_view side, const OutcomeSummary& outcome) {
  out.append("<dt>").append(side).append("</dt><dd>").append(html_text(outcome_text(outcome)));
  if (!outcome.sqlstate.empty()) {
    out.append("<br><span class=\"sqlstate\">").append(sqlstate_html(outcome.sqlstate)).append("</span>");
  }
  out.append("</dd>\n");
}

// The step's words as text, its commands as code to copy.
std::string step_html(const NextStep& step) {
  std::string html;
  for (const auto& part : step) {
    html += part.command ? "<code class=\"command\">" + html_text(part.text) + "</code>" : html_text(part.text);
  }
  return html;
}

void append_group(std::string& out, const ReportGroup& group) {
  const auto severity = group_severity(group);
  out.append("<section class=\"group ").append(severity_class(severity)).append("\" data-kind=\"")
      .append(to_string(group.kind)).append("\">\n");
  append_group_header(out, group, severity);
  out.append("<p class=\"meaning\">").append(kind_meaning(group.kind)).append(".</p>\n<dl>\n");
  append_outcome(out, "Primary", group.primary);
  append_outcome(out, "Mirror", group.mirror);
  out.append("<dt>Detected</dt><dd>").append(html_time(group.first_seen)).append(" to ")
      .append(html_time(group.last_seen)).append("</dd>\n<dt>Statement</dt><dd><code class=\"statement\">")
      .append(html_text(group.example_statement)).append("</code><br><span class=\"note\">fingerprint <code>")
      .append(html_text(group.fingerprint))
      .append("</code></span></dd>\n</dl>\n<p class=\"next-step\"><b>Next step:</b> ")
      .append(step_html(next_step(group))).append("</p>\n</section>\n");
}

void append_groups_html(std::string& out, const std::vector<ReportGroup>& groups) {
  if (groups.empty()) {
    out.append("<h2>Conflicts by table, kind and statement</h2>\n<p class=\"empty\">No conflicts match.</p>\n");
    return;
  }
  std::vector<ReportGroup> serious;
  std::vector<ReportGroup> harmless;
  for (const auto& group : groups) (is_harmless(group_severity(group)) ? harmless : serious).push_back(group);
  out.append("<h2 id=\"serious\">Serious: needs action (").append(plural(serious.size(), "group", "groups"))
      .append(")</h2>\n<p class=\"note\">").append(kSeriousNote).append("</p>\n");
  if (serious.empty()) out.append("<p class=\"empty\">No serious conflicts match.</p>\n");
  for (const auto& group : serious) append_group(out, group);
  out.append("<div class=\"harmless\">\n<h2 id=\"harmless\">Harmless (")
      .append(plural(harmless.size(), "group", "groups"))
      .append(")</h2>\n<p class=\"note\">").append(kHarmlessNote).append("</p>\n");
  if (harmless.empty()) out.append("<p class=\"empty\">No harmless conflicts match.</p>\n");
  for (const auto& group : harmless) append_group(out, group);
  out.append("</div>\n");
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
void append_head(std::string& out) {
  out.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
             "<title>pgdual conflict report</title>\n<style>\n")
      .append(report_style::style_sheet())
      .append("</style>\n</head>\n<body>\n<h1>pgdual conflict report</h1>\n");
}

}  // namespace

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

std::string render_html(const Report& report) {
  std::string out;
  append_head(out);
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

}  // namespace pgdual::conflict::report_parts
