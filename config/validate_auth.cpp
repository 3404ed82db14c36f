// Part of step 2 of parse_config: the [auth] keys, which name a user and hold SQL. check_schema has
// already vouched for their types, and check_users for the [[users]] entries.

#include <algorithm>
#include <string>
#include <string_view>

#include "config/document.h"

namespace pgdual::config {
namespace {

constexpr std::string_view kAuthKeys[] = {"auth.lookup_user", "auth.query", "auth.lookup_database"};

Expected<void, ConfigError> check_not_empty(const toml::table& doc, std::string_view key) {
  const auto* node = doc.at_path(key).node();
  if (node == nullptr || !node->as_string()->get().empty()) return {};
  return unexpected(error_at(node->source(), std::string{key}, "must not be empty"));
}

bool has_user(const toml::table& doc, std::string_view name) {
  return std::ranges::any_of(*doc["users"].as_array(), [&](const toml::node& user) {
    return user.as_table()->get("name")->as_string()->get() == name;
  });
}

// query and lookup_database alone would do nothing: lookups run only as lookup_user.
Expected<void, ConfigError> check_lookup_user(const toml::table& doc) {
  const auto* user = doc.at_path("auth.lookup_user").node();
  if (user == nullptr) {
    for (const auto key : {"auth.query", "auth.lookup_database"}) {
      if (const auto* node = doc.at_path(key).node()) {
        return unexpected(error_at(node->source(), key,
                                   "has no effect without auth.lookup_user, the [[users]] entry the lookup runs as"));
      }
    }
    return {};
  }
  const auto& name = user->as_string()->get();
  if (has_user(doc, name)) return {};
  return unexpected(error_at(user->source(), "auth.lookup_user",
                             "no [[users]] entry is named \"" + name +
                                 "\"; the lookup role needs one, with its password on the primary"));
}

Expected<void, ConfigError> check_query(const toml::table& doc) {
  const auto* query = doc.at_path("auth.query").node();
  if (query == nullptr || query->as_string()->get().find("$1") != std::string::npos) return {};
  return unexpected(error_at(query->source(), "auth.query",
                             "must take the role name as $1 and return the verifier in its second column"));
}

}  // namespace

Expected<void, ConfigError> check_auth_lookup(const toml::table& doc) {
  for (const auto key : kAuthKeys) {
    if (auto ok = check_not_empty(doc, key); !ok) return ok;
  }
  if (auto ok = check_lookup_user(doc); !ok) return ok;
  return check_query(doc);
}

}  // namespace pgdual::config
