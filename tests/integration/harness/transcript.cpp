#include "tests/integration/harness/transcript.h"

#include <algorithm>
#include <vector>

namespace pgdual::test {
namespace {

constexpr std::size_t kContextLines = 3;

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    lines.push_back(text.substr(0, end));
    text = end == std::string_view::npos ? "" : text.substr(end + 1);
  }
  return lines;
}

std::string line_or_end(const std::vector<std::string_view>& lines, std::size_t index) {
  return index < lines.size() ? "|" + std::string{lines[index]} + "|" : "(end of output)";
}

}  // namespace

std::string first_difference(std::string_view direct, std::string_view proxied) {
  if (direct == proxied) return "";
  const auto direct_lines = split_lines(direct);
  const auto proxied_lines = split_lines(proxied);
  std::size_t line = 0;
  while (line < direct_lines.size() && line < proxied_lines.size() && direct_lines[line] == proxied_lines[line]) {
    ++line;
  }
  std::string report = "first difference at line " + std::to_string(line + 1) + "\n";
  for (std::size_t before = line - std::min(line, kContextLines); before < line; ++before) {
    report += "  same   : " + line_or_end(direct_lines, before) + "\n";
  }
  report += "  direct : " + line_or_end(direct_lines, line) + "\n";
  report += "  proxied: " + line_or_end(proxied_lines, line) + "\n";
  if (line >= direct_lines.size() && line >= proxied_lines.size()) {
    report += "  (the lines are equal; only a final newline differs)\n";
  }
  return report;
}

}  // namespace pgdual::test
