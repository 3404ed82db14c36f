#include "conflict/time_text.h"

#include <chrono>

#include <catch2/catch.hpp>

namespace pgdual::conflict {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

sys_time<microseconds> at(year_month_day date, microseconds time_of_day) { return sys_days{date} + time_of_day; }

TEST_CASE("rfc3339_utc writes UTC with microseconds and a Z", "[unit][conflict]") {
  CHECK(rfc3339_utc(at(2026y / 11 / 22, 5h + 16min + 123456us)) == "2026-11-22T05:16:00.123456Z");
  CHECK(rfc3339_utc(system_clock::time_point{}) == "1970-01-01T00:00:00.000000Z");
  CHECK(rfc3339_utc(at(2024y / 2 / 29, 24h - 1us)) == "2024-02-29T23:59:59.999999Z");
}

TEST_CASE("rfc3339_utc drops the nanoseconds instead of rounding up", "[unit][conflict]") {
  const auto just_before_midnight = sys_days{2025y / 12 / 31} + 24h - 1ns;
  CHECK(rfc3339_utc(time_point_cast<system_clock::duration>(just_before_midnight)) ==
        "2025-12-31T23:59:59.999999Z");
}

TEST_CASE("postgres_timestamptz_utc writes a timestamptz literal in PostgreSQL's style, in UTC", "[unit][conflict]") {
  CHECK(postgres_timestamptz_utc(at(2026y / 11 / 22, 5h + 16min + 123456us)) == "2026-11-22 05:16:00.123456+00");
  CHECK(postgres_timestamptz_utc(system_clock::time_point{}) == "1970-01-01 00:00:00.000000+00");
}

TEST_CASE("Times before 1970 are written as dates, not negative numbers", "[unit][conflict]") {
  CHECK(rfc3339_utc(at(1969y / 12 / 31, 23h + 59min + 59s + 500000us)) == "1969-12-31T23:59:59.500000Z");
}

}  // namespace
}  // namespace pgdual::conflict
