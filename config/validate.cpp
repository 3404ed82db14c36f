// Step 2 of parse_config: the values. check_schema has already vouched for every type, so the
// accessors below cannot miss.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "config/choices.h"
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
    {"limits.max_logins_in_progress", 1, 100'000},
    {"limits.max_message_bytes", 1024, 0x3fffffff},  // PostgreSQL's own limit: 1 GB - 1
    {"limits.startup_timeout_ms", 1, 600'000},
    {"limits.idle_session_timeout_ms", 0, 2'147'483'647},
    {"limits.idle_in_transaction_timeout_ms", 0, 2'147'483'647},
    {"routing.read_percent", 0, 100},
    {"routing.shadow_percent", 0, 100},
    {"routing.shadow_max_in_flight", 1, 10'000},
    {"routing.shadow_timeout_ms", 1, 600'000},
    {"backends.onprem.port", 1, 65535},
    {"backends.onprem.connect_timeout_ms", 1, 600'000},
    {"backends.cloud.port", 1, 65535},
    {"backends.cloud.connect_timeout_ms", 1, 600'000},
    {"mirror.timeout_ms", 1, 3'600'000},
    {"mirror.reconnect_min_ms", 1, 600'000},
    {"mirror.reconnect_max_ms", 1, 3'600'000},
    {"mirror.max_lag_bytes", 16 * 1024 * 1024, std::int64_t{1} << 50},  // 16 MiB .. 1 PiB
    {"mirror.sequence_sync_ms", 10, 3'600'000},
    {"mirror.lease_timeout_ms", 1000, 600'000},
    {"conflicts.group_commit_ms", 1, 1000},
    {"conflicts.keep_rotated", 1, 10'000},
    {"ledger.retention_hours", 1, 87'600},  // ten years
    {"ledger.prune_interval_ms", 1000, 86'400'000},
    {"brake.p99_latency_ms", 0, 600'000},  // 0 turns the latency check off
    {"brake.window_seconds", 5, 3600},
    {"brake.min_reads", 1, 1'000'000},
    {"cutover.watch_seconds", 10, 86'400},
    {"cutover.rollback_min_answers", 1, 1'000'000},
    {"metrics.port", 0, 65535},  // 0: no HTTP endpoint
    {"metrics.health_lag_seconds", 1, 86'400},
};

// 0 turns rotation off; a limit under 4 KiB would start a new file every few records.
constexpr std::int64_t kMinRotateBytes = 4096;
constexpr std::int64_t kMaxRotateBytes = 1'099'511'627'776;  // 1 TiB

constexpr std::string_view kNonEmptyStrings[] = {"backends.onprem.host", "backends.cloud.host",
                                                 "conflicts.log_path", "conflicts.rows_digest_key_file"};

constexpr std::string_view kPasswordKeys[] = {"password", "password_env", "password_file"};
constexpr std::string_view kUserSecretKeys[] = {"password", "password_env", "password_file", "scram_verifier"};

// The keyword [[hba]] users and databases take for "every one", and address for "every address".
constexpr std::string_view kAll = "all";

constexpr std::string_view kRuleMatchKeys[] = {"user", "database", "application_name", "client_cidr"};

std::string in_quotes(std::string_view text) { return std::string("\"").append(text).append("\""); }

// "hba[2]": an array entry as messages name it, counted from 0.
std::string indexed(const std::string& array_key, std::size_t index) {
  return array_key + "[" + std::to_string(index) + "]";
}

// Integers are compared exactly; floats (only percentages accept them) as doubles, where a NaN
// fails both comparisons and so is out of range too.
Expected<void, ConfigError> check_range_at(const toml::node* node, const std::string& key, std::int64_t min,
                                           std::int64_t max) {
  if (node == nullptr) return {};
  bool inside = false;
  if (const auto* integer = node->as_integer()) {
    inside = integer->get() >= min && integer->get() <= max;
  } else {
    const double value = node->as_floating_point()->get();
    inside = value >= static_cast<double>(min) && value <= static_cast<double>(max);
  }
  if (inside) return {};
  std::ostringstream message;
  message << "must be " << min << ".." << max << ", got " << number_text(*node);
  return unexpected(error_at(node->source(), key, message.str()));
}

Expected<void, ConfigError> check_range(const toml::table& doc, const Range& range) {
  return check_range_at(doc.at_path(range.path).node(), std::string(range.path), range.min, range.max);
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

Expected<void, ConfigError> check_choice_at(const toml::node* node, const std::string& key,
                                            std::span<const std::string_view> allowed) {
  if (node == nullptr) return {};
  const std::string& value = node->as_string()->get();
  if (std::ranges::find(allowed, value) != allowed.end()) return {};
  std::string message = "must be one of ";
  for (const auto name : allowed) {
    message.append(name == allowed.front() ? "" : ", ").append(name);
  }
  message.append("; got ").append(in_quotes(value));
  return unexpected(error_at(node->source(), key, message));
}

Expected<void, ConfigError> check_choice(const toml::table& doc, const Choice& choice) {
  return check_choice_at(doc.at_path(choice.path).node(), std::string(choice.path), choice.allowed);
}

std::string tls_mode(const toml::table& doc) { return doc.at_path("tls.mode").value_or(std::string("disable")); }

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

Expected<void, ConfigError> not_a_literal(const toml::node& node, const std::string& key, const std::string& address) {
  return unexpected(error_at(node.source(), key,
                             "must be an IP address literal such as 127.0.0.1 or ::1, got " + in_quotes(address)));
}

Expected<void, ConfigError> check_listen_address(const toml::table& doc) {
  const auto* node = doc.at_path("listen.address").node();
  if (node == nullptr) return {};
  const std::string& address = node->as_string()->get();
  switch (classify_address(address)) {
    case AddressKind::loopback: return {};
    case AddressKind::not_a_literal: return not_a_literal(*node, "listen.address", address);
    case AddressKind::other: break;
  }
  if (tls_mode(doc) != "disable") return {};
  return unexpected(error_at(
      node->source(), "listen.address",
      "must be a loopback address (127.0.0.0/8 or ::1) while tls.mode is \"disable\", got " + in_quotes(address) +
          ": sessions must not cross the network in plain text"));
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

// "a, b or c"
std::string one_of_text(std::span<const std::string_view> keys) {
  std::string text;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    text.append(i == 0 ? "" : i + 1 == keys.size() ? " or " : ", ").append(keys[i]);
  }
  return text;
}

// Exactly one of `keys` is set in `table`, and not to an empty string.
Expected<void, ConfigError> check_exactly_one(const toml::table& table, std::span<const std::string_view> keys,
                                              const std::string& shown) {
  std::string sources;
  int count = 0;
  for (const auto key : keys) {
    const auto* node = table.get(key);
    if (node == nullptr) continue;
    if (auto ok = check_not_empty(node, shown + "." + std::string(key)); !ok) return ok;
    sources.append(sources.empty() ? "" : " and ").append(key);
    ++count;
  }
  if (count == 1) return {};
  return unexpected(error_at(table.source(), shown,
                             "needs exactly one of " + one_of_text(keys) + ", got " +
                                 (count == 0 ? std::string("none") : sources)));
}

// Not std::isalnum, which follows the locale.
bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// How many bytes `text` decodes to as padded standard base64 (RFC 4648 section 4), which is what
// PostgreSQL writes into SCRAM secrets; nullopt when it is not that.
std::optional<std::size_t> base64_decoded_size(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  const std::size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  if (!std::ranges::all_of(text.substr(0, text.size() - padding), is_base64_char)) return std::nullopt;
  return text.size() / 4 * 3 - padding;
}

// Splits "left<separator>right" where the separator occurs exactly once.
std::optional<std::pair<std::string_view, std::string_view>> split_once(std::string_view text, char separator) {
  const auto at = text.find(separator);
  if (at == std::string_view::npos || text.find(separator, at + 1) != std::string_view::npos) return std::nullopt;
  return std::pair{text.substr(0, at), text.substr(at + 1)};
}

constexpr std::string_view kScramPrefix = "SCRAM-SHA-256$";
constexpr std::size_t kScramKeyBytes = 32;  // SHA-256's output: StoredKey and ServerKey
constexpr std::int64_t kMaxScramIterations = 2'147'483'647;  // PostgreSQL reads the count as an int

// Why `verifier` is not a SCRAM secret as PostgreSQL stores it in pg_authid.rolpassword, or "" when
// it is one. The reasons never quote the verifier: it is as good as a password to a dictionary attack.
std::string scram_verifier_problem(std::string_view verifier) {
  const std::string_view kForm = "must have the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
  if (!verifier.starts_with(kScramPrefix)) return std::string(kForm);
  const auto halves = split_once(verifier.substr(kScramPrefix.size()), '$');
  const auto parameters = halves ? split_once(halves->first, ':') : std::nullopt;
  const auto keys = halves ? split_once(halves->second, ':') : std::nullopt;
  if (!parameters || !keys) return std::string(kForm);
  std::int64_t iterations = 0;
  const auto& digits = parameters->first;
  const auto [stop, error] = std::from_chars(digits.data(), digits.data() + digits.size(), iterations);
  if (digits.empty() || error != std::errc{} || stop != digits.data() + digits.size() || iterations < 1 ||
      iterations > kMaxScramIterations) {
    return "has an iteration count that is not a number in 1.." + std::to_string(kMaxScramIterations);
  }
  if (!base64_decoded_size(parameters->second)) return "has a salt that is not base64";
  if (base64_decoded_size(keys->first) != kScramKeyBytes) return "has a StoredKey that is not 32 bytes in base64";
  if (base64_decoded_size(keys->second) != kScramKeyBytes) return "has a ServerKey that is not 32 bytes in base64";
  return {};
}

Expected<void, ConfigError> check_scram_verifier(const toml::node* node, const std::string& key) {
  if (node == nullptr) return {};
  const auto problem = scram_verifier_problem(node->as_string()->get());
  if (problem.empty()) return {};
  return unexpected(error_at(node->source(), key, problem));
}

// A password set on the user serves both backends; a scram_verifier serves neither, because a
// client-side SCRAM login needs the password itself.
Expected<void, ConfigError> check_backend_credentials(const toml::table& user, const std::string& shown) {
  const auto* backends = user["backends"].as_table();
  for (const auto name : kBackendNames) {
    const std::string backend_shown = shown + ".backends." + std::string(name);
    const auto* credentials = backends != nullptr ? backends->get_as<toml::table>(name) : nullptr;
    if (credentials != nullptr) {
      if (auto ok = check_exactly_one(*credentials, kPasswordKeys, backend_shown); !ok) return ok;
    } else if (user.contains("scram_verifier")) {
      return unexpected(error_at(user.source(), backend_shown,
                                 "missing; a user with a scram_verifier needs a password for each backend: add "
                                 "[users.backends." +
                                     std::string(name) + "] with one of " + one_of_text(kPasswordKeys)));
    }
  }
  return {};
}

Expected<void, ConfigError> check_user(const toml::table& user, const std::string& shown) {
  if (auto ok = check_not_empty(user.get("name"), shown + ".name"); !ok) return ok;
  if (auto ok = check_exactly_one(user, kUserSecretKeys, shown); !ok) return ok;
  if (auto ok = check_scram_verifier(user.get("scram_verifier"), shown + ".scram_verifier"); !ok) return ok;
  return check_backend_credentials(user, shown);
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

bool has_user(const toml::table& doc, std::string_view name) {
  const auto& users = *doc["users"].as_array();
  return std::ranges::any_of(
      users, [&](const toml::node& user) { return user.as_table()->get("name")->as_string()->get() == name; });
}

Expected<void, ConfigError> check_client_cidr(const toml::node* node, const std::string& key) {
  if (node == nullptr || parse_ip_network(node->as_string()->get())) return {};
  return unexpected(error_at(node->source(), key,
                             "must be an IPv4 or IPv6 network such as 10.1.0.0/16 or fd00::/8, without bits set past "
                             "the prefix, or a single address; got " +
                                 in_quotes(node->as_string()->get())));
}

Expected<void, ConfigError> check_rule(const toml::table& doc, const toml::table& rule, const std::string& shown) {
  if (std::ranges::none_of(kRuleMatchKeys, [&](std::string_view key) { return rule.contains(key); })) {
    return unexpected(error_at(rule.source(), shown,
                               "needs at least one of user, database, application_name or client_cidr; a rule "
                               "without one would match every session"));
  }
  if (auto ok = check_not_empty(rule.get("user"), shown + ".user"); !ok) return ok;
  if (auto ok = check_not_empty(rule.get("database"), shown + ".database"); !ok) return ok;
  if (const auto* user = rule.get("user"); user != nullptr && !has_user(doc, user->as_string()->get())) {
    return unexpected(error_at(user->source(), shown + ".user",
                               "no [[users]] entry is named " + in_quotes(user->as_string()->get()) +
                                   ", so this rule could never match"));
  }
  if (auto ok = check_client_cidr(rule.get("client_cidr"), shown + ".client_cidr"); !ok) return ok;
  return check_range_at(rule.get("read_percent"), shown + ".read_percent", 0, 100);
}

Expected<void, ConfigError> check_rules(const toml::table& doc) {
  const auto* rules = doc.at_path("routing.rules").as_array();
  if (rules == nullptr) return {};
  for (std::size_t i = 0; i < rules->size(); ++i) {
    const std::string shown = "routing.rules[" + std::to_string(i) + "]";
    if (auto ok = check_rule(doc, *(*rules)[i].as_table(), shown); !ok) return ok;
  }
  return {};
}

Expected<void, ConfigError> check_mirror_users(const toml::table& doc) {
  for (const std::string_view key : {"mirror.replication_user", "mirror.apply_user"}) {
    const auto* name = doc.at_path(key).as_string();
    if (name == nullptr || has_user(doc, name->get())) continue;
    return unexpected(
        error_at(name->source(), std::string(key), "no [[users]] entry is named " + in_quotes(name->get())));
  }
  return {};
}

Expected<void, ConfigError> check_admin_users(const toml::table& doc) {
  const auto* names = doc.at_path("admin.users").as_array();
  if (names == nullptr) return {};
  for (std::size_t i = 0; i < names->size(); ++i) {
    const auto& name = *(*names)[i].as_string();
    if (has_user(doc, name.get())) continue;
    return unexpected(error_at(name.source(), "admin.users[" + std::to_string(i) + "]",
                               "no [[users]] entry is named " + in_quotes(name.get())));
  }
  return {};
}


// The files themselves are read by to_proxy_config; here only their presence is checked.
Expected<void, ConfigError> check_tls(const toml::table& doc) {
  const auto mode = tls_mode(doc);
  if (mode == "disable") return {};
  const auto& tls = *doc["tls"].as_table();
  for (const std::string_view key : {"cert_file", "key_file"}) {
    const auto* node = tls.get(key);
    if (node != nullptr && !node->as_string()->get().empty()) continue;
    const toml::node& at = node != nullptr ? *node : static_cast<const toml::node&>(tls);
    return unexpected(error_at(at.source(), "tls." + std::string(key),
                               "must name a PEM file when tls.mode is " + in_quotes(mode)));
  }
  return {};
}

// A backend's root certificates: required by the modes that check the server against them, and
// refused by the others (with require, libpq would check the server against them; pgdual does not).
// The file itself is read by to_proxy_config.
Expected<void, ConfigError> check_backend_tls(const toml::table& doc, std::string_view name) {
  const std::string prefix = "backends." + std::string(name);
  const auto& backend = *doc.at_path(prefix).as_table();
  const auto mode = backend["sslmode"].value_or(std::string("disable"));
  const auto* root = backend.get("sslrootcert");
  const bool verifies = mode == "verify-ca" || mode == "verify-full";
  if (verifies && (root == nullptr || root->as_string()->get().empty())) {
    const toml::node& at = root != nullptr ? *root : static_cast<const toml::node&>(backend);
    return unexpected(error_at(at.source(), prefix + ".sslrootcert",
                               "must name a PEM file of root certificates when sslmode is " + in_quotes(mode)));
  }
  if (verifies || root == nullptr) return {};
  return unexpected(error_at(root->source(), prefix + ".sslrootcert",
                             "is used only with sslmode \"verify-ca\" or \"verify-full\", but sslmode is " +
                                 in_quotes(mode) + "; choose one of those to check the server, or remove sslrootcert"));
}

// An array of names, or of "all": at least one, none empty.
Expected<void, ConfigError> check_name_list(const toml::table& rule, std::string_view key, const std::string& shown) {
  const auto& names = *rule.get_as<toml::array>(key);
  const std::string key_shown = shown + "." + std::string(key);
  if (names.empty()) {
    return unexpected(error_at(names.source(), key_shown, "needs at least one name, or \"all\""));
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (auto ok = check_not_empty(names.get(i), indexed(key_shown, i)); !ok) return ok;
  }
  return {};
}

Expected<void, ConfigError> check_hba_users(const toml::table& doc, const toml::table& rule,
                                            const std::string& shown) {
  if (auto ok = check_name_list(rule, "users", shown); !ok) return ok;
  const auto& names = *rule.get_as<toml::array>("users");
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& name = names[i].as_string()->get();
    // With lookups, a role only the servers know logs in too, and a rule may name it.
    if (name == kAll || has_user(doc, name) || doc.at_path("auth.lookup_user")) continue;
    return unexpected(error_at(names[i].source(), indexed(shown + ".users", i),
                               "no [[users]] entry is named " + in_quotes(name) + ", so this rule could never match"));
  }
  return {};
}

Expected<void, ConfigError> check_hba_address(const toml::node& node, const std::string& key) {
  const std::string& address = node.as_string()->get();
  if (address == kAll || parse_ip_network(address)) return {};
  if (address == "local") {
    return unexpected(error_at(node.source(), key,
                               "\"local\" is not supported: pgdual listens on TCP only; give a network such as "
                               "127.0.0.1/32, or \"all\""));
  }
  return unexpected(error_at(node.source(), key,
                             "must be \"all\", or an IPv4 or IPv6 network such as 10.1.0.0/16 or fd00::/8 without "
                             "bits set past the prefix, or a single address; got " +
                                 in_quotes(address)));
}

// A rule for a transport no client can use is a mistake, not a rule.
Expected<void, ConfigError> check_hba_connection(const toml::table& doc, const toml::node* node,
                                                 const std::string& key) {
  if (auto ok = check_choice_at(node, key, kHbaConnections); !ok || node == nullptr) return ok;
  const std::string& connection = node->as_string()->get();
  const auto mode = tls_mode(doc);
  if (connection == "tls" && mode == "disable") {
    return unexpected(error_at(node->source(), key,
                               "\"tls\" could never match: tls.mode is \"disable\", so no client connects over TLS"));
  }
  if (connection == "plain" && mode == "require") {
    return unexpected(error_at(node->source(), key,
                               "\"plain\" could never match: tls.mode is \"require\", so every client connects "
                               "over TLS"));
  }
  return {};
}

bool rule_covers_user(const toml::table& rule, std::string_view name) {
  const auto& names = *rule.get_as<toml::array>("users");
  return std::ranges::any_of(names, [&](const toml::node& entry) {
    const auto& text = entry.as_string()->get();
    return text == kAll || text == name;
  });
}

// The md5 exchange hashes the password itself, which a SCRAM verifier cannot give back.
Expected<void, ConfigError> check_hba_md5(const toml::table& doc, const toml::table& rule,
                                          const std::string& shown) {
  const auto& method = *rule.get("method");
  if (method.as_string()->get() != "md5") return {};
  const auto& users = *doc["users"].as_array();
  for (std::size_t i = 0; i < users.size(); ++i) {
    const auto& user = *users[i].as_table();
    const auto& name = user["name"].ref<std::string>();
    if (!user.contains("scram_verifier") || !rule_covers_user(rule, name)) continue;
    return unexpected(error_at(method.source(), shown + ".method",
                               "md5 needs each user's password, but users[" + std::to_string(i) + "] (" +
                                   in_quotes(name) +
                                   ") has a scram_verifier instead; use scram-sha-256, or leave that user out"));
  }
  return {};
}

Expected<void, ConfigError> check_hba_rule(const toml::table& doc, const toml::table& rule,
                                           const std::string& shown) {
  if (auto ok = check_hba_users(doc, rule, shown); !ok) return ok;
  if (auto ok = check_name_list(rule, "databases", shown); !ok) return ok;
  if (auto ok = check_hba_address(*rule.get("address"), shown + ".address"); !ok) return ok;
  if (auto ok = check_hba_connection(doc, rule.get("connection"), shown + ".connection"); !ok) return ok;
  if (auto ok = check_choice_at(rule.get("method"), shown + ".method", kHbaMethods); !ok) return ok;
  return check_hba_md5(doc, rule, shown);
}

Expected<void, ConfigError> check_hba(const toml::table& doc) {
  const auto* rules = doc["hba"].as_array();
  if (rules == nullptr) return {};
  if (rules->empty()) {
    return unexpected(error_at(rules->source(), "hba",
                               "needs at least one entry, or none at all for the default rules; with an empty "
                               "list every client would be refused"));
  }
  for (std::size_t i = 0; i < rules->size(); ++i) {
    if (auto ok = check_hba_rule(doc, *(*rules)[i].as_table(), indexed("hba", i)); !ok) return ok;
  }
  return {};
}

Expected<void, ConfigError> check_metrics_address(const toml::table& doc) {
  const auto* node = doc.at_path("metrics.address").node();
  if (node == nullptr) return {};
  const std::string& address = node->as_string()->get();
  if (classify_address(address) != AddressKind::not_a_literal) return {};
  return not_a_literal(*node, "metrics.address", address);
}

bool is_unspecified(const IpNetwork& address) {
  constexpr std::array<std::uint8_t, 16> kAny{};
  constexpr std::array<std::uint8_t, 16> kMappedAny{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
  return address.address == kAny || address.address == kMappedAny;
}

// A wildcard address (0.0.0.0, ::) takes the port on every address, so it collides with any other.
bool addresses_overlap(const std::string& a, const std::string& b) {
  const auto first = parse_ip_network(a);
  const auto second = parse_ip_network(b);
  if (!first || !second) return false;
  return first->address == second->address || is_unspecified(*first) || is_unspecified(*second);
}

// Both listen sockets bind at start; the same address and port twice would fail there, less clearly.
Expected<void, ConfigError> check_metrics_port(const toml::table& doc) {
  const auto* port = doc.at_path("metrics.port").node();
  if (port == nullptr || port->as_integer()->get() == 0) return {};
  const ProxyConfig defaults;
  const auto listen_port = doc.at_path("listen.port").value_or(std::int64_t{defaults.listen.port});
  const auto listen_address = doc.at_path("listen.address").value_or(defaults.listen.address);
  const auto metrics_address = doc.at_path("metrics.address").value_or(defaults.metrics.address);
  if (port->as_integer()->get() != listen_port || !addresses_overlap(listen_address, metrics_address)) return {};
  return unexpected(error_at(port->source(), "metrics.port",
                             "must differ from listen.port (" + std::to_string(listen_port) + "): " +
                                 in_quotes(metrics_address) + " and " + in_quotes(listen_address) +
                                 " overlap, so both cannot take the port"));
}

bool has_bits_past(const std::array<std::uint8_t, 16>& address, unsigned prefix_length) {
  for (unsigned bit = prefix_length; bit < 128; ++bit) {
    if ((address[bit / 8] >> (7 - bit % 8)) & 1U) return true;
  }
  return false;
}

// The prefix after the slash: decimal digits only, so "+8", " 8" and "0x8" are rejected.
std::optional<unsigned> parse_prefix(std::string_view digits) {
  unsigned prefix = 0;
  const auto* end = digits.data() + digits.size();
  const auto [stop, error] = std::from_chars(digits.data(), end, prefix);
  if (digits.empty() || error != std::errc{} || stop != end) return std::nullopt;
  return prefix;
}

}  // namespace

std::string number_text(const toml::node& node) {
  std::ostringstream text;
  if (const auto* integer = node.as_integer()) {
    text << integer->get();
  } else {
    text << node.as_floating_point()->get();
  }
  return text.str();
}

std::optional<IpNetwork> parse_ip_network(std::string_view text) {
  const auto slash = text.find('/');
  const std::string address(text.substr(0, slash));
  // inet_pton reads a C string, so an embedded NUL would cut the text short unnoticed.
  if (address.find('\0') != std::string::npos) return std::nullopt;
  IpNetwork network{.address = {}, .prefix_length = 128, .text = std::string(text)};
  unsigned family_bits = 128;
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    network.address[10] = network.address[11] = 0xff;  // ::ffff:a.b.c.d, RFC 4291 section 2.5.5.2
    std::memcpy(&network.address[12], &v4.s_addr, 4);
    family_bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    std::memcpy(network.address.data(), v6.s6_addr, 16);
  } else {
    return std::nullopt;
  }
  unsigned prefix = family_bits;
  if (slash != std::string_view::npos) {
    const auto parsed = parse_prefix(text.substr(slash + 1));
    if (!parsed || *parsed > family_bits) return std::nullopt;
    prefix = *parsed;
  }
  network.prefix_length = 128 - family_bits + prefix;
  if (has_bits_past(network.address, network.prefix_length)) return std::nullopt;
  return network;
}

Expected<void, ConfigError> validate(const toml::table& doc) {
  for (const auto& range : kRanges) {
    if (auto ok = check_range(doc, range); !ok) return ok;
  }
  for (const auto& choice : kChoices) {
    if (auto ok = check_choice(doc, choice); !ok) return ok;
  }
  if (auto ok = check_rotate_bytes(doc); !ok) return ok;
  if (auto ok = check_brake(doc); !ok) return ok;
  if (auto ok = check_listen_address(doc); !ok) return ok;
  if (auto ok = check_metrics_address(doc); !ok) return ok;
  if (auto ok = check_metrics_port(doc); !ok) return ok;
  for (const auto key : kNonEmptyStrings) {
    if (auto ok = check_not_empty(doc.at_path(key).node(), std::string(key)); !ok) return ok;
  }
  if (auto ok = check_read_only_functions(doc); !ok) return ok;
  if (auto ok = check_reconnect_bounds(doc); !ok) return ok;
  if (auto ok = check_backends_differ(doc); !ok) return ok;
  for (const auto name : kBackendNames) {
    if (auto ok = check_backend_tls(doc, name); !ok) return ok;
  }
  // The rules, the admin console and the mirror's logins name users, so the users are checked first.
  if (auto ok = check_users(doc); !ok) return ok;
  if (auto ok = check_rules(doc); !ok) return ok;
  if (auto ok = check_admin_users(doc); !ok) return ok;
  if (auto ok = check_mirror_users(doc); !ok) return ok;
  if (auto ok = check_auth_lookup(doc); !ok) return ok;
  if (auto ok = check_tls(doc); !ok) return ok;
  return check_hba(doc);
}

}  // namespace pgdual::config
