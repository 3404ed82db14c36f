#include "proxy/route/client_address.h"

#include <cstdint>

#include <catch2/catch.hpp>

#include "tests/unit/route/ip_network.h"

namespace pgdual::proxy {

using test::network;

TEST_CASE("IPv4 networks hold exactly the addresses under their prefix", "[unit][proxy][steering]") {
  const auto v4 = [](std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return ClientAddress::v4({a, b, c, d});
  };
  CHECK(contains(network("10.1.0.0/16"), v4(10, 1, 255, 255)));
  CHECK_FALSE(contains(network("10.1.0.0/16"), v4(10, 0, 255, 255)));
  CHECK(contains(network("192.168.4.0/22"), v4(192, 168, 7, 1)));
  CHECK_FALSE(contains(network("192.168.4.0/22"), v4(192, 168, 8, 1)));
  CHECK(contains(network("10.1.2.3"), v4(10, 1, 2, 3)));
  CHECK_FALSE(contains(network("10.1.2.3"), v4(10, 1, 2, 4)));
  CHECK(contains(network("0.0.0.0/0"), v4(203, 0, 113, 9)));
  CHECK(contains(network("10.1.2.3/32"), v4(10, 1, 2, 3)));
}

TEST_CASE("IPv6 networks hold exactly the addresses under their prefix", "[unit][proxy][steering]") {
  const ClientAddress inside = ClientAddress::v6({0xfd, 0x00, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  const ClientAddress outside = ClientAddress::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  CHECK(contains(network("fd00::/8"), inside));
  CHECK_FALSE(contains(network("fd00::/8"), outside));
  CHECK(contains(network("fd00:1234::/33"), inside));
  CHECK_FALSE(contains(network("fd00:1235::/32"), inside));
  CHECK(contains(network("fd00:1234::1"), inside));
  CHECK_FALSE(contains(network("fd00:1234::2"), inside));
  CHECK(contains(network("::/0"), outside));
  CHECK(contains(network("::/0"), ClientAddress::v4({10, 0, 0, 1})));
  CHECK_FALSE(contains(network("fd00::/8"), ClientAddress::v4({253, 0, 0, 1})));
}

TEST_CASE("An IPv4-mapped IPv6 client matches IPv4 rules, the same as an IPv4 client", "[unit][proxy][steering]") {
  const ClientAddress mapped = ClientAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3});
  CHECK(mapped == ClientAddress::v4({10, 1, 2, 3}));
  CHECK(contains(network("10.1.0.0/16"), mapped));
  CHECK_FALSE(contains(network("10.2.0.0/16"), mapped));
  CHECK(contains(network("::ffff:10.1.0.0/112"), ClientAddress::v4({10, 1, 9, 9})));
}

}  // namespace pgdual::proxy
