#pragma once

// A wake-up between two coroutines of one thread, for the hottest wait of a session: the client's
// pump waiting on the primary's once per round trip. A steady_timer used as a condition variable
// cost a timerfd_settime system call and timer-queue work on each wait; this costs a post.

#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include <boost/asio/recycling_allocator.hpp>

#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// Lets one coroutine sleep until another says something changed. The waiter re-checks its
/// condition in a loop, so a notify() with no one waiting is simply lost, as a cancel() on an idle
/// timer is.
///
/// Single-threaded, and so without a mutex: async_wait(), notify(), cancellation and destruction
/// all happen on the one thread that runs the executor (a session's io_context thread).
///
/// Neither copyable nor movable: a pending wait's cancellation handler points at it.
class Wakeup {
 public:
  using executor_type = asio::any_io_executor;

  explicit Wakeup(executor_type executor) : executor_{std::move(executor)} {}
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;
  /// Completes a pending wait with asio::error::operation_aborted (posted), as destroying a timer
  /// does, rather than destroying its handler unrun.
  ~Wakeup();

  [[nodiscard]] const executor_type& get_executor() const noexcept { return executor_; }

  /// Waits for the next notify(); completion signature void(boost::system::error_code).
  ///
  /// The handler is always posted to its associated executor (by default this Wakeup's), never run
  /// from inside notify(), whose caller (another coroutine) would otherwise be re-entered. While
  /// the wait is pending it counts as outstanding work of that executor, as a timer wait does.
  ///
  /// @retval success                          notify() was called while the wait was pending
  /// @retval asio::error::operation_aborted   cancelled through the handler's associated
  ///                                          cancellation slot (any cancellation type), or the
  ///                                          Wakeup was destroyed
  /// @retval asio::error::already_started     another wait is pending: one waiter at a time is a
  ///                                          programming error, reported to the late waiter only
  template <class Token>
  auto async_wait(Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_wait(std::move(handler)); }, token);
  }

  /// Wakes the pending waiter, if any (its handler is posted); with none, does nothing.
  void notify();

 private:
  /// The pending wait's handler and the work it holds on its executor, type-erased. Written by hand
  /// rather than with any_completion_handler, whose Boost 1.81 version has associator bugs (fixed
  /// from 1.82 on); this also allocates the record with the handler's own allocator, as Asio's
  /// operations do.
  class Waiter {
   public:
    /// Frees the record, removes the wait's cancellation handler and posts the handler with
    /// `error`.
    virtual void complete(boost::system::error_code error) = 0;
    /// The same, called from within the wait's cancellation handler, which must not be destroyed
    /// while it runs: the posted completion removes it instead, before the upcall.
    virtual void complete_cancelled() = 0;

   protected:
    ~Waiter() = default;
  };

  template <class Handler>
  class WaiterFor;

  /// Installed in a waiting handler's cancellation slot. It carries the wait's number so that, left
  /// in the slot until its completion runs, it can never cancel a later wait.
  struct CancelWait {
    Wakeup* wakeup = nullptr;
    std::uint64_t wait = 0;

    void operator()(asio::cancellation_type type) const;
  };

  template <class Handler>
  void start_wait(Handler handler);
  void cancel(std::uint64_t wait);

  executor_type executor_;
  Waiter* waiter_ = nullptr;  ///< the pending wait, owned; null when none is
  std::uint64_t waits_ = 0;   ///< waits started so far: the pending one's number
};

template <class Handler>
class Wakeup::WaiterFor final : public Waiter {
 public:
  static WaiterFor* create(Handler handler, const executor_type& fallback) {
    Allocator allocator{asio::get_associated_allocator(handler, asio::recycling_allocator<void>{})};
    WaiterFor* memory = std::allocator_traits<Allocator>::allocate(allocator, 1);
    try {
      return new (memory) WaiterFor{std::move(handler), fallback};
    } catch (...) {
      std::allocator_traits<Allocator>::deallocate(allocator, memory, 1);
      throw;
    }
  }

  void complete(boost::system::error_code error) override {
    asio::get_associated_cancellation_slot(handler_).clear();
    post_completion(error);
  }

  void complete_cancelled() override { post_completion(asio::error::operation_aborted); }

 private:
  using Allocator = typename std::allocator_traits<
      asio::associated_allocator_t<Handler, asio::recycling_allocator<void>>>::template rebind_alloc<WaiterFor>;
  using HandlerExecutor = asio::associated_executor_t<Handler, executor_type>;
  using WorkExecutor = std::decay_t<decltype(asio::prefer(std::declval<const HandlerExecutor&>(),
                                                          asio::execution::outstanding_work.tracked))>;

  WaiterFor(Handler handler, const executor_type& fallback)
      : work_{asio::prefer(asio::get_associated_executor(handler, fallback),
                           asio::execution::outstanding_work.tracked)},
        handler_{std::move(handler)} {}

  // The record is freed before the upcall, so the handler may start the next wait in its memory.
  void post_completion(boost::system::error_code error) {
    Allocator allocator{asio::get_associated_allocator(handler_, asio::recycling_allocator<void>{})};
    WorkExecutor work = std::move(work_);
    Handler handler = std::move(handler_);
    std::destroy_at(this);
    std::allocator_traits<Allocator>::deallocate(allocator, this, 1);
    asio::post(work, [handler = std::move(handler), error]() mutable {
      asio::get_associated_cancellation_slot(handler).clear();
      std::move(handler)(error);
    });
  }

  WorkExecutor work_;  ///< keeps the handler's executor from running out of work while it waits
  Handler handler_;
};

template <class Handler>
void Wakeup::start_wait(Handler handler) {
  auto slot = asio::get_associated_cancellation_slot(handler);
  auto* waiter = WaiterFor<Handler>::create(std::move(handler), executor_);
  if (waiter_ != nullptr) {
    waiter->complete(asio::error::already_started);
    return;
  }
  waiter_ = waiter;
  ++waits_;
  if (slot.is_connected()) slot.template emplace<CancelWait>(this, waits_);
}

}  // namespace pgdual::proxy
