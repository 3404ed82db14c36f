#include "proxy/cutover/rollback_watch.h"

#include <utility>

#include "proxy/cutover/running_roles.h"
#include "proxy/cutover/write_gate.h"
#include "proxy/route/rollback_judge.h"

namespace pgdual::proxy {
namespace {

/// How long the rollback waits for running writes to end, and for the mirrors to drain.
constexpr auto kRollbackTimeout = std::chrono::seconds{30};

std::string why_not_paused(const WriteGate::PauseFailure& failure) {
  switch (failure.reason) {
    case WriteGate::PauseFailure::Reason::already_paused: return "writes were paused already, by " + failure.by;
    case WriteGate::PauseFailure::Reason::timed_out: return "running writes did not end within 30 s";
    case WriteGate::PauseFailure::Reason::resumed: return "RESUME WRITES by " + failure.by + " came first";
    case WriteGate::PauseFailure::Reason::shut_down: return "pgdual is shutting down";
  }
  return "writes could not be paused";
}

}  // namespace

RollbackWatch::RollbackWatch(asio::any_io_executor executor, config::CutoverConfig config, SwapParts parts)
    : config_{std::move(config)}, parts_{std::move(parts)}, tick_{std::move(executor)} {}

Awaitable<void> RollbackWatch::run() {
  for (;;) {
    tick_.expires_after(std::chrono::seconds{1});
    const auto [error] = co_await tick_.async_wait(asio::as_tuple(use_awaitable));
    if (error) co_return;
    const auto swaps = parts_.roles.swaps();
    if (swaps == judged_) continue;
    const auto reason = due(swaps);
    if (!reason) continue;
    judged_ = swaps;
    co_await roll_back(*reason);
  }
}

std::optional<std::string> RollbackWatch::due(std::uint64_t swaps) {
  const auto last = parts_.roles.last_swap();
  const auto since = std::chrono::steady_clock::now() - (last ? last->when : std::chrono::steady_clock::now());
  if (!last || last->by == RunningRoles::kAutomaticRollback || since > config_.watch) {
    judged_ = swaps;
    return std::nullopt;
  }
  const auto [answers, faults] = parts_.roles.answers_since_swap();
  return rollback_reason(config_, {.since_swap = since, .answers = answers, .faults = faults});
}

// Writes are resumed whatever came of the swap: the rollback must not leave the service stopped.
Awaitable<void> RollbackWatch::roll_back(const std::string& reason) {
  const std::string who{RunningRoles::kAutomaticRollback};
  parts_.log.error("AUTOMATIC ROLLBACK: {}: pgdual swaps the roles back (cutover.auto_rollback)", reason);
  parts_.audit(who, "automatic rollback: " + reason);
  const auto paused = co_await parts_.gate.pause(kRollbackTimeout, who);
  if (!paused) {
    const auto why = why_not_paused(paused.error());
    parts_.log.error("AUTOMATIC ROLLBACK failed: {}; the roles stay as they are", why);
    parts_.audit(who, "automatic rollback failed: " + why);
    co_return;
  }
  if (parts_.gate.begin_swap(who)) {
    const auto swapped = co_await swap_roles(parts_, who, kRollbackTimeout);
    if (swapped) parts_.log.error("AUTOMATIC ROLLBACK done: {} is the primary again", swapped->primary);
  }
  if (const auto resumed = parts_.gate.resume(who)) {
    parts_.audit(who, "RESUME WRITES: writes go on after " + std::to_string(resumed->paused_for.count()) +
                          " ms paused");
  }
}

}  // namespace pgdual::proxy
