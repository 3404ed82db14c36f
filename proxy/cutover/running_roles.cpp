#include "proxy/cutover/running_roles.h"

#include <chrono>
#include <utility>

#include "conflict/time_text.h"

namespace pgdual::proxy {

RunningRoles::RunningRoles(std::shared_ptr<const config::ProxyConfig> started)
    : config_{std::move(started)} {}

std::shared_ptr<const config::ProxyConfig> RunningRoles::config() const {
  const std::lock_guard lock{mutex_};
  return config_;
}

std::shared_ptr<const config::ProxyConfig> RunningRoles::turned() const {
  auto copy = std::make_shared<config::ProxyConfig>(*config());
  copy->primary = copy->primary == "cloud" ? "onprem" : "cloud";
  return copy;
}

void RunningRoles::swapped(std::shared_ptr<const config::ProxyConfig> turned, std::string by) {
  const std::lock_guard lock{mutex_};
  last_swap_ = Swap{.by = std::move(by),
                    .at = conflict::rfc3339_utc(std::chrono::system_clock::now()),
                    .primary = turned->primary,
                    .when = std::chrono::steady_clock::now()};
  config_ = std::move(turned);
  answers_ = 0;
  faults_ = 0;
  ++swaps_;
}

void RunningRoles::count_answer(bool fault) noexcept {
  answers_.fetch_add(1, std::memory_order_relaxed);
  if (fault) faults_.fetch_add(1, std::memory_order_relaxed);
}

std::optional<RunningRoles::Swap> RunningRoles::last_swap() const {
  const std::lock_guard lock{mutex_};
  return last_swap_;
}

}  // namespace pgdual::proxy
