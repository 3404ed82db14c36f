#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "config/proxy_config.h"

/// Whether the automatic rollback after SWAP ROLES is due (docs/cutover.md, "Automatic rollback").
/// Pure: figures in, a verdict out.
namespace pgdual::proxy {

/// What the new primary answered since the swap.
struct AnswersSinceSwap {
  std::chrono::steady_clock::duration since_swap{};
  std::uint64_t answers = 0;  ///< units the primary answered
  std::uint64_t faults = 0;   ///< of those, answered with an error that is not the client's own
};

/// Why the roles are to be swapped back, e.g. "3.1% of the new primary's 412 answers failed in the 95 s since the
/// swap (more than 2%)"; nothing while `config` has it off, the watch is over, too few answers
/// were given, or the rate is at most the limit.
[[nodiscard]] std::optional<std::string> rollback_reason(const config::CutoverConfig& config,
                                                         const AnswersSinceSwap& answers);

}  // namespace pgdual::proxy
