#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "conflict/report_parts.h"
#include "conflict/report_style.h"

// The HTML report's timeline: conflicts per hour (or day) by kind, as inline SVG stacked bars.
namespace pgdual::conflict::report_parts {
namespace {

using report_style::kind_colour;

constexpr std::int64_t kSecondsPerHour = 3'600;
constexpr std::int64_t kSecondsPerDay = 86'400;
// Two weeks of hours: beyond that a bar covers a day (or several), so the chart stays readable.
constexpr std::int64_t kMostBars = 14 * 24;

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

// Top to bottom as the bars stack, so a reader matches a band to its entry by position, not only colour.
void append_legend(std::string& out, const Chart& chart, const ChartGeometry& geometry) {
  const auto x = geometry.left + geometry.plot_width + geometry.legend_gap;
  double y = geometry.top;
  for (auto kind_at = kAllConflictKinds.rbegin(); kind_at != kAllConflictKinds.rend(); ++kind_at) {
    const auto kind = *kind_at;
    const auto total = chart.kind_totals[kind_index(kind)];
    if (total == 0) continue;
    out.append("<g class=\"legend-entry\"><rect x=\"").append(number(x)).append("\" y=\"").append(number(y))
        .append("\" width=\"12\" height=\"12\" fill=\"").append(kind_colour(kind)).append("\"/><text x=\"")
        .append(number(x + 18)).append("\" y=\"").append(number(y + 10)).append("\">").append(to_string(kind))
        .append(" (").append(std::to_string(total)).append(")</text></g>\n");
    y += 18;
  }
}

}  // namespace

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

}  // namespace pgdual::conflict::report_parts
