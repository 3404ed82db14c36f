// Step 3 of parse_config: copy validated values into ProxyConfig and resolve passwords. The
// narrowing casts below are safe because validate() has checked every range.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>

#include "config/document.h"
#include "config/read_file.h"

namespace pgdual::config {
namespace {

// Absent keys keep ProxyConfig's defaults, so the defaults live in proxy_config.h only.
template <std::integral T>
void assign(const toml::table& doc, std::string_view path, T& out) {
  if (const auto value = doc.at_path(path).value<std::int64_t>()) out = static_cast<T>(*value);
}

void assign(const toml::table& doc, std::string_view path, std::chrono::milliseconds& out) {
  if (const auto value = doc.at_path(path).value<std::int64_t>()) out = std::chrono::milliseconds{*value};
}

void assign(const toml::table& doc, std::string_view path, double& out) {
  if (const auto value = doc.at_path(path).value<double>()) out = *value;
}

void assign(const toml::table& doc, std::string_view path, std::string& out) {
  if (const auto value = doc.at_path(path).value<std::string>()) out = *value;
}

void assign_backend(const toml::table& doc, BackendConfig& backend) {
  const std::string prefix = "backends." + backend.name + ".";
  assign(doc, prefix + "host", backend.host);
  assign(doc, prefix + "port", backend.port);
  assign(doc, prefix + "connect_timeout_ms", backend.connect_timeout);
}

std::string octal_mode(std::filesystem::perms permissions) {
  std::ostringstream text;
  text << '0' << std::oct << static_cast<unsigned>(permissions);
  return text.str();
}

Expected<std::string, ConfigError> password_from_env(const toml::node& node, const std::string& key) {
  const std::string& variable = node.as_string()->get();
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr) {
    return unexpected(error_at(node.source(), key, "environment variable " + variable + " is not set"));
  }
  if (*value == '\0') {
    return unexpected(error_at(node.source(), key, "environment variable " + variable + " is set but empty"));
  }
  return std::string(value);
}

// A password file holds one line, so the newline editors add at its end is not part of the secret.
Expected<std::string, ConfigError> password_from_file(const toml::node& node, const std::string& key) {
  const std::string& path = node.as_string()->get();
  auto content = read_file(path);
  if (!content) {
    return unexpected(error_at(node.source(), key, "cannot read \"" + path + "\": " + content.error()));
  }
  constexpr auto kGroupOrOthers = std::filesystem::perms::group_all | std::filesystem::perms::others_all;
  if ((content->permissions & kGroupOrOthers) != std::filesystem::perms::none) {
    return unexpected(error_at(node.source(), key,
                               "\"" + path + "\" is accessible by group or others (mode " +
                                   octal_mode(content->permissions) + "); run chmod 600 on it"));
  }
  std::string& secret = content->bytes;
  if (secret.ends_with('\n')) secret.pop_back();
  if (secret.ends_with('\r')) secret.pop_back();
  if (secret.empty()) return unexpected(error_at(node.source(), key, "\"" + path + "\" is empty"));
  return std::move(secret);
}

// validate() guarantees exactly one of the three keys is present.
Expected<std::string, ConfigError> resolve_password(const toml::table& user, const std::string& shown) {
  if (const auto* literal = user.get("password")) return literal->as_string()->get();
  if (const auto* variable = user.get("password_env")) return password_from_env(*variable, shown + ".password_env");
  return password_from_file(*user.get("password_file"), shown + ".password_file");
}

}  // namespace

Expected<ProxyConfig, ConfigError> to_proxy_config(const toml::table& doc) {
  ProxyConfig config;
  assign(doc, "server.threads", config.server.threads);
  assign(doc, "server.shutdown_grace_ms", config.server.shutdown_grace);
  assign(doc, "listen.address", config.listen.address);
  assign(doc, "listen.port", config.listen.port);
  assign(doc, "limits.max_client_connections", config.limits.max_client_connections);
  assign(doc, "limits.max_message_bytes", config.limits.max_message_bytes);
  assign(doc, "limits.startup_timeout_ms", config.limits.startup_timeout);
  assign(doc, "log.level", config.log.level);
  if (const auto format = doc.at_path("log.format").value<std::string>()) {
    config.log.format = *format == "json" ? LogFormat::json : LogFormat::text;
  }
  assign(doc, "routing.primary", config.primary);
  assign(doc, "routing.read_percent", config.read_percent);
  assign_backend(doc, config.onprem);
  assign_backend(doc, config.cloud);

  const auto& users = *doc["users"].as_array();
  for (std::size_t i = 0; i < users.size(); ++i) {
    const auto& user = *users[i].as_table();
    auto password = resolve_password(user, "users[" + std::to_string(i) + "]");
    if (!password) return unexpected(std::move(password.error()));
    config.users.push_back(UserConfig{.name = user["name"].ref<std::string>(), .password = std::move(*password)});
  }
  return config;
}

}  // namespace pgdual::config
