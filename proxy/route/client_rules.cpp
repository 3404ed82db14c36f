#include "proxy/route/client_rules.h"

#include <algorithm>
#include <string>
#include <vector>

namespace pgdual::proxy {
namespace {

// pg_hba.conf's keyword for "every user" or "every database".
constexpr std::string_view kAll = "all";

bool names_match(const std::vector<std::string>& names, std::string_view name) noexcept {
  return std::ranges::any_of(names, [&](const std::string& entry) { return entry == kAll || entry == name; });
}

bool connection_matches(config::HbaConnection connection, bool tls) noexcept {
  switch (connection) {
    case config::HbaConnection::any: return true;
    case config::HbaConnection::tls: return tls;
    case config::HbaConnection::plain: return !tls;
  }
  return false;
}

bool rule_matches(const config::HbaRule& rule, std::string_view user, std::string_view database,
                  const ClientAddress& address, bool tls) noexcept {
  return names_match(rule.users, user) && names_match(rule.databases, database) &&
         (!rule.address || contains(*rule.address, address)) && connection_matches(rule.connection, tls);
}

}  // namespace

const config::HbaRule* match_rule(std::span<const config::HbaRule> rules, std::string_view user,
                                  std::string_view database, const ClientAddress& address, bool tls) noexcept {
  const auto match = std::ranges::find_if(
      rules, [&](const config::HbaRule& rule) { return rule_matches(rule, user, database, address, tls); });
  return match == rules.end() ? nullptr : &*match;
}

}  // namespace pgdual::proxy
