#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

// What `pgdual check` and the console's SHOW CHECKS found (README.md, "Checking before you start"):
// one verdict per prerequisite, each failure with its fix, so that an operator learns every
// problem at once rather than one at a time from a migration that breaks. Pure: no I/O.
namespace pgdual::jobs {

/// How a prerequisite stands. A warning is something pgdual runs without but an operator should
/// know, or could not check and must check by hand.
enum class Verdict { ok, warning, failed };

/// "ok", "warning" or "failed".
[[nodiscard]] std::string_view to_string(Verdict verdict) noexcept;

/// One prerequisite as found.
struct ReadinessCheck {
  /// What it is about: "configuration", "server onprem (host:port)", "role \"app\" on cloud",
  /// "database \"x\" on onprem".
  std::string subject;
  std::string name;     ///< the prerequisite, short: "login", "wal_level", "pgdual schema", "disk"
  Verdict verdict = Verdict::ok;
  std::string found;    ///< what was found, naming settings, roles and objects, never row data
  std::string fix;      ///< a concrete command or configuration change; empty when ok

  friend bool operator==(const ReadinessCheck&, const ReadinessCheck&) = default;
};

/// How many of `checks` have `verdict`.
[[nodiscard]] std::size_t count_of(const std::vector<ReadinessCheck>& checks, Verdict verdict) noexcept;

/// Whether nothing failed: warnings allow a start.
[[nodiscard]] bool ready(const std::vector<ReadinessCheck>& checks) noexcept;

/// The report as text: the checks grouped by subject, subjects in the order they first appear,
/// one line per check ("  ok       name: found"), a "fix:" line under each warning and failure
/// that has one; then the verdict line: "ready", "ready, 1 warning", or "not ready: N problems"
/// (failures only, "1 problem" in the singular). Every line ends with '\n'.
[[nodiscard]] std::string render_report(const std::vector<ReadinessCheck>& checks);

}  // namespace pgdual::jobs
