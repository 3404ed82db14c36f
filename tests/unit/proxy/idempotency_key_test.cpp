#include "proxy/idempotency_key.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using namespace std::chrono;

constexpr int kManyKeys = 100'000;

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::uint64_t unix_ms_of(const std::string& key) {
  return std::stoull(key.substr(0, 8) + key.substr(9, 4), nullptr, 16);
}

TEST_CASE("An idempotency key is a canonical lower-case UUIDv7 of variant 10", "[unit][proxy]") {
  IdempotencyKeyGenerator generator;
  for (int i = 0; i < 1000; ++i) {
    const auto key = generator.next();
    REQUIRE(key.size() == 36);
    for (std::size_t position = 0; position < key.size(); ++position) {
      const bool dash_position = position == 8 || position == 13 || position == 18 || position == 23;
      INFO(key << " at " << position);
      REQUIRE((dash_position ? key[position] == '-' : is_lower_hex(key[position])));
    }
    REQUIRE(key[14] == '7');
    REQUIRE(std::string_view{"89ab"}.find(key[19]) != std::string_view::npos);
  }
}

TEST_CASE("Keys from one generator are strictly increasing as strings", "[unit][proxy]") {
  IdempotencyKeyGenerator generator;
  auto previous = generator.next();
  for (int i = 1; i < kManyKeys; ++i) {
    auto key = generator.next();
    INFO(previous << " then " << key);
    REQUIRE(previous < key);
    previous = std::move(key);
  }
}

TEST_CASE("Two generators used side by side never produce the same key", "[unit][proxy]") {
  IdempotencyKeyGenerator first;
  IdempotencyKeyGenerator second;
  std::unordered_set<std::string> keys;
  for (int i = 0; i < kManyKeys; ++i) {
    keys.insert(first.next());
    keys.insert(second.next());
  }
  REQUIRE(keys.size() == 2 * kManyKeys);
}

TEST_CASE("A key's time prefix is the current Unix time in milliseconds", "[unit][proxy]") {
  IdempotencyKeyGenerator generator;
  const auto key = generator.next();
  const auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const auto key_ms = static_cast<std::int64_t>(unix_ms_of(key));
  REQUIRE(key_ms <= now_ms + 1000);
  REQUIRE(key_ms >= now_ms - 1000);
}

}  // namespace
}  // namespace pgdual::proxy
