#include "proxy/cutover/write_gate.h"

#include <algorithm>
#include <utility>

#include <spdlog/fmt/fmt.h>

namespace pgdual::proxy {

/// A coroutine waiting at the gate. `woken` is set under the gate's mutex before the wake-up is
/// posted to the waiter's executor: a waiter checks it before it waits, and its executor's one
/// thread runs the posted cancel only once the wait is pending.
struct WriteGate::Waiter {
  Waiter(asio::any_io_executor executor, std::uint64_t of_session) : timer{std::move(executor)}, session{of_session} {}
  bool woken = false;
  bool withdrawn = false;  ///< its session is to end: no pass
  asio::steady_timer timer;
  std::uint64_t session;
};

namespace {

std::chrono::milliseconds since(WriteGate::Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(WriteGate::Clock::now() - start);
}

/// Runs `action` when the scope ends, however it ends: a coroutine destroyed mid-wait included.
template <class Action>
class AtExit {
 public:
  explicit AtExit(Action action) : action_{std::move(action)} {}
  AtExit(const AtExit&) = delete;
  AtExit& operator=(const AtExit&) = delete;
  ~AtExit() { action_(); }

 private:
  Action action_;
};

}  // namespace

std::string_view to_string(WriteGate::State state) noexcept {
  switch (state) {
    case WriteGate::State::open: return "open";
    case WriteGate::State::pausing: return "pausing";
    case WriteGate::State::paused: return "paused";
  }
  return "open";
}

Awaitable<WriteGate::Pass> WriteGate::enter(std::uint64_t session) {
  const auto executor = co_await asio::this_coro::executor;
  for (;;) {
    auto waiter = std::make_shared<Waiter>(executor, session);
    {
      const std::lock_guard lock{mutex_};
      if (state_ == State::open) co_return issue(session);
      waiting_.push_back(waiter);
    }
    const AtExit forget_waiter{[this, &waiter] { forget(waiter); }};
    waiter->timer.expires_at(asio::steady_timer::time_point::max());
    bool woken = false;
    {
      const std::lock_guard lock{mutex_};
      woken = waiter->woken;
    }
    if (!woken) co_await waiter->timer.async_wait(asio::as_tuple(use_awaitable));
    const std::lock_guard lock{mutex_};
    if (waiter->withdrawn) co_return Pass{};
  }
}

void WriteGate::withdraw(std::uint64_t session) {
  Waiters withdrawn;
  {
    const std::lock_guard lock{mutex_};
    for (const auto& waiter : waiting_) {
      if (waiter->session != session) continue;
      waiter->woken = true;
      waiter->withdrawn = true;
      withdrawn.push_back(waiter);
    }
    std::erase_if(waiting_, [session](const auto& waiter) { return waiter->session == session; });
  }
  wake(withdrawn);
}

WriteGate::Pass WriteGate::join(std::uint64_t session) {
  const std::lock_guard lock{mutex_};
  return issue(session);
}

WriteGate::Pass WriteGate::issue(std::uint64_t session) {
  const auto number = next_pass_++;
  in_flight_.emplace(number, Entry{.session = session, .since = Clock::now()});
  return Pass{*this, number};
}

void WriteGate::give_back(std::uint64_t number) noexcept {
  std::shared_ptr<Waiter> pauser;
  {
    const std::lock_guard lock{mutex_};
    in_flight_.erase(number);
    if (state_ == State::pausing && in_flight_.empty() && pauser_) {
      pauser = pauser_;
      pauser->woken = true;
    }
  }
  if (pauser) wake({pauser});
}

void WriteGate::forget(const std::shared_ptr<Waiter>& waiter) noexcept {
  const std::lock_guard lock{mutex_};
  std::erase(waiting_, waiter);
}

// The pause's own timer measures its timeout; a drain or a RESUME wakes it early. Whatever ends
// the wait, the pause then looks at the state under the mutex: its number tells whether the gate
// is still its own.
Awaitable<Expected<WriteGate::Paused, WriteGate::PauseFailure>> WriteGate::pause(std::chrono::milliseconds timeout,
                                                                                  std::string by) {
  const auto deadline = Clock::now() + timeout;
  const auto executor = co_await asio::this_coro::executor;
  auto pauser = std::make_shared<Waiter>(executor, 0);
  std::uint64_t number = 0;
  std::size_t were_running = 0;
  {
    const std::lock_guard lock{mutex_};
    if (shut_down_) co_return unexpected{PauseFailure{.reason = PauseFailure::Reason::shut_down}};
    if (state_ != State::open) {
      co_return unexpected{PauseFailure{.reason = PauseFailure::Reason::already_paused, .by = paused_by_}};
    }
    state_ = State::pausing;
    paused_by_ = std::move(by);
    paused_at_ = Clock::now();
    number = ++pause_number_;
    were_running = in_flight_.size();
    if (in_flight_.empty()) co_return settle_pause(0);
    pauser_ = pauser;
  }
  // A pause nobody waits for any more would hold writes until someone noticed.
  const AtExit abandon{[this, number] {
    Waiters waiters;
    {
      const std::lock_guard lock{mutex_};
      if (pause_number_ == number && state_ == State::pausing) {
        pauser_.reset();  // its wait is over: its executor may be going away with it
        waiters = reopen("PAUSE by " + paused_by_ + " was abandoned by its caller: writes go on");
      }
    }
    wake(waiters);
  }};
  for (;;) {
    pauser->timer.expires_at(deadline);
    bool woken = false;
    {
      const std::lock_guard lock{mutex_};
      woken = std::exchange(pauser->woken, false);
    }
    if (!woken) co_await pauser->timer.async_wait(asio::as_tuple(use_awaitable));
    Waiters waiters;
    {
      const std::lock_guard lock{mutex_};
      if (pause_number_ != number || state_ != State::pausing) {
        const auto reason = shut_down_ ? PauseFailure::Reason::shut_down : PauseFailure::Reason::resumed;
        co_return unexpected{PauseFailure{.reason = reason, .by = resumed_by_}};
      }
      if (in_flight_.empty()) co_return settle_pause(were_running);
      if (Clock::now() < deadline) continue;
      PauseFailure failure{.reason = PauseFailure::Reason::timed_out};
      for (const auto& [pass, entry] : in_flight_) {
        failure.still_running.push_back(Holder{.session = entry.session, .held_for = since(entry.since)});
      }
      waiters = reopen(fmt::format("PAUSE by {} timed out after {} ms with {} write transactions running", paused_by_,
                                   timeout.count(), in_flight_.size()));
      wake(waiters);
      co_return unexpected{std::move(failure)};
    }
  }
}

WriteGate::Paused WriteGate::settle_pause(std::size_t were_running) {
  state_ = State::paused;
  pauser_.reset();
  const Paused paused{.drained_in = since(paused_at_), .were_running = were_running};
  last_event_ = fmt::format("PAUSE by {}: paused after {} ms ({} write transactions were running)", paused_by_,
                            paused.drained_in.count(), were_running);
  return paused;
}

Expected<WriteGate::Resumed, std::string> WriteGate::resume(std::string by) {
  Waiters waiters;
  Resumed resumed;
  {
    const std::lock_guard lock{mutex_};
    if (state_ == State::open) return unexpected{std::string{"writes are not paused"}};
    if (!swapping_by_.empty()) {
      return unexpected{"SWAP ROLES by " + swapping_by_ + " is under way: writes stay paused until it has answered"};
    }
    resumed = Resumed{.paused_for = since(paused_at_), .released = waiting_.size()};
    resumed_by_ = by;
    waiters = reopen(fmt::format("RESUME by {} after {} ms of pause ({} sessions released)", by,
                                 resumed.paused_for.count(), resumed.released));
  }
  wake(waiters);
  return resumed;
}

void WriteGate::shut_down() {
  Waiters waiters;
  {
    const std::lock_guard lock{mutex_};
    shut_down_ = true;
    if (state_ != State::open && swapping_by_.empty()) waiters = reopen("pgdual shut down: writes go on");
  }
  wake(waiters);
}

bool WriteGate::begin_swap(std::string by) {
  const std::lock_guard lock{mutex_};
  if (state_ != State::paused || !swapping_by_.empty() || shut_down_) return false;
  swapping_by_ = std::move(by);
  last_event_ = "SWAP ROLES by " + swapping_by_ + " under way";
  return true;
}

void WriteGate::end_swap(std::string event) {
  Waiters waiters;
  {
    const std::lock_guard lock{mutex_};
    swapping_by_.clear();
    last_event_ = std::move(event);
    if (shut_down_) waiters = reopen("pgdual shut down: writes go on");
  }
  wake(waiters);
}

WriteGate::Waiters WriteGate::reopen(std::string event) {
  state_ = State::open;
  paused_by_.clear();
  last_event_ = std::move(event);
  Waiters waiters = std::move(waiting_);
  waiting_.clear();
  if (pauser_) waiters.push_back(std::exchange(pauser_, nullptr));
  for (const auto& waiter : waiters) waiter->woken = true;
  return waiters;
}

void WriteGate::wake(const Waiters& waiters) {
  for (const auto& waiter : waiters) {
    asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
  }
}

WriteGate::Snapshot WriteGate::snapshot() const {
  const std::lock_guard lock{mutex_};
  Snapshot snapshot{.state = state_, .in_flight = in_flight_.size(), .waiting = waiting_.size(),
                    .paused_by = paused_by_, .last_event = last_event_, .swapping_by = swapping_by_};
  if (state_ != State::open) snapshot.paused_for = since(paused_at_);
  return snapshot;
}

WriteGate::Pass::Pass(Pass&& other) noexcept
    : gate_{std::exchange(other.gate_, nullptr)}, number_{other.number_} {}

WriteGate::Pass& WriteGate::Pass::operator=(Pass&& other) noexcept {
  if (this == &other) return *this;
  release();
  gate_ = std::exchange(other.gate_, nullptr);
  number_ = other.number_;
  return *this;
}

void WriteGate::Pass::release() noexcept {
  if (auto* gate = std::exchange(gate_, nullptr)) gate->give_back(number_);
}

}  // namespace pgdual::proxy
