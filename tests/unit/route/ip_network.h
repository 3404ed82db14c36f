#pragma once

#include <string_view>

#include <catch2/catch.hpp>

#include "config/proxy_config.h"

namespace pgdual::proxy::test {

/// `text` as a network, which the test requires to parse.
inline config::IpNetwork network(std::string_view text) {
  const auto parsed = config::parse_ip_network(text);
  REQUIRE(parsed);
  return *parsed;
}

}  // namespace pgdual::proxy::test
