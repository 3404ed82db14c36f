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
using namespace std::chrono_literals;

constexpr int kManyKeys = 100'000;

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::uint64_t unix_ms_of(const std::string& key) {
  return std::stoull(key.substr(0, 8) + key.substr(9, 4), nullptr, 16);
}

sys_time<microseconds> at(year_month_day date, microseconds time_of_day) { return sys_days{date} + time_of_day; }

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

TEST_CASE("rfc3339_utc writes UTC with microseconds and a Z", "[unit][proxy]") {
  CHECK(rfc3339_utc(at(2026y / 11 / 22, 5h + 16min + 123456us)) == "2026-11-22T05:16:00.123456Z");
  CHECK(rfc3339_utc(system_clock::time_point{}) == "1970-01-01T00:00:00.000000Z");
  CHECK(rfc3339_utc(at(2024y / 2 / 29, 24h - 1us)) == "2024-02-29T23:59:59.999999Z");
}

TEST_CASE("rfc3339_utc drops the nanoseconds instead of rounding up", "[unit][proxy]") {
  const auto just_before_midnight = sys_days{2025y / 12 / 31} + 24h - 1ns;
  CHECK(rfc3339_utc(time_point_cast<system_clock::duration>(just_before_midnight)) ==
        "2025-12-31T23:59:59.999999Z");
}

TEST_CASE("postgres_timestamptz_utc writes a timestamptz literal in PostgreSQL's style, in UTC", "[unit][proxy]") {
  CHECK(postgres_timestamptz_utc(at(2026y / 11 / 22, 5h + 16min + 123456us)) == "2026-11-22 05:16:00.123456+00");
  CHECK(postgres_timestamptz_utc(system_clock::time_point{}) == "1970-01-01 00:00:00.000000+00");
}

TEST_CASE("Times before 1970 are written as dates, not negative numbers", "[unit][proxy]") {
  CHECK(rfc3339_utc(at(1969y / 12 / 31, 23h + 59min + 59s + 500000us)) == "1969-12-31T23:59:59.500000Z");
}

}  // namespace
}  // namespace pgdual::proxy
