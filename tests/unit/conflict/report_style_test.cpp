#include "conflict/report_style.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace pgdual::conflict;
using namespace pgdual::conflict::report_style;

namespace {

using Vector = std::array<double, 3>;
using Matrix = std::array<Vector, 3>;

double hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  FAIL("not a lower-case hex digit: " << c);
  return 0;
}

// "#rrggbb" to linear RGB, 0 to 1 (sRGB's transfer function undone).
Vector linear_rgb(std::string_view hex) {
  REQUIRE(hex.size() == 7);
  REQUIRE(hex[0] == '#');
  Vector rgb{};
  for (std::size_t i = 0; i < 3; ++i) {
    const double value = (hex_digit(hex[1 + 2 * i]) * 16 + hex_digit(hex[2 + 2 * i])) / 255.0;
    rgb[i] = value <= 0.04045 ? value / 12.92 : std::pow((value + 0.055) / 1.055, 2.4);
  }
  return rgb;
}

// WCAG 2's relative luminance and contrast ratio.
double luminance(std::string_view hex) {
  const auto rgb = linear_rgb(hex);
  return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
}

double contrast(std::string_view first, std::string_view second) {
  const auto lighter = std::max(luminance(first), luminance(second));
  const auto darker = std::min(luminance(first), luminance(second));
  return (lighter + 0.05) / (darker + 0.05);
}

// Machado, Oliveira and Fernandes (2009): full protanopia, deuteranopia and tritanopia, on linear RGB.
constexpr Matrix kNormal{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
constexpr Matrix kProtanopia{{{0.152286, 1.052583, -0.204868}, {0.114503, 0.786281, 0.099216},
                              {-0.003882, -0.048116, 1.051998}}};
constexpr Matrix kDeuteranopia{{{0.367322, 0.860646, -0.227968}, {0.280085, 0.672501, 0.047413},
                                {-0.011820, 0.042940, 0.968881}}};
constexpr Matrix kTritanopia{{{1.255528, -0.076749, -0.178779}, {-0.078411, 0.930809, 0.147602},
                              {0.004733, 0.691367, 0.303900}}};

// CIELAB (D65) of a linear RGB colour as seen through `vision`.
Vector lab_seen(std::string_view hex, const Matrix& vision) {
  const auto rgb = linear_rgb(hex);
  Vector seen{};
  for (std::size_t row = 0; row < 3; ++row) {
    double sum = 0;
    for (std::size_t column = 0; column < 3; ++column) sum += vision[row][column] * rgb[column];
    seen[row] = std::clamp(sum, 0.0, 1.0);
  }
  const double x = (0.4124 * seen[0] + 0.3576 * seen[1] + 0.1805 * seen[2]) / 0.95047;
  const double y = 0.2126 * seen[0] + 0.7152 * seen[1] + 0.0722 * seen[2];
  const double z = (0.0193 * seen[0] + 0.1192 * seen[1] + 0.9505 * seen[2]) / 1.08883;
  const auto f = [](double t) { return t > 216.0 / 24389 ? std::cbrt(t) : (24389.0 / 27 * t + 16) / 116; };
  return {116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))};
}

// The smallest CIE76 colour difference between any two of `colours`, for any of the four visions.
double closest_pair(const std::vector<std::string_view>& colours) {
  double closest = 1e9;
  for (const auto* vision : {&kNormal, &kProtanopia, &kDeuteranopia, &kTritanopia}) {
    for (std::size_t i = 0; i < colours.size(); ++i) {
      for (std::size_t j = i + 1; j < colours.size(); ++j) {
        const auto a = lab_seen(colours[i], *vision);
        const auto b = lab_seen(colours[j], *vision);
        const double distance = std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
        if (distance < closest) {
          closest = distance;
          UNSCOPED_INFO("closest so far: " << colours[i] << " and " << colours[j] << ", " << distance);
        }
      }
    }
  }
  return closest;
}

constexpr std::array kSeverities{Severity::serious, Severity::expected, Severity::resolved};

}  // namespace

TEST_CASE("Every text colour of the HTML report meets WCAG AA contrast on its background", "[unit][conflict]") {
  CHECK(contrast("#000000", "#ffffff") == Approx(21.0));  // the formula's own check
  for (const auto& pair : text_colour_pairs()) {
    INFO(pair.text << " on " << pair.background << ": " << contrast(pair.text, pair.background));
    CHECK(contrast(pair.text, pair.background) >= 4.5);
  }
  for (const auto severity : kSeverities) {
    const auto colours = severity_colours(severity);
    INFO(severity_label(severity));
    CHECK(contrast(colours.text, colours.background) >= 4.5);
    const auto pairs = text_colour_pairs();
    CHECK(std::any_of(pairs.begin(), pairs.end(), [&colours](const TextOn& pair) {
      return pair.text == colours.text && pair.background == colours.background;
    }));
  }
}

TEST_CASE("Severities differ in colour for colour-blind readers, and in symbol and label", "[unit][conflict]") {
  std::vector<std::string_view> backgrounds;
  std::set<std::string_view> symbols;
  std::set<std::string_view> classes;
  for (const auto severity : kSeverities) {
    backgrounds.push_back(severity_colours(severity).background);
    CHECK(symbols.insert(severity_symbol(severity)).second);
    CHECK(classes.insert(severity_class(severity)).second);
  }
  CHECK(closest_pair(backgrounds) >= 30);
}

TEST_CASE("The chart's kind colours stay apart for colour-blind readers", "[unit][conflict]") {
  std::vector<std::string_view> colours;
  for (const auto kind : kAllConflictKinds) {
    if (kind != ConflictKind::cutover) colours.push_back(kind_colour(kind));  // never charted: no conflict
  }
  // The palette before issue 21 (Tableau's ten and two) had mirror_error and different_errors
  // 0.9 apart for deuteranopes.
  CHECK(closest_pair({"#e15759", "#59a14f"}) < 2);
  CHECK(closest_pair(colours) >= 15);
}

TEST_CASE("The style sheet is built from the palette", "[unit][conflict]") {
  const auto css = style_sheet();
  for (const auto& pair : text_colour_pairs()) {
    CHECK(css.find(std::string{"color:"} + std::string{pair.text} + ";background:" + std::string{pair.background}) !=
          std::string::npos);
  }
  for (const auto severity : kSeverities) {
    CHECK(css.find(".badge." + std::string{severity_class(severity)} + "{") != std::string::npos);
  }
  CHECK(css.find("url(") == std::string::npos);
}
