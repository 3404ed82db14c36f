#pragma once

#include <cstddef>
#include <string>

#include "protocol/error_response.h"

namespace pgdual::conflict {

/// The longest redacted message kept, in bytes; longer ones are cut at a
/// character boundary.
inline constexpr std::size_t kMaxRedactedMessageBytes = 200;

/// The primary message (field 'M') of an ErrorResponse with every data value
/// taken out, so it can be stored in the conflict log, which must not hold
/// patient data (docs/conflict-log.md, "What the log never holds").
///
/// PostgreSQL puts values in DETAIL ("Key (id)=(42) already exists.") and
/// WHERE, which are never read here, and sometimes in the primary message,
/// always quoted or in parentheses ("invalid input syntax for type integer:
/// \"abc\""). So:
///   - everything from the first double quote to the last becomes "?", and
///     likewise for single quotes: PostgreSQL does not escape quotes inside
///     the values it quotes, so only the last quote surely ends a value
///     (two quoted names in one message merge into one "?"),
///   - text in parentheses becomes (?),
///   - every run of digits becomes ?,
///   - the result is cut to kMaxRedactedMessageBytes.
/// A quote or parenthesis that is never closed hides everything after it.
///
/// Messages written by application code can hold anything, unquoted, so they
/// are dropped whole (the result is empty): SQLSTATE class P0 (PL/pgSQL RAISE
/// and ASSERT) and any error whose source routine (field 'R') is PL/pgSQL's
/// RAISE, which may use any SQLSTATE (RAISE ... USING ERRCODE).
[[nodiscard]] std::string redact_error_message(const protocol::ErrorFields& error);

}  // namespace pgdual::conflict
