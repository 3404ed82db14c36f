#include "proxy/route/rollback_judge.h"

#include <cstdio>

namespace pgdual::proxy {
namespace {

std::string percent_text(double percent) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g%%", percent);
  return text;
}

}  // namespace

std::optional<std::string> rollback_reason(const config::CutoverConfig& config, const AnswersSinceSwap& answers) {
  if (!config.auto_rollback || answers.since_swap > config.watch) return std::nullopt;
  if (answers.answers == 0 || answers.answers < config.rollback_min_answers) return std::nullopt;
  const double percent = 100.0 * static_cast<double>(answers.faults) / static_cast<double>(answers.answers);
  if (percent <= config.rollback_error_rate_percent) return std::nullopt;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(answers.since_swap).count();
  return percent_text(percent) + " of the new primary's " + std::to_string(answers.answers) + " answers failed in the " +
         std::to_string(seconds) + " s since the swap (more than " +
         percent_text(config.rollback_error_rate_percent) + ")";
}

}  // namespace pgdual::proxy
