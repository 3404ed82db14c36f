// Step 2 of parse_config: the values. check_schema has already vouched for every type, so the
// accessors below cannot miss.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include "config/document.h"

namespace pgdual::config {
namespace {

struct Range {
  std::string_view path;
  std::int64_t min;
  std::int64_t max;
};

constexpr Range kRanges[] = {
    {"server.threads", 0, 256},
    {"server.shutdown_grace_ms", 0, 3'600'000},
    {"listen.port", 1, 65535},
    {"limits.max_client_connections", 1, 100'000},
    {"limits.max_message_bytes", 1024, 0x3fffffff},  // PostgreSQL's own limit: 1 GB - 1
    {"limits.startup_timeout_ms", 1, 600'000},
    {"routing.read_percent", 0, 100},
    {"backends.onprem.port", 1, 65535},
    {"backends.onprem.connect_timeout_ms", 1, 600'000},
    {"backends.cloud.port", 1, 65535},
    {"backends.cloud.connect_timeout_ms", 1, 600'000},
    {"mirror.timeout_ms", 1, 3'600'000},
    {"mirror.reconnect_min_ms", 1, 600'000},
    {"mirror.reconnect_max_ms", 1, 3'600'000},
    {"conflicts.group_commit_ms", 1, 1000},
    {"conflicts.keep_rotated", 1, 10'000},
    {"ledger.retention_hours", 1, 87'600},  // ten years
    {"ledger.prune_interval_ms", 1000, 86'400'000},
};

// 0 turns rotation off; a limit under 4 KiB would start a new file every few records.
constexpr std::int64_t kMinRotateBytes = 4096;
constexpr std::int64_t kMaxRotateBytes = 1'099'511'627'776;  // 1 TiB

constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug", "info", "warn",
                                                        "error", "critical", "off"};
constexpr std::array<std::string_view, 2> kLogFormats = {"text", "json"};
constexpr std::array<std::string_view, 2> kBackendNames = {"onprem", "cloud"};
constexpr std::array<std::string_view, 2> kConflictSyncs = {"group", "every_append"};

struct Choice {
  std::string_view path;
  std::span<const std::string_view> allowed;
};

constexpr Choice kChoices[] = {
    {"log.level", kLogLevels},
    {"log.format", kLogFormats},
    {"routing.primary", kBackendNames},
    {"conflicts.sync", kConflictSyncs},
};

constexpr std::string_view kNonEmptyStrings[] = {"backends.onprem.host", "backends.cloud.host",
                                                 "conflicts.log_path", "conflicts.rows_digest_key_file"};

constexpr std::string_view kUserKeys[] = {"password", "password_env", "password_file"};

std::string in_quotes(std::string_view text) { return std::string("\"").append(text).append("\""); }

// Integers are compared exactly; floats (only read_percent accepts them) as doubles, where a NaN
// fails both comparisons and so is out of range too.
Expected<void, ConfigError> check_range(const toml::table& doc, const Range& range) {
  const auto* node = doc.at_path(range.path).node();
  if (node == nullptr) return {};
  bool inside = false;
  std::ostringstream got;
  if (const auto* integer = node->as_integer()) {
    inside = integer->get() >= range.min && integer->get() <= range.max;
    got << integer->get();
  } else {
    const double value = node->as_floating_point()->get();
    inside = value >= static_cast<double>(range.min) && value <= static_cast<double>(range.max);
    got << value;
  }
  if (inside) return {};
  std::ostringstream message;
  message << "must be " << range.min << ".." << range.max << ", got " << got.str();
  return unexpected(error_at(node->source(), std::string(range.path), message.str()));
}

Expected<void, ConfigError> check_rotate_bytes(const toml::table& doc) {
  const auto* node = doc.at_path("conflicts.rotate_bytes").node();
  if (node == nullptr) return {};
  const std::int64_t value = node->as_integer()->get();
  if (value == 0 || (value >= kMinRotateBytes && value <= kMaxRotateBytes)) return {};
  return unexpected(error_at(node->source(), "conflicts.rotate_bytes",
                             "must be 0 (never rotate) or " + std::to_string(kMinRotateBytes) + ".." +
                                 std::to_string(kMaxRotateBytes) + ", got " + std::to_string(value)));
}

Expected<void, ConfigError> check_choice(const toml::table& doc, const Choice& choice) {
  const auto* node = doc.at_path(choice.path).node();
  if (node == nullptr) return {};
  const std::string& value = node->as_string()->get();
  if (std::ranges::find(choice.allowed, value) != choice.allowed.end()) return {};
  std::string message = "must be one of ";
  for (const auto name : choice.allowed) {
    message.append(name == choice.allowed.front() ? "" : ", ").append(name);
  }
  message.append("; got ").append(in_quotes(value));
  return unexpected(error_at(node->source(), std::string(choice.path), message));
}

enum class AddressKind { not_a_literal, loopback, other };

AddressKind classify_address(const std::string& address) {
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127 ? AddressKind::loopback : AddressKind::other;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    return std::ranges::equal(v6.s6_addr, in6addr_loopback.s6_addr) ? AddressKind::loopback : AddressKind::other;
  }
  return AddressKind::not_a_literal;
}

Expected<void, ConfigError> check_listen_address(const toml::table& doc) {
  const auto* node = doc.at_path("listen.address").node();
  if (node == nullptr) return {};
  const std::string& address = node->as_string()->get();
  switch (classify_address(address)) {
    case AddressKind::loopback: return {};
    case AddressKind::not_a_literal:
      return unexpected(error_at(node->source(), "listen.address",
                                 "must be an IP address literal such as 127.0.0.1 or ::1, got " + in_quotes(address)));
    case AddressKind::other: break;
  }
  return unexpected(error_at(
      node->source(), "listen.address",
      "must be a loopback address (127.0.0.0/8 or ::1), got " + in_quotes(address) +
          ": pgdual does not authenticate clients yet, so it must not be reachable from other machines"));
}

Expected<void, ConfigError> check_not_empty(const toml::node* node, const std::string& key) {
  if (node == nullptr || !node->as_string()->get().empty()) return {};
  return unexpected(error_at(node->source(), key, "must not be empty"));
}

// Either bound may be left at its default, and a default maximum below a raised minimum is as
// wrong as an explicit one; without a value to point at, the error points at [mirror].
Expected<void, ConfigError> check_reconnect_bounds(const toml::table& doc) {
  const auto* mirror = doc["mirror"].as_table();
  if (mirror == nullptr) return {};
  const MirrorConfig defaults;
  const std::int64_t min = (*mirror)["reconnect_min_ms"].value_or(std::int64_t{defaults.reconnect_min.count()});
  const auto* max_node = mirror->get("reconnect_max_ms");
  const std::int64_t max = max_node != nullptr ? max_node->as_integer()->get() : defaults.reconnect_max.count();
  if (max >= min) return {};
  const toml::node& at = max_node != nullptr ? *max_node : static_cast<const toml::node&>(*mirror);
  return unexpected(error_at(at.source(), "mirror.reconnect_max_ms",
                             "must be at least mirror.reconnect_min_ms (" + std::to_string(min) + "), got " +
                                 std::to_string(max) + (max_node != nullptr ? "" : " (the default)")));
}

Expected<void, ConfigError> check_read_only_functions(const toml::table& doc) {
  const auto* functions = doc.at_path("sql.read_only_functions").as_array();
  if (functions == nullptr) return {};
  for (std::size_t i = 0; i < functions->size(); ++i) {
    const std::string shown = "sql.read_only_functions[" + std::to_string(i) + "]";
    if (auto ok = check_not_empty(functions->get(i), shown); !ok) return ok;
  }
  return {};
}

std::string lowercase(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Defaults apply when a key is absent, so both sides are read with the same fallbacks ProxyConfig uses.
Expected<void, ConfigError> check_backends_differ(const toml::table& doc) {
  const ProxyConfig defaults;
  const auto& onprem = *doc.at_path("backends.onprem").as_table();
  const auto& cloud = *doc.at_path("backends.cloud").as_table();
  const auto onprem_host = onprem["host"].value_or(defaults.onprem.host);
  const auto onprem_port = onprem["port"].value_or(std::int64_t{defaults.onprem.port});
  // Host names are case-insensitive; no DNS lookups here, so "localhost" and "127.0.0.1" differ.
  if (lowercase(onprem_host) != lowercase(cloud["host"].value_or(defaults.cloud.host)) ||
      onprem_port != cloud["port"].value_or(std::int64_t{defaults.cloud.port})) {
    return {};
  }
  return unexpected(error_at(cloud.source(), "backends.cloud",
                             "points at the same server as backends.onprem (" + onprem_host + ":" +
                                 std::to_string(onprem_port) + "); pgdual must write to two different servers"));
}

Expected<void, ConfigError> check_user(const toml::table& user, const std::string& shown) {
  if (auto ok = check_not_empty(user.get("name"), shown + ".name"); !ok) return ok;
  std::string sources;
  int count = 0;
  for (const auto key : kUserKeys) {
    const auto* node = user.get(key);
    if (node == nullptr) continue;
    if (auto ok = check_not_empty(node, shown + "." + std::string(key)); !ok) return ok;
    sources.append(sources.empty() ? "" : " and ").append(key);
    ++count;
  }
  if (count == 1) return {};
  return unexpected(error_at(user.source(), shown,
                             "needs exactly one of password, password_env or password_file, got " +
                                 (count == 0 ? std::string("none") : sources)));
}

Expected<void, ConfigError> check_users(const toml::table& doc) {
  const auto& users = *doc["users"].as_array();
  if (users.empty()) {
    return unexpected(error_at(users.source(), "users", "needs at least one entry"));
  }
  for (std::size_t i = 0; i < users.size(); ++i) {
    const std::string shown = "users[" + std::to_string(i) + "]";
    const auto& user = *users[i].as_table();
    if (auto ok = check_user(user, shown); !ok) return ok;
    const auto& name = user["name"].ref<std::string>();
    for (std::size_t j = 0; j < i; ++j) {
      const auto& earlier = *users[j].as_table()->get("name");
      if (earlier.as_string()->get() != name) continue;
      return unexpected(error_at(user["name"].node()->source(), shown + ".name",
                                 "duplicate user " + in_quotes(name) + ", already defined by users[" +
                                     std::to_string(j) + "] on line " +
                                     std::to_string(earlier.source().begin.line)));
    }
  }
  return {};
}

}  // namespace

Expected<void, ConfigError> validate(const toml::table& doc) {
  for (const auto& range : kRanges) {
    if (auto ok = check_range(doc, range); !ok) return ok;
  }
  for (const auto& choice : kChoices) {
    if (auto ok = check_choice(doc, choice); !ok) return ok;
  }
  if (auto ok = check_rotate_bytes(doc); !ok) return ok;
  if (auto ok = check_listen_address(doc); !ok) return ok;
  for (const auto key : kNonEmptyStrings) {
    if (auto ok = check_not_empty(doc.at_path(key).node(), std::string(key)); !ok) return ok;
  }
  if (auto ok = check_read_only_functions(doc); !ok) return ok;
  if (auto ok = check_reconnect_bounds(doc); !ok) return ok;
  if (auto ok = check_backends_differ(doc); !ok) return ok;
  return check_users(doc);
}

}  // namespace pgdual::config
