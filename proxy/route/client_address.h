#pragma once

// A client's IP address, as the rules that match on it see it: the read rules' client_cidr
// (read_steering.h) and the [[hba]] rules' address (client_rules.h). Pure: the session turns its
// socket's endpoint into one.

#include <array>
#include <cstdint>

#include "config/proxy_config.h"

namespace pgdual::proxy {

/// A client's IP address in the 128-bit form config::IpNetwork uses, IPv4 mapped into IPv6
/// (::ffff:a.b.c.d), so that IPv4 rules match IPv4 clients however they arrived.
struct ClientAddress {
  std::array<std::uint8_t, 16> bytes{};  ///< network byte order

  /// An IPv4 address in network byte order (as asio's address_v4::to_bytes() gives it).
  [[nodiscard]] static ClientAddress v4(const std::array<std::uint8_t, 4>& address) noexcept;
  /// An IPv6 address in network byte order (as asio's address_v6::to_bytes() gives it); an
  /// IPv4-mapped one is kept as it is, and so matches IPv4 networks.
  [[nodiscard]] static ClientAddress v6(const std::array<std::uint8_t, 16>& address) noexcept;

  friend bool operator==(const ClientAddress&, const ClientAddress&) = default;
};

/// Whether `address` lies in `network`.
[[nodiscard]] bool contains(const config::IpNetwork& network, const ClientAddress& address) noexcept;

}  // namespace pgdual::proxy
