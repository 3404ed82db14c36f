#pragma once

// Pinning PostgreSQL's clock to literals, so that a write run on both backends
// stores the same time on both.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pgdual::sql {

/// The values a write unit pins, as PostgreSQL timestamptz input text in UTC
/// with microseconds, e.g. "2026-11-22 05:16:00.123456+00".
struct PinnedTimes {
  std::string transaction_time;  ///< now(), CURRENT_TIMESTAMP, transaction_timestamp(), LOCALTIMESTAMP, CURRENT_DATE, CURRENT_TIME, LOCALTIME
  std::string statement_time;    ///< statement_timestamp()
};

struct PinResult {
  std::string text;        ///< the rewritten text (== input when nothing was pinned)
  std::size_t pinned = 0;  ///< how many calls were replaced
};

/// Replaces every call of the functions of PinnedTimes in `sql` with a literal
/// of the same type, in parentheses so that precedence cannot change, and
/// keeps every other byte: `now() - interval '1 day'` becomes
/// `('<transaction_time>'::timestamptz) - interval '1 day'`, CURRENT_DATE
/// `('<transaction_time>'::timestamptz::date)`, CURRENT_TIME(3)
/// `('<transaction_time>'::timestamptz::timetz(3))`. Calls qualified with
/// pg_catalog are pinned too, those of other schemas are not. A call that is a
/// whole unnamed column of a SELECT or RETURNING list keeps its column name:
/// `SELECT now()` becomes `SELECT ('...'::timestamptz) AS "now"`.
///
/// Leaves as written what the statement stores instead of running now, where a
/// literal would freeze the time for every later use: column defaults and
/// constraints (CREATE TABLE, ALTER TABLE ... DEFAULT), views, materialized
/// views, function bodies, rules, triggers, indexes, domains, policies,
/// statistics, PREPARE's and DECLARE's queries, and EXPLAIN without ANALYZE
/// (as StatementWalker; a partition bound, evaluated at CREATE TABLE, is
/// pinned). Never pins clock_timestamp(), timeofday() or 'now'::timestamptz.
///
/// Returns std::nullopt, and the caller sends the text unchanged and records a
/// conflict, when:
/// - the text does not parse, is too deeply nested (!fits_parser_stack), or
///   holds a NUL byte;
/// - a call stands where a literal cannot (`SELECT * FROM now()`);
/// - a time is empty or holds a character other than digits, spaces and -:.+
///   (so no text can break out of the quoted literal).
/// Pure and thread-safe.
[[nodiscard]] std::optional<PinResult> pin_times(std::string_view sql, const PinnedTimes& times);

}  // namespace pgdual::sql
