#pragma once

#include <chrono>

#include <catch2/catch.hpp>

#include "proxy/net/asio.h"

namespace pgdual::proxy::test {

/// Runs `io` in short slices until `done` holds, at most 10 s, then requires it: for coroutines
/// woken from other threads or by timers.
template <class Done>
void run_until(asio::io_context& io, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds{5});
  }
  REQUIRE(done());
}

}  // namespace pgdual::proxy::test
