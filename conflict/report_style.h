#pragma once

#include <span>
#include <string>
#include <string_view>

#include "conflict/compare.h"
#include "conflict/report_guide.h"

/// The HTML report's colours and style sheet. Colours are Okabe and Ito's palette, which readers
/// with any common colour-vision deficiency tell apart, with four more for the chart's twelve kinds
/// chosen to stay apart too (tests/unit/conflict/report_style_test.cpp simulates protanopia,
/// deuteranopia and tritanopia). Colour never carries meaning alone: every severity is also written
/// out with a symbol, and every kind named in the chart's legend and tooltips.
namespace pgdual::conflict::report_style {

/// A text colour on a background, both "#rrggbb".
struct TextOn {
  std::string_view text;
  std::string_view background;
};

inline constexpr TextOn kPage{"#222222", "#ffffff"};
inline constexpr TextOn kMuted{"#555555", "#ffffff"};        ///< notes and explanations
inline constexpr TextOn kTableHeading{"#222222", "#f0f0f0"};
inline constexpr TextOn kChainIntact{"#005a87", "#ffffff"};   ///< a dark Okabe–Ito blue
inline constexpr TextOn kChainBroken{"#000000", "#d55e00"};   ///< Okabe–Ito vermillion

/// The badge of a severity: its colours, a symbol and severity_label().
[[nodiscard]] TextOn severity_colours(Severity severity) noexcept;
[[nodiscard]] std::string_view severity_symbol(Severity severity) noexcept;
/// "serious", "expected", "resolved": the class of its badge and its groups in the page.
[[nodiscard]] std::string_view severity_class(Severity severity) noexcept;

/// A kind's colour in the chart and next to its name.
[[nodiscard]] std::string_view kind_colour(ConflictKind kind) noexcept;

/// Every pair of text and background colours the page uses, for the contrast test.
[[nodiscard]] std::span<const TextOn> text_colour_pairs() noexcept;

/// The page's whole style sheet, built from the colours above.
[[nodiscard]] std::string style_sheet();

}  // namespace pgdual::conflict::report_style
