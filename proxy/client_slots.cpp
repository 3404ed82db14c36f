#include "proxy/client_slots.h"

#include <utility>

#include "proxy/admin/metrics.h"

namespace pgdual::proxy {
namespace {

/// A flood evicts logins by the thousand: one log line per interval says how many.
constexpr std::chrono::seconds kEvictionLogInterval{10};

}  // namespace

ClientSlots::Slot::Slot(Slot&& other) noexcept
    : slots_{std::exchange(other.slots_, nullptr)}, id_{other.id_}, session_{other.session_} {}

ClientSlots::Slot::~Slot() {
  if (slots_ != nullptr) slots_->release(id_, session_);
}

bool ClientSlots::Slot::enter_session() {
  if (!session_) session_ = slots_->enter_session(id_);
  return session_;
}

ClientSlots::ClientSlots(Caps caps, Metrics& metrics, std::shared_ptr<spdlog::logger> log)
    : caps_{caps}, metrics_{metrics}, log_{std::move(log)} {}

ClientSlots::Slot ClientSlots::begin_login(std::uint64_t id, std::string address, asio::any_io_executor executor,
                                           std::function<void()> evict) {
  std::lock_guard lock{mutex_};
  if (!logins_.empty() && logins_.size() >= caps_.logins) evict_oldest();
  logins_.emplace(id, Login{std::move(address), std::move(executor), std::move(evict)});
  return Slot{*this, id};
}

// The eviction looks the login up again on its own executor: a login's slot is released on that
// executor too, so if the login is still listed there, its connection still exists.
void ClientSlots::evict_oldest() {
  auto oldest = logins_.extract(logins_.begin());
  const auto id = oldest.key();
  auto& login = oldest.mapped();
  evicting_.insert(id);
  metrics_.count_login_evicted();
  log_eviction(login.address);
  asio::post(login.executor, [this, id, evict = std::move(login.evict)] {
    {
      std::lock_guard lock{mutex_};
      if (evicting_.erase(id) == 0) return;
    }
    evict();
  });
}

void ClientSlots::log_eviction(const std::string& address) {
  ++eviction_log_.unlogged;
  const auto now = std::chrono::steady_clock::now();
  if (now - eviction_log_.last < kEvictionLogInterval) return;
  log_->warn(
      "ended {} login(s) in progress to admit new connections: limits.max_logins_in_progress ({}) were in "
      "progress; the latest ended was from {} (logged at most every {} s; pgdual_logins_evicted_total counts them all)",
      eviction_log_.unlogged, caps_.logins, address, kEvictionLogInterval.count());
  eviction_log_ = {.last = now, .unlogged = 0};
}

bool ClientSlots::enter_session(std::uint64_t id) {
  std::lock_guard lock{mutex_};
  if (sessions_ >= caps_.sessions) return false;
  // A login evicted while it was succeeding: its eviction has not run yet, and now never will.
  if (logins_.erase(id) == 0 && evicting_.erase(id) == 0) return false;
  ++sessions_;
  return true;
}

void ClientSlots::release(std::uint64_t id, bool session) {
  std::lock_guard lock{mutex_};
  if (session) {
    --sessions_;
  } else if (logins_.erase(id) == 0) {
    evicting_.erase(id);
  }
}

std::size_t ClientSlots::logins_in_progress() const {
  std::lock_guard lock{mutex_};
  return logins_.size();
}

std::size_t ClientSlots::sessions() const {
  const std::lock_guard lock{mutex_};
  return sessions_;
}

}  // namespace pgdual::proxy
