#pragma once

#include <string>
#include <string_view>

namespace pgdual::test {

/// "" when the two transcripts are equal; otherwise where they first differ, with the line from
/// each and a few lines of shared context before it, for a failure message that fits on a screen.
[[nodiscard]] std::string first_difference(std::string_view direct, std::string_view proxied);

}  // namespace pgdual::test
