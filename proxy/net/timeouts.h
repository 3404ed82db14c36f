#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// The result of an operation that may have thrown, as a value.
template <class T>
struct Settled {
  std::optional<T> value;
  std::exception_ptr error;

  T get() && {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct Settled<void> {
  std::exception_ptr error;

  void get() && {
    if (error) std::rethrow_exception(error);
  }
};

/// Runs `operation`, catching what it throws.
///
/// Asio's awaitable `operator||` waits for the first operation to *succeed*:
/// one that throws is ignored while the other runs on. Every operand of `||`
/// goes through settle() so a failure ends the race as promptly as a success.
template <class T>
Awaitable<Settled<T>> settle(Awaitable<T> operation) {
  // No co_await inside a braced initializer: GCC 12 destroys such temporaries twice.
  Settled<T> outcome{};
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(operation);
    } else {
      auto value = co_await std::move(operation);
      outcome.value.emplace(std::move(value));
    }
  } catch (...) {
    outcome.error = std::current_exception();
  }
  co_return outcome;
}

/// Runs `operation`, cancelling it and throwing asio::error::timed_out when
/// `limit` passes first. (Boost 1.81 has no cancel_after.)
template <class T>
Awaitable<T> with_timeout(Awaitable<T> operation, std::chrono::milliseconds limit) {
  asio::steady_timer timer{co_await asio::this_coro::executor, limit};
  // as_tuple: the timer loses nearly every race, and a cancelled use_awaitable wait throws, which
  // would cost an exception for every bounded operation.
  auto winner = co_await (settle(std::move(operation)) || timer.async_wait(asio::as_tuple(use_awaitable)));
  if (winner.index() == 1) {
    const auto [error] = std::get<1>(winner);
    throw boost::system::system_error{error ? error : make_error_code(asio::error::timed_out)};
  }
  co_return std::get<0>(std::move(winner)).get();
}

}  // namespace pgdual::proxy
