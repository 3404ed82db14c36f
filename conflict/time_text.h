#pragma once

#include <chrono>
#include <string>

namespace pgdual::conflict {

/// `time` in RFC 3339, UTC, with microseconds: "2026-11-22T05:16:00.123456Z".
/// This is the form of ConflictRecord::time.
[[nodiscard]] std::string rfc3339_utc(std::chrono::system_clock::time_point time);

/// `time` as a timestamptz literal in UTC, in PostgreSQL's own output style
/// but always with six fractional digits: "2026-11-22 05:16:00.123456+00".
[[nodiscard]] std::string postgres_timestamptz_utc(std::chrono::system_clock::time_point time);

}  // namespace pgdual::conflict
