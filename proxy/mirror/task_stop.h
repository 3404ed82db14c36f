#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// How the WAL mirror's background loops (MirrorApplier, SequenceCopier, SlotLagMonitor) are
/// asked to end: request() sets the flag the loop checks between its steps, and ends at once a
/// pause under way. request() and pause() on the loop's executor; requested() from anywhere.
class TaskStop {
 public:
  [[nodiscard]] bool requested() const noexcept { return requested_; }

  void request() noexcept {
    requested_ = true;
    if (timer_) timer_->cancel();
  }

  /// Waits `delay`, or until request().
  Awaitable<void> pause(std::chrono::milliseconds delay) {
    timer_ = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, delay);
    co_await timer_->async_wait(asio::as_tuple(use_awaitable));
  }

 private:
  std::atomic<bool> requested_{false};
  std::shared_ptr<asio::steady_timer> timer_;
};

}  // namespace pgdual::proxy
