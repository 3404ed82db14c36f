#pragma once

#include <chrono>
#include <variant>

#include "proxy/asio.h"

namespace pgdual::proxy {

/// Runs `operation`, cancelling it and throwing asio::error::timed_out when
/// `limit` passes first. (Boost 1.81 has no cancel_after.)
template <class T>
Awaitable<T> with_timeout(Awaitable<T> operation, std::chrono::milliseconds limit) {
  asio::steady_timer timer{co_await asio::this_coro::executor, limit};
  auto winner = co_await (std::move(operation) || timer.async_wait(use_awaitable));
  if (winner.index() == 1) throw boost::system::system_error{asio::error::timed_out};
  co_return std::get<0>(std::move(winner));
}

inline Awaitable<void> with_timeout(Awaitable<void> operation, std::chrono::milliseconds limit) {
  asio::steady_timer timer{co_await asio::this_coro::executor, limit};
  auto winner = co_await (std::move(operation) || timer.async_wait(use_awaitable));
  if (winner.index() == 1) throw boost::system::system_error{asio::error::timed_out};
}

}  // namespace pgdual::proxy
