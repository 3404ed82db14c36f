#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/expected.h"

namespace pgdual::config {

/// One PostgreSQL server pgdual connects to. The two are named "onprem" and "cloud".
struct BackendConfig {
  std::string name;
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::chrono::milliseconds connect_timeout{5000};
};

/// A login pgdual accepts from clients and uses towards both backends.
struct UserConfig {
  std::string name;
  std::string password;  ///< resolved secret (from `password`, `password_env` or `password_file`)
};

struct ListenConfig {
  std::string address = "127.0.0.1";
  std::uint16_t port = 6432;
};

struct LimitsConfig {
  unsigned max_client_connections = 1000;        ///< more are refused with 53300
  std::uint32_t max_message_bytes = 0x3fffffff;  ///< PostgreSQL's own 1 GB - 1
  std::chrono::milliseconds startup_timeout{10000};
};

struct ServerConfig {
  unsigned threads = 0;  ///< 0: one per core
  std::chrono::milliseconds shutdown_grace{10000};
};

enum class LogFormat { text, json };

struct LogConfig {
  std::string level = "info";  ///< trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::text;
};

/// How pgdual waits for the mirror and reconnects to it.
struct MirrorConfig {
  /// How long a client may be held waiting for the mirror's answer once the primary has answered.
  /// Past it the client gets the primary's answer and the unit becomes a mirror_timeout conflict.
  std::chrono::milliseconds timeout{5000};
  /// The first wait before reconnecting to a lost mirror; later waits grow up to reconnect_max.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{30000};  ///< at least reconnect_min
};

/// When conflict records reach the disk: conflict::SyncPolicy, where group is called on_flush.
enum class ConflictSync {
  group,         ///< written as they come, made durable together every group_commit
  every_append,  ///< each made durable on its own as it is appended
};

/// The conflict log (docs/conflict-log.md).
struct ConflictsConfig {
  std::filesystem::path log_path = "pgdual-conflicts.jsonl";  ///< relative: from the working directory
  ConflictSync sync = ConflictSync::group;
  std::chrono::milliseconds group_commit{5};  ///< with sync group: how often the log is synced
  std::uint64_t rotate_bytes = 104'857'600;   ///< 0: never rotate
  unsigned keep_rotated = 10;                 ///< rotated files kept: log_path.1 to log_path.N
  /// The secret behind the rows digests in conflict records: the bytes of rows_digest_key_file, at
  /// least 32. Empty when no file is configured: the proxy then draws a random key at start, so
  /// digests compare only within one run.
  std::string rows_digest_key;
};

/// The ledger table on the backends that records each write unit's idempotency key.
struct LedgerConfig {
  std::chrono::hours retention{168};  ///< how long a key stays; an older unit can no longer be looked up
  std::chrono::milliseconds prune_interval{600'000};  ///< how often entries past retention are deleted
};

/// What the statement classifier is told on top of what it knows.
struct SqlConfig {
  /// Functions the application calls that have no side effects, "name" or "schema.name", so reads
  /// that call them are not treated as writes. See sql::ClassifierOptions.
  std::vector<std::string> read_only_functions;
};

struct ProxyConfig {
  ServerConfig server;
  ListenConfig listen;
  LimitsConfig limits;
  LogConfig log;
  MirrorConfig mirror;
  ConflictsConfig conflicts;
  LedgerConfig ledger;
  SqlConfig sql;
  BackendConfig onprem{.name = "onprem"};
  BackendConfig cloud{.name = "cloud"};
  std::string primary = "onprem";  ///< "onprem" or "cloud"
  double read_percent = 0.0;
  std::vector<UserConfig> users;

  [[nodiscard]] const BackendConfig& primary_backend() const noexcept;
  [[nodiscard]] const BackendConfig& mirror_backend() const noexcept;
  /// The user called `name`, or nullptr.
  [[nodiscard]] const UserConfig* find_user(std::string_view name) const noexcept;
};

/// A configuration problem, located precisely enough to fix it without guessing.
struct ConfigError {
  std::string source;   ///< file name or "<string>"
  std::string key;      ///< dotted key path, e.g. "backends.cloud.port" or "users[0].name" (entries
                        ///< counted from 0); empty for syntax errors
  std::size_t line = 0; ///< 1-based; 0 when unknown
  std::size_t column = 0;
  std::string message;

  /// "pgdual.toml:12:8: backends.cloud.port: must be 1..65535, got 0"
  [[nodiscard]] std::string to_string() const;
};

/// Parses and validates TOML text. `source_name` appears in error messages. Absent settings keep
/// the defaults above; passwords and the rows-digest key are resolved, so `password_env`,
/// `password_file` and `rows_digest_key_file` are read here.
/// Never throws. Errors, each as a ConfigError with the key and position where they apply:
/// - TOML syntax error (toml++'s description, no key);
/// - unknown key, or a value of the wrong type;
/// - missing [backends.onprem], [backends.cloud], [[users]] or a user's name;
/// - value out of range or not one of its choices; listen.address not a loopback IP literal;
/// - both backends at the same host:port; duplicate user names;
/// - a user without exactly one of password / password_env / password_file; an empty string where
///   one is required;
/// - mirror.reconnect_max_ms below mirror.reconnect_min_ms;
/// - password_env naming an unset or empty variable; password_file unreadable, empty, or
///   accessible by group or others; conflicts.rows_digest_key_file unreadable, accessible by group
///   or others, or shorter than 32 bytes.
[[nodiscard]] Expected<ProxyConfig, ConfigError> parse_config(std::string_view toml_text,
                                                              std::string_view source_name);

/// Reads `file` and parses it as parse_config does, with the path as source name.
/// Errors: those of parse_config, and an unreadable file ("cannot read the file: <reason>").
[[nodiscard]] Expected<ProxyConfig, ConfigError> load_config(const std::filesystem::path& file);

}  // namespace pgdual::config
