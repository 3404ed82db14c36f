#pragma once

// Private to config/: the steps parse_config runs, in order, over a document toml++ has already
// parsed. Each step assumes the ones before it succeeded, so later steps read values without
// re-checking their types. No header outside config/ includes this one: toml++ stays in here.

#include <string>
#include <utility>

#include <toml++/toml.h>

#include "config/proxy_config.h"
#include "protocol/expected.h"

namespace pgdual::config {

/// Step 1, the shape: every key is known, every value has the expected type, and the required
/// tables and keys exist.
/// Errors: an unknown key (at the key), a wrong type (at the value), a missing required key (at
/// the table that should hold it; without a position for top-level keys).
[[nodiscard]] Expected<void, ConfigError> check_schema(const toml::table& doc);

/// Step 2, the values: ranges, fixed choices, the listen address, and the rules that span keys
/// (two different backends, unique user names, one password source per user).
/// Errors: the first rule broken, at the offending value or table.
[[nodiscard]] Expected<void, ConfigError> validate(const toml::table& doc);

/// Step 2's rules on [brake] that are not plain ranges (validate_brake.cpp): error_rate_percent
/// above 0 and at most 100, latency_ratio 0 or 1.5..1000.
/// Errors: the first rule broken, at the offending value.
[[nodiscard]] Expected<void, ConfigError> check_brake(const toml::table& doc);

/// Step 2's rules on [auth] (validate_auth.cpp), once the users are checked: lookup_user names a
/// [[users]] entry, query uses $1, no key is empty, and query or lookup_database only with lookup_user.
/// Errors: the first rule broken, at the offending value.
[[nodiscard]] Expected<void, ConfigError> check_auth_lookup(const toml::table& doc);

/// An integer or float node as text, the way messages quote it: "12", "0.5", "nan".
[[nodiscard]] std::string number_text(const toml::node& node);

/// Step 3, the hand-over: copies the values over ProxyConfig's defaults and resolves each user's
/// password from `password`, `password_env` or `password_file`.
/// Errors: an unset or empty environment variable; a password file that cannot be read, is
/// accessible to group or others, or is empty.
[[nodiscard]] Expected<ProxyConfig, ConfigError> to_proxy_config(const toml::table& doc);

/// An error at `where`. The source name is left empty: parse_config fills it in for every step.
[[nodiscard]] inline ConfigError error_at(const toml::source_region& where, std::string key,
                                          std::string message) {
  return ConfigError{.source = {},
                     .key = std::move(key),
                     .line = where.begin.line,
                     .column = where.begin.column,
                     .message = std::move(message)};
}

}  // namespace pgdual::config
