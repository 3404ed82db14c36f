// Part of step 2 of parse_config: the [brake] and [cutover] values that a plain range cannot express, each a
// range with a hole or an open end. check_schema has already vouched for their types.

#include <limits>
#include <string>
#include <string_view>

#include "config/document.h"

namespace pgdual::config {
namespace {

// A rate of 0 would trip on the first error, which no backend can promise never to return.
Expected<void, ConfigError> check_error_rate(const toml::table& doc, std::string_view key) {
  const auto* node = doc.at_path(key).node();
  if (node == nullptr) return {};
  const double value = node->value<double>().value_or(0.0);
  if (value > 0.0 && value <= 100.0) return {};
  return unexpected(
      error_at(node->source(), std::string{key}, "must be more than 0 and at most 100, got " + number_text(*node)));
}

// The mirror's latency over the primary's for the same statement, per read: a limit of 1 would trip
// on a mirror exactly as fast as the primary half the time, and one under 1.5 on the noise between
// two runs of one statement on one server. Above 1000 the check could never trip before the mirror
// timed reads out anyway.
constexpr double kMinLatencyRatio = 1.5;
constexpr double kMaxLatencyRatio = 1000.0;

Expected<void, ConfigError> check_latency_ratio(const toml::table& doc) {
  const auto* node = doc.at_path("brake.latency_ratio").node();
  if (node == nullptr) return {};
  // A NaN fails every comparison, so it lands in the error below.
  const double value = node->value<double>().value_or(std::numeric_limits<double>::quiet_NaN());
  if (value == 0.0 || (value >= kMinLatencyRatio && value <= kMaxLatencyRatio)) return {};
  return unexpected(error_at(node->source(), "brake.latency_ratio",
                             "must be 0 (off) or 1.5..1000, got " + number_text(*node)));
}

}  // namespace

Expected<void, ConfigError> check_brake(const toml::table& doc) {
  if (auto ok = check_error_rate(doc, "brake.error_rate_percent"); !ok) return ok;
  if (auto ok = check_error_rate(doc, "cutover.rollback_error_rate_percent"); !ok) return ok;
  return check_latency_ratio(doc);
}

}  // namespace pgdual::config
