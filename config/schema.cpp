// Step 1 of parse_config: the document's shape, checked against one table of every key pgdual
// knows. Ranges and other rules on the values are validate.cpp's job.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "config/document.h"

namespace pgdual::config {
namespace {

enum class Kind { table, table_array, integer, number, string, string_array, boolean };

struct KeySpec {
  std::string_view path;  ///< dotted; "users[]" stands for every [[users]] entry
  Kind kind;
  std::string_view if_missing = {};  ///< non-empty: the key is required, and this says what to add
};

constexpr KeySpec kSchema[] = {
    {"server", Kind::table},
    {"server.threads", Kind::integer},
    {"server.shutdown_grace_ms", Kind::integer},
    {"listen", Kind::table},
    {"listen.address", Kind::string},
    {"listen.port", Kind::integer},
    {"tls", Kind::table},
    {"tls.mode", Kind::string},
    {"tls.cert_file", Kind::string},
    {"tls.key_file", Kind::string},
    {"tls.min_version", Kind::string},
    {"limits", Kind::table},
    {"limits.max_client_connections", Kind::integer},
    {"limits.max_logins_in_progress", Kind::integer},
    {"limits.max_message_bytes", Kind::integer},
    {"limits.startup_timeout_ms", Kind::integer},
    {"limits.idle_session_timeout_ms", Kind::integer},
    {"limits.idle_in_transaction_timeout_ms", Kind::integer},
    {"log", Kind::table},
    {"log.level", Kind::string},
    {"log.format", Kind::string},
    {"routing", Kind::table},
    {"routing.primary", Kind::string},
    {"routing.read_percent", Kind::number},
    {"routing.read_stickiness", Kind::string},
    {"routing.shadow_percent", Kind::number},
    {"routing.shadow_max_in_flight", Kind::integer},
    {"routing.shadow_timeout_ms", Kind::integer},
    {"routing.rules", Kind::table_array},
    {"routing.rules[].user", Kind::string},
    {"routing.rules[].database", Kind::string},
    {"routing.rules[].application_name", Kind::string},
    {"routing.rules[].client_cidr", Kind::string},
    {"routing.rules[].read_percent", Kind::number, "missing; every [[routing.rules]] entry needs a read_percent"},
    {"mirror", Kind::table},
    {"mirror.mode", Kind::string},
    {"mirror.timeout_ms", Kind::integer},
    {"mirror.reconnect_min_ms", Kind::integer},
    {"mirror.reconnect_max_ms", Kind::integer},
    {"mirror.replication_user", Kind::string},
    {"mirror.apply_user", Kind::string},
    {"mirror.max_lag_bytes", Kind::integer},
    {"mirror.sequence_sync_ms", Kind::integer},
    {"mirror.lease_timeout_ms", Kind::integer},
    {"mirror.large_objects", Kind::string},
    {"mirror.unlogged_tables", Kind::string},
    {"conflicts", Kind::table},
    {"conflicts.log_path", Kind::string},
    {"conflicts.sync", Kind::string},
    {"conflicts.group_commit_ms", Kind::integer},
    {"conflicts.rotate_bytes", Kind::integer},
    {"conflicts.keep_rotated", Kind::integer},
    {"conflicts.rows_digest_key_file", Kind::string},
    {"ledger", Kind::table},
    {"ledger.retention_hours", Kind::integer},
    {"ledger.prune_interval_ms", Kind::integer},
    {"sql", Kind::table},
    {"sql.read_only_functions", Kind::string_array},
    {"brake", Kind::table},
    {"brake.error_rate_percent", Kind::number},
    {"brake.latency_ratio", Kind::number},
    {"brake.p99_latency_ms", Kind::integer},
    {"brake.window_seconds", Kind::integer},
    {"brake.min_reads", Kind::integer},
    {"cutover", Kind::table},
    {"cutover.auto_rollback", Kind::boolean},
    {"cutover.watch_seconds", Kind::integer},
    {"cutover.rollback_error_rate_percent", Kind::number},
    {"cutover.rollback_min_answers", Kind::integer},
    {"admin", Kind::table},
    {"admin.users", Kind::string_array},
    {"metrics", Kind::table},
    {"metrics.address", Kind::string},
    {"metrics.port", Kind::integer},
    {"metrics.health_lag_seconds", Kind::integer},
    {"backends", Kind::table, "missing; add the tables [backends.onprem] and [backends.cloud]"},
    {"backends.onprem", Kind::table, "missing; add a [backends.onprem] table"},
    {"backends.onprem.host", Kind::string},
    {"backends.onprem.port", Kind::integer},
    {"backends.onprem.connect_timeout_ms", Kind::integer},
    {"backends.onprem.sslmode", Kind::string},
    {"backends.onprem.sslrootcert", Kind::string},
    {"backends.onprem.sslsni", Kind::boolean},
    {"backends.cloud", Kind::table, "missing; add a [backends.cloud] table"},
    {"backends.cloud.host", Kind::string},
    {"backends.cloud.port", Kind::integer},
    {"backends.cloud.connect_timeout_ms", Kind::integer},
    {"backends.cloud.sslmode", Kind::string},
    {"backends.cloud.sslrootcert", Kind::string},
    {"backends.cloud.sslsni", Kind::boolean},
    {"users", Kind::table_array, "missing; add at least one [[users]] entry"},
    {"users[].name", Kind::string, "missing; every [[users]] entry needs a name"},
    {"users[].password", Kind::string},
    {"users[].password_env", Kind::string},
    {"users[].password_file", Kind::string},
    {"users[].scram_verifier", Kind::string},
    {"users[].backends", Kind::table},
    {"users[].backends.onprem", Kind::table},
    {"users[].backends.onprem.password", Kind::string},
    {"users[].backends.onprem.password_env", Kind::string},
    {"users[].backends.onprem.password_file", Kind::string},
    {"users[].backends.cloud", Kind::table},
    {"users[].backends.cloud.password", Kind::string},
    {"users[].backends.cloud.password_env", Kind::string},
    {"users[].backends.cloud.password_file", Kind::string},
    {"auth", Kind::table},
    {"auth.lookup_user", Kind::string},
    {"auth.query", Kind::string},
    {"auth.lookup_database", Kind::string},
    {"hba", Kind::table_array},
    {"hba[].users", Kind::string_array, "missing; every [[hba]] entry needs users: names, or [\"all\"]"},
    {"hba[].databases", Kind::string_array, "missing; every [[hba]] entry needs databases: names, or [\"all\"]"},
    {"hba[].address", Kind::string, "missing; every [[hba]] entry needs an address: a network, or \"all\""},
    {"hba[].connection", Kind::string},
    {"hba[].method", Kind::string, "missing; every [[hba]] entry needs a method"},
};

std::string join(std::string_view parent, std::string_view leaf) {
  return parent.empty() ? std::string(leaf) : std::string(parent).append(".").append(leaf);
}

std::string_view parent_of(std::string_view path) {
  const auto dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view{} : path.substr(0, dot);
}

std::string_view leaf_of(std::string_view path) {
  const auto dot = path.rfind('.');
  return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

const KeySpec* find_spec(std::string_view path) {
  const auto* spec = std::ranges::find(kSchema, path, &KeySpec::path);
  return spec == std::end(kSchema) ? nullptr : spec;
}

std::string_view expected_text(Kind kind) {
  switch (kind) {
    case Kind::table: return "a table";
    case Kind::table_array: return "an array of tables";
    case Kind::integer: return "an integer";
    case Kind::number: return "a number";
    case Kind::string: return "a string";
    case Kind::string_array: return "an array of strings";
    case Kind::boolean: return "a boolean";
  }
  return "a value";
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

bool has_kind(const toml::node& node, Kind kind) {
  switch (kind) {
    case Kind::table: return node.is_table();
    case Kind::table_array: return node.is_array();  // each element is checked on its own
    case Kind::integer: return node.is_integer();
    case Kind::number: return node.is_integer() || node.is_floating_point();
    case Kind::string: return node.is_string();
    case Kind::string_array: return node.is_array();  // each element is checked on its own
    case Kind::boolean: return node.is_boolean();
  }
  return false;
}

std::string known_keys_under(std::string_view parent) {
  std::string names;
  for (const auto& spec : kSchema) {
    if (parent_of(spec.path) == parent) {
      names.append(names.empty() ? "" : ", ").append(leaf_of(spec.path));
    }
  }
  return names;
}

ConfigError wrong_type(const toml::node& node, const std::string& shown, Kind kind) {
  return error_at(node.source(), shown,
                  std::string("expected ").append(expected_text(kind)).append(", got ").append(type_name(node)));
}

// toml++ keeps a table's keys sorted by name; walking them in file order makes the first error
// reported the first one in the file.
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (const auto& [key, node] : table) entries.emplace_back(&key, &node);
  std::ranges::sort(entries, [](const auto& a, const auto& b) {
    const auto& pa = a.first->source().begin;
    const auto& pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return entries;
}

// `schema_path` names the table in kSchema ("users[]"); `shown` names it in messages ("users[2]").
Expected<void, ConfigError> check_table(const toml::table& table, std::string_view schema_path,
                                        const std::string& shown);

std::string element_shown(const std::string& array_shown, std::size_t index) {
  return array_shown + "[" + std::to_string(index) + "]";
}

Expected<void, ConfigError> check_table_array(const toml::array& array, std::string_view schema_path,
                                              const std::string& shown) {
  const std::string entry_schema = std::string(schema_path) + "[]";
  for (std::size_t i = 0; i < array.size(); ++i) {
    const auto* entry = array[i].as_table();
    if (entry == nullptr) return unexpected(wrong_type(array[i], element_shown(shown, i), Kind::table));
    if (auto checked = check_table(*entry, entry_schema, element_shown(shown, i)); !checked) return checked;
  }
  return {};
}

Expected<void, ConfigError> check_string_array(const toml::array& array, const std::string& shown) {
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_string()) return unexpected(wrong_type(array[i], element_shown(shown, i), Kind::string));
  }
  return {};
}

Expected<void, ConfigError> check_value(const toml::node& node, const KeySpec& spec, const std::string& shown) {
  if (!has_kind(node, spec.kind)) return unexpected(wrong_type(node, shown, spec.kind));
  switch (spec.kind) {
    case Kind::table: return check_table(*node.as_table(), spec.path, shown);
    case Kind::table_array: return check_table_array(*node.as_array(), spec.path, shown);
    case Kind::string_array: return check_string_array(*node.as_array(), shown);
    case Kind::integer:
    case Kind::number:
    case Kind::string:
    case Kind::boolean: break;
  }
  return {};
}

Expected<void, ConfigError> check_required(const toml::table& table, std::string_view schema_path,
                                           const std::string& shown) {
  for (const auto& spec : kSchema) {
    if (spec.if_missing.empty() || parent_of(spec.path) != schema_path) continue;
    const auto leaf = leaf_of(spec.path);
    if (table.contains(leaf)) continue;
    // The root table's position is always 1:1, which would point at an unrelated line.
    auto error = error_at(table.source(), join(shown, leaf), std::string(spec.if_missing));
    if (schema_path.empty()) error.line = error.column = 0;
    return unexpected(std::move(error));
  }
  return {};
}

Expected<void, ConfigError> check_table(const toml::table& table, std::string_view schema_path,
                                        const std::string& shown) {
  for (const auto& [key, node] : in_file_order(table)) {
    const std::string child_shown = join(shown, key->str());
    const auto* spec = find_spec(join(schema_path, key->str()));
    if (spec == nullptr) {
      return unexpected(error_at(key->source(), child_shown,
                                 "unknown key; expected one of: " + known_keys_under(schema_path)));
    }
    if (auto checked = check_value(*node, *spec, child_shown); !checked) return checked;
  }
  return check_required(table, schema_path, shown);
}

}  // namespace

Expected<void, ConfigError> check_schema(const toml::table& doc) { return check_table(doc, "", ""); }

}  // namespace pgdual::config
