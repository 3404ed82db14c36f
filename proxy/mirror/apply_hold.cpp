#include "proxy/mirror/apply_hold.h"

#include <algorithm>
#include <utility>
#include <variant>

namespace pgdual::proxy {

namespace lr = protocol::logicalrep;

std::optional<protocol::XLogRecPtr> unit_position(const lr::LogicalReplicationMessage& message, bool in_transaction) {
  if (const auto* begin = std::get_if<lr::Begin>(&message)) return begin->final_lsn;
  // A non-transactional message inside a transaction is taken after its Commit, as part of that unit.
  const auto* logical = std::get_if<lr::Message>(&message);
  if (logical != nullptr && !logical->transactional && !in_transaction) return logical->lsn;
  return std::nullopt;
}

std::optional<std::string> hold_refusal(protocol::XLogRecPtr target, protocol::XLogRecPtr fed) {
  if (target == 0 || fed < target) return std::nullopt;
  return "the mirror apply is already past " + protocol::format_lsn(target) + " (it applied the transaction committed at " +
         protocol::format_lsn(fed) + ")";
}

Awaitable<Expected<protocol::XLogRecPtr, std::string>> ApplyHold::hold(std::uint64_t owner,
                                                                       protocol::XLogRecPtr target) {
  if (request_ && request_->owner != owner) {
    co_return unexpected{std::string{"the apply is held by another admin console session"}};
  }
  if (auto refusal = hold_refusal(target, fed_)) co_return unexpected{std::move(*refusal)};
  if (!request_) {
    request_ = Request{.owner = owner, .target = target, .deadline = Clock::now() + limit_};
  } else if (request_->target != target) {
    request_->target = target;
    request_->stopped_before.reset();
  }
  // An apply standing still re-checks: the target may have moved past where it stands.
  wake(apply_wait_);
  while (request_ && request_->owner == owner && !request_->stopped_before) {
    if (Clock::now() >= request_->deadline) {
      request_.reset();
      wake(apply_wait_);
      co_return unexpected{"the apply did not reach " + protocol::format_lsn(target) + " within " +
                           std::to_string(limit_.count()) + " ms (is the mirror failing or far behind?)"};
    }
    co_await sleep(console_wait_, request_->deadline);
  }
  if (!request_ || request_->owner != owner) {
    co_return unexpected{std::string{"the hold ended before the apply stopped (released, or it expired)"}};
  }
  co_return *request_->stopped_before;
}

std::optional<ApplyHold::Times> ApplyHold::release(std::uint64_t owner) {
  if (!request_ || request_->owner != owner) return std::nullopt;
  const auto now = Clock::now();
  const auto since = [now](const std::optional<Clock::time_point>& start) {
    return std::chrono::duration_cast<std::chrono::microseconds>(now - start.value_or(now));
  };
  const Times times{.stood_still = since(request_->stopped_since), .commits_waited = since(request_->waited_since)};
  request_.reset();
  wake(apply_wait_);
  wake(console_wait_);
  return times;
}

bool ApplyHold::stops_before(protocol::XLogRecPtr unit) const noexcept {
  return request_ && unit >= request_->target;
}

void ApplyHold::fed(protocol::XLogRecPtr unit) noexcept { fed_ = std::max(fed_, unit); }

Awaitable<bool> ApplyHold::stop_at(protocol::XLogRecPtr unit) {
  while (stops_before(unit)) {
    if (Clock::now() >= request_->deadline) {
      // Nobody released it: a verify that died, or one too slow. The clients' COMMITs go first.
      request_.reset();
      wake(console_wait_);
      co_return true;
    }
    if (!request_->stopped_before) {
      request_->stopped_before = unit;
      if (!request_->stopped_since) request_->stopped_since = Clock::now();
      if (!request_->waited_since && request_->target != 0) request_->waited_since = Clock::now();
      wake(console_wait_);
    }
    co_await sleep(apply_wait_, request_->deadline);
  }
  co_return false;
}

void ApplyHold::end() noexcept {
  request_.reset();
  wake(apply_wait_);
  wake(console_wait_);
}

void ApplyHold::wake(const std::shared_ptr<asio::steady_timer>& timer) {
  if (timer) timer->cancel();
}

// Both sides run on one executor, and each checks its condition just before it sleeps: a wake()
// cannot fall between the check and the wait.
Awaitable<void> ApplyHold::sleep(std::shared_ptr<asio::steady_timer>& timer, Clock::time_point deadline) {
  if (!timer) timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  timer->expires_at(deadline);
  const auto keep = timer;  // alive until the wait ends, whatever happens to the member meanwhile
  co_await keep->async_wait(asio::as_tuple(use_awaitable));
}

}  // namespace pgdual::proxy
