#include "proxy/mirror/applied_units.h"

#include <atomic>
#include <utility>
#include <vector>

namespace pgdual::proxy {

/// A ticket's shared state. `done` is set under the registry's mutex; the timer is touched only
/// on its executor, whose thread also runs the waiting coroutine, so a wake-up posted there either
/// runs before the wait began (which then sees `done`) or cancels the wait itself.
struct AppliedUnits::State {
  explicit State(asio::any_io_executor executor) : timer{std::move(executor)} {}
  std::atomic<bool> done{false};
  asio::steady_timer timer;
};

AppliedUnits::Ticket AppliedUnits::expect(std::string key, asio::any_io_executor executor) {
  auto state = std::make_shared<State>(std::move(executor));
  {
    const std::lock_guard lock{mutex_};
    expected_[key] = state;
  }
  return Ticket{*this, std::move(key), std::move(state)};
}

bool AppliedUnits::expects(std::string_view key) const {
  const std::lock_guard lock{mutex_};
  return expected_.contains(std::string{key});
}

std::vector<std::string> AppliedUnits::expected_keys() const {
  const std::lock_guard lock{mutex_};
  std::vector<std::string> keys;
  keys.reserve(expected_.size());
  for (const auto& [key, state] : expected_) {
    if (!state->done) keys.push_back(key);
  }
  return keys;
}

bool AppliedUnits::applied(std::string_view key) {
  std::shared_ptr<State> state;
  {
    const std::lock_guard lock{mutex_};
    const auto found = expected_.find(std::string{key});
    if (found == expected_.end()) return false;
    state = found->second;
    state->done = true;
  }
  asio::post(state->timer.get_executor(), [state] { state->timer.cancel(); });
  return true;
}

// The flag is set under the mutex before the wake-ups are posted: a wait that begins after its
// wake-up ran sees the flag, and one under way is cancelled by it.
void AppliedUnits::give_up() {
  {
    const std::lock_guard lock{mutex_};
    given_up_ = true;
  }
  wake_all();
}

void AppliedUnits::set_held(bool held) {
  {
    const std::lock_guard lock{mutex_};
    held_ = held;
  }
  if (held) wake_all();
}

void AppliedUnits::set_syncing(bool syncing) {
  {
    const std::lock_guard lock{mutex_};
    syncing_ = syncing;
  }
  if (syncing) wake_all();
}

void AppliedUnits::wake_all() {
  std::vector<std::shared_ptr<State>> waiting;
  {
    const std::lock_guard lock{mutex_};
    for (const auto& [key, state] : expected_) waiting.push_back(state);
  }
  for (auto& state : waiting) asio::post(state->timer.get_executor(), [state] { state->timer.cancel(); });
}

// Polled: a database waits for its slot once, at the first session's login, for the time it takes
// to create it.
Awaitable<bool> AppliedUnits::wait_slot_ready(Clock::time_point deadline) const {
  constexpr auto kPoll = std::chrono::milliseconds{10};
  asio::steady_timer timer{co_await asio::this_coro::executor};
  while (!slot_ready_ && Clock::now() < deadline) {
    timer.expires_after(kPoll);
    co_await timer.async_wait(use_awaitable);
  }
  co_return slot_ready_.load();
}

std::size_t AppliedUnits::waiting() const {
  const std::lock_guard lock{mutex_};
  return expected_.size();
}

// A later expect() of the same key (which a UUIDv7 never repeats) must not lose its entry to an
// earlier ticket's destruction: only the ticket's own state is removed.
void AppliedUnits::forget(const std::string& key, const State* state) {
  const std::lock_guard lock{mutex_};
  const auto found = expected_.find(key);
  if (found != expected_.end() && found->second.get() == state) expected_.erase(found);
}

AppliedUnits::Ticket::Ticket(Ticket&& other) noexcept
    : owner_{std::exchange(other.owner_, nullptr)}, key_{std::move(other.key_)}, state_{std::move(other.state_)} {}

AppliedUnits::Ticket& AppliedUnits::Ticket::operator=(Ticket&& other) noexcept {
  if (this == &other) return *this;
  if (owner_ != nullptr) owner_->forget(key_, state_.get());
  owner_ = std::exchange(other.owner_, nullptr);
  key_ = std::move(other.key_);
  state_ = std::move(other.state_);
  return *this;
}

AppliedUnits::Ticket::~Ticket() {
  if (owner_ != nullptr) owner_->forget(key_, state_.get());
}

bool AppliedUnits::Ticket::applied() const noexcept { return state_ && state_->done; }

Awaitable<bool> AppliedUnits::Ticket::wait(Clock::time_point deadline) {
  if (state_->done) co_return true;
  if (owner_->given_up() || owner_->held() || owner_->syncing()) co_return false;
  state_->timer.expires_at(deadline);
  co_await state_->timer.async_wait(asio::as_tuple(use_awaitable));
  co_return state_->done.load();
}

}  // namespace pgdual::proxy
