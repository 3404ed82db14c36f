// Step 3 of parse_config: copy validated values into ProxyConfig and read the files and secrets
// the file only points at (passwords, the rows-digest key, the TLS certificate and key, the
// backends' root certificates). The narrowing casts below are safe because validate() has checked
// every range.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/document.h"
#include "config/read_file.h"

namespace pgdual::config {
namespace {

// Absent keys keep ProxyConfig's defaults, so the defaults live in proxy_config.h only.
template <std::integral T>
void assign(const toml::table& doc, std::string_view path, T& out) {
  if (const auto value = doc.at_path(path).value<std::int64_t>()) out = static_cast<T>(*value);
}

template <class Rep, class Period>
void assign(const toml::table& doc, std::string_view path, std::chrono::duration<Rep, Period>& out) {
  if (const auto value = doc.at_path(path).value<std::int64_t>()) out = std::chrono::duration<Rep, Period>{*value};
}

void assign(const toml::table& doc, std::string_view path, bool& out) {
  if (const auto value = doc.at_path(path).value<bool>()) out = *value;
}

void assign(const toml::table& doc, std::string_view path, double& out) {
  if (const auto value = doc.at_path(path).value<double>()) out = *value;
}

void assign(const toml::table& doc, std::string_view path, std::string& out) {
  if (const auto value = doc.at_path(path).value<std::string>()) out = *value;
}

void assign(const toml::table& doc, std::string_view path, std::filesystem::path& out) {
  if (const auto value = doc.at_path(path).value<std::string>()) out = *value;
}

void assign(const toml::table& doc, std::string_view path, std::vector<std::string>& out) {
  const auto* array = doc.at_path(path).as_array();
  if (array == nullptr) return;
  out.clear();
  for (const auto& element : *array) out.push_back(element.as_string()->get());
}

void assign(const toml::table& doc, std::string_view path, std::optional<std::string>& out) {
  if (const auto value = doc.at_path(path).value<std::string>()) out = *value;
}

ReadStickiness read_stickiness(std::string_view name) {
  if (name == "session") return ReadStickiness::session;
  return name == "transaction" ? ReadStickiness::transaction : ReadStickiness::statement;
}

// validate() has checked that every rule has a read_percent and a client_cidr parse_ip_network accepts.
std::vector<ReadRule> read_rules(const toml::table& doc) {
  std::vector<ReadRule> rules;
  const auto* entries = doc.at_path("routing.rules").as_array();
  if (entries == nullptr) return rules;
  for (const auto& entry : *entries) {
    const auto& table = *entry.as_table();
    ReadRule rule;
    assign(table, "user", rule.user);
    assign(table, "database", rule.database);
    assign(table, "application_name", rule.application_name);
    if (const auto cidr = table["client_cidr"].value<std::string>()) rule.client_network = parse_ip_network(*cidr);
    rule.read_percent = *table["read_percent"].value<double>();
    rules.push_back(std::move(rule));
  }
  return rules;
}

HbaConnection hba_connection(std::string_view name) {
  if (name == "tls") return HbaConnection::tls;
  return name == "plain" ? HbaConnection::plain : HbaConnection::any;
}

AuthMethod auth_method(std::string_view name) {
  if (name == "md5") return AuthMethod::md5;
  if (name == "trust") return AuthMethod::trust;
  return name == "reject" ? AuthMethod::reject : AuthMethod::scram_sha_256;
}

// validate() has checked every key's value; an absent [[hba]] keeps the default rules.
void assign_hba(const toml::table& doc, std::vector<HbaRule>& rules) {
  const auto* entries = doc["hba"].as_array();
  if (entries == nullptr) return;
  rules.clear();
  for (const auto& entry : *entries) {
    const auto& table = *entry.as_table();
    HbaRule rule;
    assign(table, "users", rule.users);
    assign(table, "databases", rule.databases);
    if (const auto& address = table["address"].ref<std::string>(); address != "all") {
      rule.address = parse_ip_network(address);
    }
    if (const auto connection = table["connection"].value<std::string>()) rule.connection = hba_connection(*connection);
    rule.method = auth_method(table["method"].ref<std::string>());
    rules.push_back(std::move(rule));
  }
}

void assign_routing(const toml::table& doc, RoutingConfig& routing) {
  assign(doc, "routing.shadow_percent", routing.shadow_percent);
  assign(doc, "routing.shadow_max_in_flight", routing.shadow_max_in_flight);
  assign(doc, "routing.shadow_timeout_ms", routing.shadow_timeout);
}

void assign_brake(const toml::table& doc, BrakeConfig& brake) {
  assign(doc, "brake.error_rate_percent", brake.error_rate_percent);
  assign(doc, "brake.latency_ratio", brake.latency_ratio);
  assign(doc, "brake.p99_latency_ms", brake.p99_latency);
  assign(doc, "brake.window_seconds", brake.window);
  assign(doc, "brake.min_reads", brake.min_reads);
}

void assign_uncarried(const toml::table& doc, std::string_view key, UncarriedWrites& writes) {
  if (const auto choice = doc.at_path(key).value<std::string>()) {
    writes = *choice == "record" ? UncarriedWrites::record : UncarriedWrites::refuse;
  }
}

// validate() has checked that the names given are [[users]] entries and that there is at least one.
void assign_mirror(const toml::table& doc, const std::vector<UserConfig>& users, MirrorConfig& mirror) {
  if (const auto mode = doc.at_path("mirror.mode").value<std::string>()) {
    mirror.mode = *mode == "wal" ? MirrorMode::wal : MirrorMode::statement;
  }
  assign(doc, "mirror.timeout_ms", mirror.timeout);
  assign(doc, "mirror.reconnect_min_ms", mirror.reconnect_min);
  assign(doc, "mirror.reconnect_max_ms", mirror.reconnect_max);
  mirror.replication_user = doc.at_path("mirror.replication_user").value_or(users.front().name);
  mirror.apply_user = doc.at_path("mirror.apply_user").value_or(mirror.replication_user);
  assign(doc, "mirror.max_lag_bytes", mirror.max_lag_bytes);
  assign(doc, "mirror.sequence_sync_ms", mirror.sequence_sync);
  assign(doc, "mirror.lease_timeout_ms", mirror.lease_timeout);
  assign_uncarried(doc, "mirror.large_objects", mirror.large_objects);
  assign_uncarried(doc, "mirror.unlogged_tables", mirror.unlogged_tables);
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

// The file `node` names, or an error at `node` saying why it cannot be read.
Expected<FileContent, ConfigError> read_named_file(const toml::node& node, const std::string& key) {
  const std::string& path = node.as_string()->get();
  auto content = read_file(path);
  if (!content) {
    return unexpected(error_at(node.source(), key, "cannot read \"" + path + "\": " + content.error()));
  }
  return std::move(*content);
}

// The bytes of a file that must be accessible by its owner only, as PostgreSQL asks of its key files.
Expected<std::string, ConfigError> read_private_file(const toml::node& node, const std::string& key) {
  auto content = read_named_file(node, key);
  if (!content) return unexpected(std::move(content.error()));
  constexpr auto kGroupOrOthers = std::filesystem::perms::group_all | std::filesystem::perms::others_all;
  if ((content->permissions & kGroupOrOthers) != std::filesystem::perms::none) {
    return unexpected(error_at(node.source(), key,
                               "\"" + node.as_string()->get() + "\" is accessible by group or others (mode " +
                                   octal_mode(content->permissions) + "); run chmod 600 on it"));
  }
  return std::move(content->bytes);
}

// Secret files are mostly written by editors or echo, so one line ending at the end is not part of
// the secret.
Expected<std::string, ConfigError> read_secret_file(const toml::node& node, const std::string& key) {
  auto secret = read_private_file(node, key);
  if (!secret) return secret;
  if (secret->ends_with('\n')) secret->pop_back();
  if (secret->ends_with('\r')) secret->pop_back();
  return secret;
}

Expected<std::string, ConfigError> password_from_file(const toml::node& node, const std::string& key) {
  auto password = read_secret_file(node, key);
  if (password && password->empty()) {
    return unexpected(error_at(node.source(), key, "\"" + node.as_string()->get() + "\" is empty"));
  }
  return password;
}

// conflict::kMinRowsDigestKeyBytes, which OutcomeBuilder enforces; config/ does not depend on conflict/.
constexpr std::size_t kMinRowsDigestKeyBytes = 32;

Expected<std::string, ConfigError> rows_digest_key_from_file(const toml::node& node) {
  const std::string key = "conflicts.rows_digest_key_file";
  auto digest_key = read_secret_file(node, key);
  if (digest_key && digest_key->size() < kMinRowsDigestKeyBytes) {
    return unexpected(error_at(node.source(), key,
                               "\"" + node.as_string()->get() + "\" holds " + std::to_string(digest_key->size()) +
                                   " bytes; a rows digest key needs at least " +
                                   std::to_string(kMinRowsDigestKeyBytes) + " (openssl rand -hex 32 makes one)"));
  }
  return digest_key;
}

Expected<void, ConfigError> assign_conflicts(const toml::table& doc, ConflictsConfig& conflicts) {
  assign(doc, "conflicts.log_path", conflicts.log_path);
  if (const auto sync = doc.at_path("conflicts.sync").value<std::string>()) {
    conflicts.sync = *sync == "every_append" ? ConflictSync::every_append : ConflictSync::group;
  }
  assign(doc, "conflicts.group_commit_ms", conflicts.group_commit);
  assign(doc, "conflicts.rotate_bytes", conflicts.rotate_bytes);
  assign(doc, "conflicts.keep_rotated", conflicts.keep_rotated);
  const auto* key_file = doc.at_path("conflicts.rows_digest_key_file").node();
  if (key_file == nullptr) return {};
  auto digest_key = rows_digest_key_from_file(*key_file);
  if (!digest_key) return unexpected(std::move(digest_key.error()));
  conflicts.rows_digest_key = std::move(*digest_key);
  return {};
}

// Only the markers are looked for: OpenSSL, in proxy/, parses the contents when it loads them.
constexpr std::string_view kPemCertificate = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kPemPrivateKeyEnd = "PRIVATE KEY-----";
constexpr std::string_view kPemEncryptedKey = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
constexpr std::string_view kPemLegacyEncrypted = "Proc-Type: 4,ENCRYPTED";  // RFC 1421 headers, OpenSSL's old form

Expected<std::string, ConfigError> certificate_from_file(const toml::node& node, const std::string& key) {
  auto content = read_named_file(node, key);
  if (!content) return unexpected(std::move(content.error()));
  if (content->bytes.find(kPemCertificate) == std::string::npos) {
    return unexpected(error_at(node.source(), key,
                               "\"" + node.as_string()->get() + "\" holds no PEM certificate (" +
                                   std::string(kPemCertificate) + ")"));
  }
  return std::move(content->bytes);
}

// pgdual starts unattended, so it has nobody to ask for a passphrase.
Expected<std::string, ConfigError> private_key_from_file(const toml::node& node) {
  const std::string key = "tls.key_file";
  auto pem = read_private_file(node, key);
  if (!pem) return pem;
  const std::string quoted = "\"" + node.as_string()->get() + "\"";
  if (pem->find(kPemEncryptedKey) != std::string::npos || pem->find(kPemLegacyEncrypted) != std::string::npos) {
    return unexpected(error_at(node.source(), key,
                               quoted + " holds an encrypted key, and pgdual cannot ask for its passphrase; "
                                        "decrypt it with openssl pkey"));
  }
  if (pem->find("-----BEGIN ") == std::string::npos || pem->find(kPemPrivateKeyEnd) == std::string::npos) {
    return unexpected(error_at(node.source(), key, quoted + " holds no PEM private key"));
  }
  return pem;
}

Expected<void, ConfigError> assign_tls(const toml::table& doc, TlsConfig& tls) {
  if (const auto mode = doc.at_path("tls.mode").value<std::string>()) {
    tls.mode = *mode == "require" ? TlsMode::require : *mode == "allow" ? TlsMode::allow : TlsMode::disable;
  }
  assign(doc, "tls.cert_file", tls.cert_file);
  assign(doc, "tls.key_file", tls.key_file);
  if (const auto version = doc.at_path("tls.min_version").value<std::string>()) {
    tls.min_version = *version == "1.3" ? TlsVersion::v1_3 : TlsVersion::v1_2;
  }
  // validate() has checked that both files are named when TLS is on.
  if (tls.mode == TlsMode::disable) return {};
  auto certificate = certificate_from_file(*doc.at_path("tls.cert_file").node(), "tls.cert_file");
  if (!certificate) return unexpected(std::move(certificate.error()));
  auto private_key = private_key_from_file(*doc.at_path("tls.key_file").node());
  if (!private_key) return unexpected(std::move(private_key.error()));
  tls.cert_pem = std::move(*certificate);
  tls.key_pem = std::move(*private_key);
  return {};
}

SslMode ssl_mode(std::string_view name) {
  if (name == "require") return SslMode::require;
  if (name == "verify-ca") return SslMode::verify_ca;
  return name == "verify-full" ? SslMode::verify_full : SslMode::disable;
}

// validate() has checked that sslrootcert is set exactly when sslmode verifies the server.
Expected<void, ConfigError> assign_backend(const toml::table& doc, BackendConfig& backend) {
  const std::string prefix = "backends." + backend.name + ".";
  assign(doc, prefix + "host", backend.host);
  assign(doc, prefix + "port", backend.port);
  assign(doc, prefix + "connect_timeout_ms", backend.connect_timeout);
  if (const auto mode = doc.at_path(prefix + "sslmode").value<std::string>()) backend.sslmode = ssl_mode(*mode);
  assign(doc, prefix + "sslsni", backend.sslsni);
  const auto* root = doc.at_path(prefix + "sslrootcert").node();
  if (root == nullptr) return {};
  auto certificates = certificate_from_file(*root, prefix + "sslrootcert");
  if (!certificates) return unexpected(std::move(certificates.error()));
  backend.sslrootcert = root->as_string()->get();
  backend.sslrootcert_pem = std::move(*certificates);
  return {};
}

// validate() guarantees at most one of the three keys is present; nullopt when none is.
Expected<std::optional<std::string>, ConfigError> resolve_password(const toml::table& table,
                                                                   const std::string& shown) {
  if (const auto* literal = table.get("password")) return literal->as_string()->get();
  if (const auto* variable = table.get("password_env")) return password_from_env(*variable, shown + ".password_env");
  if (const auto* file = table.get("password_file")) return password_from_file(*file, shown + ".password_file");
  return std::nullopt;
}

// The secret towards one backend, from [users.backends.<name>]; left unset without that table.
Expected<void, ConfigError> assign_backend_password(const toml::table& user, const std::string& shown,
                                                    std::string_view backend, std::optional<std::string>& out) {
  const std::string path = "backends." + std::string(backend);
  const auto* credentials = user.at_path(path).as_table();
  if (credentials == nullptr) return {};
  auto secret = resolve_password(*credentials, shown + "." + path);
  if (!secret) return unexpected(std::move(secret.error()));
  out = std::move(*secret);
  return {};
}

// validate() guarantees a password source or a scram_verifier, and with the latter both overrides.
Expected<UserConfig, ConfigError> user_config(const toml::table& user, const std::string& shown) {
  UserConfig config{.name = user["name"].ref<std::string>(), .password = {}};
  auto password = resolve_password(user, shown);
  if (!password) return unexpected(std::move(password.error()));
  config.password = std::move(*password).value_or("");
  assign(user, "scram_verifier", config.scram_verifier);
  if (auto onprem = assign_backend_password(user, shown, "onprem", config.onprem_password); !onprem) {
    return unexpected(std::move(onprem.error()));
  }
  if (auto cloud = assign_backend_password(user, shown, "cloud", config.cloud_password); !cloud) {
    return unexpected(std::move(cloud.error()));
  }
  return config;
}

}  // namespace

Expected<ProxyConfig, ConfigError> to_proxy_config(const toml::table& doc) {
  ProxyConfig config;
  assign(doc, "server.threads", config.server.threads);
  assign(doc, "server.shutdown_grace_ms", config.server.shutdown_grace);
  assign(doc, "listen.address", config.listen.address);
  assign(doc, "listen.port", config.listen.port);
  if (auto tls = assign_tls(doc, config.tls); !tls) return unexpected(std::move(tls.error()));
  assign(doc, "limits.max_client_connections", config.limits.max_client_connections);
  assign(doc, "limits.max_logins_in_progress", config.limits.max_logins_in_progress);
  assign(doc, "limits.max_message_bytes", config.limits.max_message_bytes);
  assign(doc, "limits.startup_timeout_ms", config.limits.startup_timeout);
  assign(doc, "limits.idle_session_timeout_ms", config.limits.idle_session_timeout);
  assign(doc, "limits.idle_in_transaction_timeout_ms", config.limits.idle_in_transaction_timeout);
  assign(doc, "log.level", config.log.level);
  if (const auto format = doc.at_path("log.format").value<std::string>()) {
    config.log.format = *format == "json" ? LogFormat::json : LogFormat::text;
  }
  assign(doc, "routing.primary", config.primary);
  assign(doc, "routing.read_percent", config.read_percent);
  if (const auto stickiness = doc.at_path("routing.read_stickiness").value<std::string>()) {
    config.read_stickiness = read_stickiness(*stickiness);
  }
  config.read_rules = read_rules(doc);
  assign_routing(doc, config.routing);
  for (auto* backend : {&config.onprem, &config.cloud}) {
    if (auto assigned = assign_backend(doc, *backend); !assigned) return unexpected(std::move(assigned.error()));
  }
  if (auto conflicts = assign_conflicts(doc, config.conflicts); !conflicts) {
    return unexpected(std::move(conflicts.error()));
  }
  assign(doc, "ledger.retention_hours", config.ledger.retention);
  assign(doc, "ledger.prune_interval_ms", config.ledger.prune_interval);
  assign(doc, "sql.read_only_functions", config.sql.read_only_functions);
  assign_brake(doc, config.brake);
  assign(doc, "cutover.auto_rollback", config.cutover.auto_rollback);
  assign(doc, "cutover.watch_seconds", config.cutover.watch);
  assign(doc, "cutover.rollback_error_rate_percent", config.cutover.rollback_error_rate_percent);
  assign(doc, "cutover.rollback_min_answers", config.cutover.rollback_min_answers);
  assign(doc, "admin.users", config.admin.users);
  assign(doc, "metrics.address", config.metrics.address);
  assign(doc, "metrics.port", config.metrics.port);
  assign(doc, "metrics.health_lag_seconds", config.metrics.health_lag);

  const auto& users = *doc["users"].as_array();
  for (std::size_t i = 0; i < users.size(); ++i) {
    auto user = user_config(*users[i].as_table(), "users[" + std::to_string(i) + "]");
    if (!user) return unexpected(std::move(user.error()));
    config.users.push_back(std::move(*user));
  }
  assign_mirror(doc, config.users, config.mirror);
  assign(doc, "auth.lookup_user", config.auth.lookup_user);
  assign(doc, "auth.query", config.auth.query);
  assign(doc, "auth.lookup_database", config.auth.lookup_database);
  assign_hba(doc, config.hba);
  return config;
}

std::vector<HbaRule> default_hba_rules() {
  std::vector<HbaRule> rules;
  for (const std::string_view loopback : {"127.0.0.0/8", "::1/128"}) {
    rules.push_back(HbaRule{.users = {"all"},
                            .databases = {"all"},
                            .address = parse_ip_network(loopback),
                            .connection = HbaConnection::any,
                            .method = AuthMethod::scram_sha_256});
  }
  return rules;
}

}  // namespace pgdual::config
