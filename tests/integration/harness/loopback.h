#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include <netinet/in.h>

namespace pgdual::test {

/// A TCP port on 127.0.0.1 that was free a moment ago: bound with port 0 and read back, then
/// released. Another process could take it before we use it; on a test machine that is rare enough.
/// Throws std::system_error when no socket can be bound.
[[nodiscard]] std::uint16_t free_loopback_port();

/// 127.0.0.1:`port`, for the socket calls.
[[nodiscard]] sockaddr_in loopback_address(std::uint16_t port);

/// True when a TCP connection to 127.0.0.1:`port` succeeds (it is closed at once).
[[nodiscard]] bool accepts_connections(std::uint16_t port);

/// Polls `condition` until it holds or `timeout` passes. Returns whether it held.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace pgdual::test
