#include "conflict/jobs/console_client.h"

#include <algorithm>

namespace pgdual::jobs {

config::BackendConfig console_of(const config::ProxyConfig& config) {
  config::BackendConfig console{.name = "pgdual", .host = config.listen.address, .port = config.listen.port};
  if (console.host == "0.0.0.0") console.host = "127.0.0.1";
  if (console.host == "::") console.host = "::1";
  if (config.tls.mode == config::TlsMode::require) console.sslmode = config::SslMode::require;
  return console;
}

Expected<config::UserConfig, std::string> admin_user(const config::ProxyConfig& config, const std::string& asked) {
  const auto& admins = config.admin.users;
  if (admins.empty()) return unexpected{std::string{"admin.users is empty: nobody may use the admin console"}};
  const auto& name = asked.empty() ? admins.front() : asked;
  if (std::ranges::find(admins, name) == admins.end()) {
    return unexpected{"user \"" + name + "\" is not in admin.users"};
  }
  const auto* user = config.find_user(name);
  if (user == nullptr) return unexpected{"user \"" + name + "\" has no [[users]] entry"};
  return *user;
}

}  // namespace pgdual::jobs
