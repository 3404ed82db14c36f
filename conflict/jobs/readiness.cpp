#include "conflict/jobs/readiness.h"

#include <algorithm>

namespace pgdual::jobs {
namespace {

std::string counted(std::size_t count, std::string_view noun) {
  return std::to_string(count) + " " + std::string{noun} + (count == 1 ? "" : "s");
}

// Upper case for what needs attention, so that it stands out in a long report.
std::string_view label(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::ok: return "ok      ";
    case Verdict::warning: return "WARNING ";
    case Verdict::failed: return "FAILED  ";
  }
  return "ok      ";
}

void append_check(const ReadinessCheck& check, std::string& text) {
  text.append("  ").append(label(check.verdict)).append(check.name).append(": ").append(check.found).append("\n");
  if (check.verdict != Verdict::ok && !check.fix.empty()) {
    text.append("          fix: ").append(check.fix).append("\n");
  }
}

std::string verdict_line(const std::vector<ReadinessCheck>& checks) {
  const auto failed = count_of(checks, Verdict::failed);
  if (failed > 0) return "not ready: " + counted(failed, "problem") + "\n";
  const auto warnings = count_of(checks, Verdict::warning);
  return warnings == 0 ? "ready\n" : "ready, " + counted(warnings, "warning") + "\n";
}

}  // namespace

std::string_view to_string(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::ok: return "ok";
    case Verdict::warning: return "warning";
    case Verdict::failed: return "failed";
  }
  return "ok";
}

std::size_t count_of(const std::vector<ReadinessCheck>& checks, Verdict verdict) noexcept {
  return static_cast<std::size_t>(
      std::ranges::count(checks, verdict, [](const ReadinessCheck& check) { return check.verdict; }));
}

bool ready(const std::vector<ReadinessCheck>& checks) noexcept { return count_of(checks, Verdict::failed) == 0; }

std::string render_report(const std::vector<ReadinessCheck>& checks) {
  std::vector<std::string_view> subjects;
  for (const auto& check : checks) {
    if (std::ranges::find(subjects, check.subject) == subjects.end()) subjects.push_back(check.subject);
  }
  std::string text;
  for (const auto subject : subjects) {
    text.append(subject).append("\n");
    for (const auto& check : checks) {
      if (check.subject == subject) append_check(check, text);
    }
  }
  return text + verdict_line(checks);
}

}  // namespace pgdual::jobs
