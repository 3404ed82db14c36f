#include "proxy/route/client_address.h"

#include <algorithm>

namespace pgdual::proxy {

ClientAddress ClientAddress::v4(const std::array<std::uint8_t, 4>& address) noexcept {
  ClientAddress client;
  client.bytes[10] = client.bytes[11] = 0xff;  // ::ffff:a.b.c.d, RFC 4291 section 2.5.5.2
  std::ranges::copy(address, client.bytes.begin() + 12);
  return client;
}

ClientAddress ClientAddress::v6(const std::array<std::uint8_t, 16>& address) noexcept {
  ClientAddress client;
  client.bytes = address;
  return client;
}

bool contains(const config::IpNetwork& network, const ClientAddress& address) noexcept {
  const unsigned whole_bytes = network.prefix_length / 8;
  if (!std::equal(network.address.begin(), network.address.begin() + whole_bytes, address.bytes.begin())) {
    return false;
  }
  const unsigned rest = network.prefix_length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address.bytes[whole_bytes] & mask) == network.address[whole_bytes];
}

}  // namespace pgdual::proxy
