// Wakeup: the wake-up a session's client pump waits on, in one io_context on the test's thread.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/net/wakeup.h"

namespace pgdual::proxy {
namespace {

using boost::system::error_code;
using namespace std::chrono_literals;

/// Waits once and keeps how the wait ended.
Awaitable<void> wait_once(Wakeup& wakeup, std::optional<error_code>& ended) {
  auto [error] = co_await wakeup.async_wait(asio::as_tuple(use_awaitable));
  ended = error;
}

/// Waits once with use_awaitable, keeping the error it throws, then lets it go on to the caller.
Awaitable<void> wait_throwing(Wakeup& wakeup, std::optional<error_code>& ended) {
  try {
    co_await wakeup.async_wait(use_awaitable);
    ended = error_code{};
  } catch (const boost::system::system_error& failure) {
    ended = failure.code();
    throw;
  }
}

TEST_CASE("notify wakes a waiting coroutine", "[unit][proxy][wakeup]") {
  asio::io_context io;
  Wakeup wakeup{io.get_executor()};
  std::optional<error_code> ended;
  asio::co_spawn(io, wait_once(wakeup, ended), asio::detached);
  io.poll();
  REQUIRE_FALSE(ended);

  wakeup.notify();
  io.run();
  REQUIRE(ended);
  CHECK_FALSE(*ended);
}

TEST_CASE("notify with no waiter is lost: a later wait still waits for the next notify", "[unit][proxy][wakeup]") {
  asio::io_context io;
  Wakeup wakeup{io.get_executor()};
  wakeup.notify();
  std::optional<error_code> ended;
  asio::co_spawn(io, wait_once(wakeup, ended), asio::detached);
  io.poll();
  CHECK_FALSE(ended);

  wakeup.notify();
  io.run();
  REQUIRE(ended);
  CHECK_FALSE(*ended);
}

TEST_CASE("a pending wait counts as outstanding work, as a timer wait does", "[unit][proxy][wakeup]") {
  asio::io_context io;
  Wakeup wakeup{io.get_executor()};
  std::optional<error_code> ended;
  wakeup.async_wait([&](error_code error) { ended = error; });
  io.poll();
  CHECK_FALSE(io.stopped());

  wakeup.notify();
  io.run();
  CHECK(ended == error_code{});
}

TEST_CASE("the waiter runs after notify() returns, not inside it", "[unit][proxy][wakeup]") {
  asio::io_context io;
  Wakeup wakeup{io.get_executor()};
  std::vector<std::string> order;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        co_await wakeup.async_wait(use_awaitable);
        order.emplace_back("woken");
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        wakeup.notify();
        order.emplace_back("notify returned");
        co_return;
      },
      asio::detached);
  io.run();
  CHECK(order == std::vector<std::string>{"notify returned", "woken"});
}

TEST_CASE("a wait that loses an || is cancelled, and a later notify is harmless", "[unit][proxy][wakeup]") {
  asio::io_context io;
  Wakeup wakeup{io.get_executor()};
  asio::steady_timer timer{io, 1ms};
  std::optional<error_code> ended;
  std::optional<std::size_t> winner;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        auto result = co_await (wait_throwing(wakeup, ended) || timer.async_wait(use_awaitable));
        winner = result.index();
      },
      asio::detached);
  io.run();
  CHECK(winner == 1);
  CHECK(ended == asio::error::operation_aborted);

  ended.reset();
  wakeup.notify();
  io.restart();
  io.run();
  CHECK_FALSE(ended);

  SECTION("and the next wait is woken by the next notify") {
    asio::co_spawn(io, wait_once(wakeup, ended), asio::detached);
    io.restart();
    io.poll();
    wakeup.notify();
    io.run();
    CHECK(ended == error_code{});
  }
}

TEST_CASE("a notify that wins an || cancels the other operand", "[unit][proxy][wakeup]") {
  asio::io_context io;
  Wakeup wakeup{io.get_executor()};
  asio::steady_timer timer{io, 1h};
  std::optional<std::size_t> winner;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        auto result = co_await (wakeup.async_wait(use_awaitable) || timer.async_wait(use_awaitable));
        winner = result.index();
      },
      asio::detached);
  io.poll();
  wakeup.notify();
  io.run();  // returns only once the hour-long timer wait is cancelled
  CHECK(winner == 0);
}

TEST_CASE("destroying a Wakeup aborts its pending wait, posted", "[unit][proxy][wakeup]") {
  asio::io_context io;
  auto wakeup = std::make_unique<Wakeup>(io.get_executor());
  std::optional<error_code> ended;
  asio::co_spawn(io, wait_once(*wakeup, ended), asio::detached);
  io.poll();

  wakeup.reset();
  CHECK_FALSE(ended);
  io.run();
  CHECK(ended == asio::error::operation_aborted);
}

TEST_CASE("a second waiter is refused while one waits", "[unit][proxy][wakeup]") {
  asio::io_context io;
  Wakeup wakeup{io.get_executor()};
  std::optional<error_code> first;
  std::optional<error_code> second;
  asio::co_spawn(io, wait_once(wakeup, first), asio::detached);
  asio::co_spawn(io, wait_once(wakeup, second), asio::detached);
  io.poll();
  CHECK(second == asio::error::already_started);
  CHECK_FALSE(first);

  wakeup.notify();
  io.run();
  CHECK(first == error_code{});
}

TEST_CASE("100,000 wait and notify round trips between two coroutines complete", "[unit][proxy][wakeup]") {
  constexpr int kRoundTrips = 100'000;
  asio::io_context io;
  Wakeup request_ready{io.get_executor()};
  Wakeup reply_ready{io.get_executor()};
  int requests = 0;
  int served = 0;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        while (served < kRoundTrips) {
          while (requests == served) co_await request_ready.async_wait(use_awaitable);
          ++served;
          reply_ready.notify();
        }
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        for (int i = 0; i < kRoundTrips; ++i) {
          ++requests;
          request_ready.notify();
          while (served < requests) co_await reply_ready.async_wait(use_awaitable);
        }
      },
      asio::detached);
  io.run();
  CHECK(requests == kRoundTrips);
  CHECK(served == kRoundTrips);
}

}  // namespace
}  // namespace pgdual::proxy
