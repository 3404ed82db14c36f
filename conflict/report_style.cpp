#include "conflict/report_style.h"

#include <array>

namespace pgdual::conflict::report_style {
namespace {

constexpr TextOn kSerious{"#000000", "#d55e00"};   // vermillion
constexpr TextOn kExpected{"#000000", "#f0e442"};  // yellow
constexpr TextOn kResolved{"#ffffff", "#0072b2"};  // blue

constexpr std::array kTextPairs{kPage, kMuted, kTableHeading, kChainIntact, kChainBroken, kSerious, kExpected,
                                kResolved};

std::string rule(std::string_view selector, const TextOn& colours, std::string_view more = "") {
  return std::string{selector} + "{color:" + std::string{colours.text} + ";background:" +
         std::string{colours.background} + std::string{more} + "}\n";
}

}  // namespace

TextOn severity_colours(Severity severity) noexcept {
  switch (severity) {
    case Severity::serious: return kSerious;
    case Severity::expected: return kExpected;
    case Severity::resolved: return kResolved;
  }
  return kSerious;
}

std::string_view severity_class(Severity severity) noexcept {
  switch (severity) {
    case Severity::serious: return "serious";
    case Severity::expected: return "expected";
    case Severity::resolved: return "resolved";
  }
  return "serious";
}

// Shapes that differ as well as colours: a warning triangle, a circle, a tick.
std::string_view severity_symbol(Severity severity) noexcept {
  switch (severity) {
    case Severity::serious: return "\u25B2";
    case Severity::expected: return "\u25CF";
    case Severity::resolved: return "\u2714";
  }
  return "\u25B2";
}

// Okabe–Ito's eight, then a wine, a violet, a brown and a pale grey; nondeterministic, expected in
// statement mode, gets the grey, and the chart outlines every bar so the grey shows on white.
std::string_view kind_colour(ConflictKind kind) noexcept {
  switch (kind) {
    case ConflictKind::primary_unavailable: return "#cc79a7";
    case ConflictKind::mirror_unavailable: return "#d55e00";
    case ConflictKind::mirror_timeout: return "#e69f00";
    case ConflictKind::mirror_error: return "#0072b2";
    case ConflictKind::error_primary_only: return "#56b4e9";
    case ConflictKind::different_errors: return "#f0e442";
    case ConflictKind::row_count: return "#009e73";
    case ConflictKind::returning_differs: return "#785ef0";
    case ConflictKind::transaction_status_differs: return "#5c3a00";
    case ConflictKind::unclassified: return "#000000";
    case ConflictKind::nondeterministic: return "#dddddd";
    case ConflictKind::read_mismatch: return "#882255";
    case ConflictKind::cutover: return "#999999";
  }
  return "#000000";
}

std::span<const TextOn> text_colour_pairs() noexcept { return kTextPairs; }

std::string style_sheet() {
  std::string css;
  css.append(rule("body", kPage, ";font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:1280px"))
      .append("h1{font-size:20px;margin:0 0 8px}\n"
              "h2{font-size:17px;margin:28px 0 8px}\n"
              "h3{font-size:15px;margin:0}\n"
              "p{margin:4px 0}\n")
      .append(rule(".chain.intact", kChainIntact))
      .append(rule(".chain.broken", kChainBroken, ";padding:8px;font-weight:bold"))
      .append(rule(".note", kMuted))
      .append(".figure{overflow-x:auto}\n"
              "svg text{font:11px system-ui,sans-serif;fill:#444444}\n"
              "svg .axis-title{font-size:12px}\n"
              "svg .axis,svg .tick{stroke:#444444}\n"
              "svg .grid{stroke:#e5e5e5}\n"
              "svg .bar rect,svg .legend-entry rect{stroke:#333333;stroke-width:0.5}\n"
              "table{border-collapse:collapse;width:100%}\n"
              "th,td{border-bottom:1px solid #dddddd;padding:4px 8px;text-align:left;vertical-align:top}\n")
      .append(rule("th", kTableHeading))
      .append(rule("code.command", kTableHeading, ";padding:0 3px"))
      .append("td.kind,td time{white-space:nowrap}\n"
              "code{font:12px ui-monospace,monospace}\n"
              "code.statement,code.command{overflow-wrap:anywhere}\n"
              ".swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border:1px solid #333333}\n"
              ".group{border:1px solid #cccccc;border-left-width:8px;padding:8px 12px;margin:12px 0}\n"
              ".group header{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:baseline}\n"
              ".who{margin:4px 0}\n"
              ".who span{margin-right:16px}\n"
              ".group dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}\n"
              ".group dt{font-weight:bold}\n"
              ".group dd{margin:0}\n"
              ".next-step{border-top:1px solid #dddddd;margin-top:8px;padding-top:6px}\n"
              ".badge{display:inline-block;padding:1px 8px;border-radius:3px;font-weight:bold}\n");
  for (const auto severity : {Severity::serious, Severity::expected, Severity::resolved}) {
    const auto name = std::string{severity_class(severity)};
    const auto colours = severity_colours(severity);
    css.append(rule(".badge." + name, colours))
        .append(".group." + name + "{border-left-color:" + std::string{colours.background} + "}\n");
  }
  return css;
}

}  // namespace pgdual::conflict::report_style
