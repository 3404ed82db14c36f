#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/expected.h"

/// The JSON the conflict log needs: string escaping for the writer, and a
/// reader for the subset the writer produces.
namespace pgdual::conflict::json {

/// Appends `text` as a JSON string, quotes included. The output is always
/// valid JSON on one line, whatever the input bytes:
///   - `"` and `\` are escaped; control characters (U+0000..U+001F, U+007F)
///     become \n, \r, \t, \b, \f or \u00XX, so a value never breaks the line;
///   - U+2028 and U+2029 become \u2028 and \u2029 (JavaScript treats them as line ends);
///   - each byte that is not part of well-formed UTF-8 (stray continuation
///     bytes, overlong forms, surrogates, code points above U+10FFFF, cut
///     sequences) becomes \ufffd, the replacement character;
///   - well-formed UTF-8 is copied unchanged.
void append_string(std::string& out, std::string_view text);

struct Value;
using Array = std::vector<Value>;
/// Members in the order they appear; keys are unique (parse rejects duplicates).
using Object = std::vector<std::pair<std::string, Value>>;

/// A JSON value of the subset read here: numbers are non-negative integers
/// that fit in 64 bits, because the log writes no others.
struct Value {
  std::variant<std::nullptr_t, bool, std::uint64_t, std::string, Array, Object> data;

  /// The member named `key` of an object; nullptr when absent or not an object.
  [[nodiscard]] const Value* find(std::string_view key) const noexcept;
  [[nodiscard]] bool is_null() const noexcept { return std::holds_alternative<std::nullptr_t>(data); }
  /// The alternative T, or nullptr when the value holds another.
  template <class T>
  [[nodiscard]] const T* get() const noexcept {
    return std::get_if<T>(&data);
  }
};

/// Parses one JSON value that spans all of `text` (surrounding whitespace allowed).
///
/// @retval ConflictError::malformed_json  not JSON; or a number with a sign,
///         fraction or exponent, or above 2^64-1; a lone UTF-16 surrogate
///         escape; a duplicate key; nesting deeper than 32 levels
[[nodiscard]] Expected<Value> parse(std::string_view text);

}  // namespace pgdual::conflict::json
