#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/expected.h"

namespace pgdual::config {

/// Whether, and how strictly, pgdual talks TLS to a backend: libpq's sslmode without its
/// opportunistic modes (allow, prefer), which give way to plain text when the server refuses.
enum class SslMode {
  disable,      ///< plain text
  require,      ///< TLS, without checking the server's certificate
  verify_ca,    ///< TLS, the certificate chaining to a root in sslrootcert
  verify_full,  ///< as verify_ca, and the certificate naming the host pgdual connects to
};

/// One PostgreSQL server pgdual connects to. The two are named "onprem" and "cloud".
struct BackendConfig {
  std::string name;
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::chrono::milliseconds connect_timeout{5000};  ///< bounds the connection and its TLS handshake
  SslMode sslmode{SslMode::disable};
  /// PEM root certificates the server's certificate must chain to; set with verify_ca and
  /// verify_full only, empty otherwise.
  std::filesystem::path sslrootcert{};
  std::string sslrootcert_pem{};  ///< sslrootcert's bytes as read at load; empty when not set
  /// Whether the TLS handshake names `host` to the server (Server Name Indication), as libpq's
  /// sslsni; never for an IP address, which SNI cannot carry.
  bool sslsni{true};

  friend bool operator==(const BackendConfig&, const BackendConfig&) = default;
};

/// A login pgdual accepts from clients, and the credentials it logs in to the backends with. A
/// validated user has a password or a scram_verifier, never both, and a secret for each backend:
/// password_for() is never empty.
struct UserConfig {
  std::string name;
  /// The resolved secret (from `password`, `password_env` or `password_file`): what pgdual logs in to
  /// a backend with unless that backend has an override, and what md5 and SCRAM clients are checked
  /// against. Empty when the user has a scram_verifier instead.
  std::string password;
  /// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", as pg_authid holds it, with its
  /// syntax checked: SCRAM clients are checked against it. Empty when the user has a password.
  std::string scram_verifier{};
  std::optional<std::string> onprem_password{};  ///< [users.backends.onprem], resolved as `password` is
  std::optional<std::string> cloud_password{};   ///< [users.backends.cloud], resolved as `password` is

  /// The secret to log in to `backend` with: its override, else `password`.
  [[nodiscard]] const std::string& password_for(const BackendConfig& backend) const noexcept {
    const auto& override_secret = backend.name == "cloud" ? cloud_password : onprem_password;
    return override_secret ? *override_secret : password;
  }

  friend bool operator==(const UserConfig&, const UserConfig&) = default;
};

struct ListenConfig {
  std::string address = "127.0.0.1";
  std::uint16_t port = 6432;

  friend bool operator==(const ListenConfig&, const ListenConfig&) = default;
};

/// Whether clients may, or must, talk TLS to pgdual (they ask with an SSLRequest).
enum class TlsMode {
  disable,  ///< every SSLRequest is answered 'N': clients talk in plain text
  allow,    ///< clients choose: TLS for those that send an SSLRequest, plain text for the others
  require,  ///< clients that do not switch to TLS are refused
};

/// The oldest TLS version pgdual accepts from clients.
enum class TlsVersion { v1_2, v1_3 };

/// Client-facing TLS. With mode allow or require the certificate and key files are read, and their
/// contents checked, when the configuration is loaded; with disable they are not read.
struct TlsConfig {
  TlsMode mode = TlsMode::disable;
  std::filesystem::path cert_file;  ///< PEM: the certificate, then any intermediates; empty when not set
  std::filesystem::path key_file;   ///< PEM, unencrypted, private to its owner; empty when not set
  TlsVersion min_version = TlsVersion::v1_2;
  std::string cert_pem;  ///< cert_file's bytes as read at load; empty with mode disable
  std::string key_pem;   ///< key_file's bytes as read at load; empty with mode disable

  friend bool operator==(const TlsConfig&, const TlsConfig&) = default;
};

struct LimitsConfig {
  unsigned max_client_connections = 1000;        ///< logged-in sessions; more are refused with 53300
  /// Connections still logging in (TLS, startup, authentication); a newcomer beyond it ends the
  /// oldest of them.
  unsigned max_logins_in_progress = 1000;
  std::uint32_t max_message_bytes = 0x3fffffff;  ///< PostgreSQL's own 1 GB - 1
  std::chrono::milliseconds startup_timeout{10000};
  /// A session idle outside a transaction this long is closed (57P05); 0: never.
  std::chrono::milliseconds idle_session_timeout{0};
  /// A session idle inside a transaction this long is closed (25P03), which rolls the
  /// transaction back on both backends; 0: never.
  std::chrono::milliseconds idle_in_transaction_timeout{0};

  friend bool operator==(const LimitsConfig&, const LimitsConfig&) = default;
};

struct ServerConfig {
  unsigned threads = 0;  ///< 0: one per core
  std::chrono::milliseconds shutdown_grace{10000};

  friend bool operator==(const ServerConfig&, const ServerConfig&) = default;
};

enum class LogFormat { text, json };

struct LogConfig {
  std::string level = "info";  ///< trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::text;

  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

/// How the mirror learns the writes (docs/wal-mirror.md, docs/dual-write.md).
enum class MirrorMode {
  wal,        ///< the row images the primary committed, read from its WAL through a logical slot
  statement,  ///< the client's statements, run again on the mirror
};

/// What wal mode does with a write the WAL does not carry (docs/wal-mirror.md, "What WAL does not
/// carry"). Statement mode runs such writes on both servers and needs no choice.
enum class UncarriedWrites {
  /// The client gets an error (SQLSTATE 0A000) naming the setting; nothing of the unit is run.
  refuse,
  /// Run on the primary only, and recorded as a conflict for an operator to repair the mirror.
  record,
};

/// How the mirror learns the writes, how pgdual waits for it and reconnects to it.
struct MirrorConfig {
  MirrorMode mode = MirrorMode::wal;
  /// How long a client may be held waiting for the mirror's answer once the primary has answered.
  /// Past it the client gets the primary's answer and the unit becomes a mirror_timeout conflict.
  std::chrono::milliseconds timeout{5000};
  /// The first wait before reconnecting to a lost mirror; later waits grow up to reconnect_max.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{30000};  ///< at least reconnect_min
  /// The [[users]] name pgdual logs in as on the primary for the slot, the publication and the
  /// replication connection. Always a configured user once loaded: the first one when the file
  /// names none.
  std::string replication_user;
  /// The [[users]] name of the mirror's apply connection, which sets session_replication_role.
  /// Always a configured user once loaded: replication_user when the file names none.
  std::string apply_user;
  /// WAL the slot may hold back on the primary before pgdual gives the slot up, so that a mirror
  /// far behind cannot fill the primary's disk.
  std::uint64_t max_lag_bytes = 17'179'869'184;  // 16 GiB
  std::chrono::milliseconds sequence_sync{1000};  ///< in wal mode, how often sequences are copied to the mirror
  /// In wal mode with several pgdual instances (docs/deployment.md): how long the instance holding a
  /// database's apply lease may stay silent before another one ends its connections and applies.
  std::chrono::milliseconds lease_timeout{5000};
  UncarriedWrites large_objects = UncarriedWrites::refuse;    ///< in wal mode, a write of large objects
  UncarriedWrites unlogged_tables = UncarriedWrites::refuse;  ///< in wal mode, a statement making an unlogged table

  friend bool operator==(const MirrorConfig&, const MirrorConfig&) = default;
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

  friend bool operator==(const ConflictsConfig&, const ConflictsConfig&) = default;
};

/// The ledger table on the backends that records each write unit's idempotency key.
struct LedgerConfig {
  std::chrono::hours retention{168};  ///< how long a key stays; an older unit can no longer be looked up
  std::chrono::milliseconds prune_interval{600'000};  ///< how often entries past retention are deleted

  friend bool operator==(const LedgerConfig&, const LedgerConfig&) = default;
};

/// What the statement classifier is told on top of what it knows.
struct SqlConfig {
  /// Functions the application calls that have no side effects, "name" or "schema.name", so reads
  /// that call them are not treated as writes. See sql::ClassifierOptions.
  std::vector<std::string> read_only_functions;

  friend bool operator==(const SqlConfig&, const SqlConfig&) = default;
};

/// An IP network, with IPv4 held IPv4-mapped (::ffff:a.b.c.d) so that one comparison serves both
/// families and an IPv4 network also covers clients that arrive over IPv6 with a mapped address.
struct IpNetwork {
  std::array<std::uint8_t, 16> address{};  ///< network byte order; the bits past the prefix are zero
  unsigned prefix_length = 128;            ///< of the 128-bit form: an IPv4 /16 is 96 + 16 = 112
  std::string text;                        ///< as written in the configuration, for display

  friend bool operator==(const IpNetwork&, const IpNetwork&) = default;
};

/// Parses "10.1.0.0/16", "fd00::/8", or a bare address, which stands for /32 or /128.
/// Returns nullopt when `text` is not of that form, the prefix is out of range for the family, or
/// the address has bits set past the prefix ("10.1.2.3/16"), which is almost always a typo.
[[nodiscard]] std::optional<IpNetwork> parse_ip_network(std::string_view text);

/// How a client proves who it is, once an [[hba]] rule has matched it.
enum class AuthMethod {
  scram_sha_256,  ///< SCRAM-SHA-256 (and -PLUS over TLS) against the password or scram_verifier
  md5,            ///< PostgreSQL's md5 challenge: needs the user's password, not a verifier
  trust,          ///< no proof asked
  reject,         ///< refused
};

/// Which client connections an [[hba]] rule matches, by transport.
enum class HbaConnection {
  any,    ///< TLS or plain text
  tls,    ///< only connections that switched to TLS
  plain,  ///< only connections that did not
};

/// A client authentication rule, like a pg_hba.conf "host" line: a client matches when its user,
/// database, address and transport all match. Rules are tried in order; the first match decides,
/// and a client no rule matches is refused.
struct HbaRule {
  std::vector<std::string> users;      ///< [[users]] names; "all" matches every user
  std::vector<std::string> databases;  ///< database names; "all" matches every database
  std::optional<IpNetwork> address;    ///< nullopt ("all"): every client address
  HbaConnection connection = HbaConnection::any;
  AuthMethod method = AuthMethod::scram_sha_256;

  friend bool operator==(const HbaRule&, const HbaRule&) = default;
};

/// The rules in force when the file has no [[hba]] entry: SCRAM-SHA-256 for every user and
/// database, from loopback addresses only (127.0.0.0/8 and ::1/128), over TLS or not.
[[nodiscard]] std::vector<HbaRule> default_hba_rules();

/// How long one steering decision holds (ReadSteering).
enum class ReadStickiness {
  statement,    ///< each eligible read is decided on its own
  transaction,  ///< one decision per transaction; an autocommit read is its own transaction
  session,      ///< one decision for the session's life, from a hash of its id
};

/// A read_percent for the sessions it matches, in place of routing.read_percent. Every key that is
/// set must match; a rule sets at least one.
struct ReadRule {
  std::optional<std::string> user;
  std::optional<std::string> database;
  std::optional<std::string> application_name;  ///< "" matches sessions that set none
  std::optional<IpNetwork> client_network;
  double read_percent = 0.0;

  friend bool operator==(const ReadRule&, const ReadRule&) = default;
};

/// Shadow reads (docs/read-ramp.md): a sample of the eligible reads the primary answers is run on
/// the mirror too, off the client's path, and the two answers are compared.
struct RoutingConfig {
  /// The percentage (0..100, fractions allowed) of the eligible reads the primary answers that are
  /// also run on the mirror. Live: SET shadow_percent and a reload change it (ReadSteering).
  double shadow_percent = 0.0;
  /// At most this many shadow reads run on the mirror at once, process-wide; a read sampled beyond
  /// that is not shadowed. 1..10000.
  std::uint32_t shadow_max_in_flight = 16;
  /// How long a shadow read may run on the mirror once the primary has answered the client; past
  /// it pgdual abandons the read (drops that mirror connection, which cancels it). 1..600000 ms.
  std::chrono::milliseconds shadow_timeout{2000};

  friend bool operator==(const RoutingConfig&, const RoutingConfig&) = default;
};

/// When the read brake (proxy/route/read_brake.h) sets read steering to 0: judged over a sliding window
/// of the mirror's reads.
struct BrakeConfig {
  double error_rate_percent = 2.0;               ///< trips when the error rate is above it; 0 < x <= 100
  /// Trips when the p99 of the mirror's read latency over the primary's for the same statements is
  /// above it; 0 turns the check off, else 1.5..1000.
  double latency_ratio = 10.0;
  /// Trips when the mirror's p99 read latency is above it; 0 (the default) turns the check off. An
  /// absolute ceiling judges the statements as much as the mirror: latency_ratio judges the mirror.
  std::chrono::milliseconds p99_latency{0};
  std::chrono::seconds window{60};
  std::uint64_t min_reads = 100;                 ///< a window with fewer reads is not judged

  friend bool operator==(const BrakeConfig&, const BrakeConfig&) = default;
};

/// The admin console: the virtual database "pgdual" on the client port.
struct AdminConfig {
  std::vector<std::string> users;  ///< names of [[users]] entries allowed in; empty: nobody

  friend bool operator==(const AdminConfig&, const AdminConfig&) = default;
};

/// What auth.query runs by default: the role's verifier if it may log in now, as PostgreSQL itself
/// decides. Reading pg_authid takes a superuser (docs/auth-lookup.md shows a narrower function).
inline constexpr const char* kDefaultAuthQuery =
    "SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin "
    "AND (rolvaliduntil IS NULL OR rolvaliduntil > now())";

/// [auth]: logins for roles the file does not list. With lookup_user set, a client whose user has
/// no [[users]] entry is checked with SCRAM-SHA-256 against the verifier auth.query returns from
/// the primary, and pgdual logs in to both backends with the ClientKey the client proved.
struct AuthLookupConfig {
  std::string lookup_user;  ///< a [[users]] entry pgdual runs the query as; empty: no lookups
  std::string query = kDefaultAuthQuery;  ///< $1 is the role name; the second column the verifier
  std::string lookup_database = "postgres";  ///< where on the primary the query runs

  [[nodiscard]] bool enabled() const noexcept { return !lookup_user.empty(); }
  friend bool operator==(const AuthLookupConfig&, const AuthLookupConfig&) = default;
};

/// [cutover]: the rollback pgdual runs by itself after SWAP ROLES (docs/cutover.md, "Automatic
/// rollback"): for `watch` after a swap, a new primary whose answers fail more often than
/// rollback_error_rate_percent (the client's own errors left out, as the brake does) is swapped
/// back: pause, drain, swap, resume.
struct CutoverConfig {
  bool auto_rollback = false;  ///< off unless configured
  std::chrono::seconds watch{900};
  double rollback_error_rate_percent = 2.0;  ///< 0 < x <= 100
  std::uint64_t rollback_min_answers = 100;  ///< fewer answers since the swap are not judged

  friend bool operator==(const CutoverConfig&, const CutoverConfig&) = default;
};

/// The HTTP endpoint serving /metrics and /health.
struct MetricsConfig {
  std::string address = "127.0.0.1";  ///< an IP literal
  std::uint16_t port = 0;             ///< 0: no endpoint
  /// /health says "lagging" while a database's WAL mirror is further behind than this.
  std::chrono::seconds health_lag{30};

  friend bool operator==(const MetricsConfig&, const MetricsConfig&) = default;
};

struct ProxyConfig {
  ServerConfig server;
  ListenConfig listen;
  TlsConfig tls;
  LimitsConfig limits;
  LogConfig log;
  MirrorConfig mirror;
  ConflictsConfig conflicts;
  LedgerConfig ledger;
  SqlConfig sql;
  BackendConfig onprem{.name = "onprem"};
  BackendConfig cloud{.name = "cloud"};
  std::string primary = "onprem";  ///< "onprem" or "cloud"
  double read_percent = 0.0;       ///< of eligible reads steered to the mirror, 0..100
  ReadStickiness read_stickiness = ReadStickiness::statement;
  std::vector<ReadRule> read_rules;  ///< in file order: the first that matches a session wins
  RoutingConfig routing;             ///< the shadow reads' [routing] keys
  BrakeConfig brake;
  CutoverConfig cutover;
  AdminConfig admin;
  MetricsConfig metrics;
  std::vector<UserConfig> users;
  AuthLookupConfig auth;
  std::vector<HbaRule> hba = default_hba_rules();  ///< in file order: the first that matches a client decides

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
/// `password_file` and `rows_digest_key_file` are read here, and so are tls.cert_file and
/// tls.key_file when tls.mode is allow or require, and each backend's sslrootcert.
/// Never throws. Errors, each as a ConfigError with the key and position where they apply:
/// - TOML syntax error (toml++'s description, no key);
/// - unknown key, or a value of the wrong type;
/// - missing [backends.onprem], [backends.cloud], [[users]] or a user's name;
/// - value out of range or not one of its choices; brake.latency_ratio neither 0 nor 1.5..1000;
///   listen.address not a loopback IP literal;
/// - both backends at the same host:port; duplicate user names;
/// - a user without exactly one of password / password_env / password_file / scram_verifier; an
///   empty string where one is required; a scram_verifier not of the form
///   SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (iterations 1..2^31-1, base64 salt,
///   base64 keys of 32 bytes each); a [users.backends.<name>] table without exactly one of
///   password / password_env / password_file; a user with a scram_verifier that lacks
///   [users.backends.onprem] or [users.backends.cloud];
/// - tls.mode allow or require without tls.cert_file or tls.key_file;
/// - a backend's sslmode verify-ca or verify-full without sslrootcert, or sslrootcert with
///   another sslmode (with require, libpq would check the server against it; pgdual does not);
/// - hba = [] (no rule at all); an [[hba]] entry without users, databases, address or method, with
///   an empty list or name, naming a user that no [[users]] entry has (unless auth.lookup_user is
///   set: then a name may be a role only the servers know), with an address that is not
///   "all" or a network parse_ip_network accepts ("local" included), with connection "tls" while
///   tls.mode is disable or "plain" while it is require, or with method md5 while a user it can
///   match has a scram_verifier instead of a password;
/// - auth.lookup_user naming a user that no [[users]] entry has; auth.query without $1; auth.query
///   or auth.lookup_database set without auth.lookup_user; any of the three empty;
/// - mirror.reconnect_max_ms below mirror.reconnect_min_ms; mirror.replication_user or
///   mirror.apply_user naming a user that no [[users]] entry has;
/// - a [[routing.rules]] entry without read_percent or without any key to match on, naming a user
///   that no [[users]] entry has, or with a client_cidr parse_ip_network rejects;
/// - an admin.users name that no [[users]] entry has; metrics.address not an IP literal;
///   metrics.port equal to listen.port on an overlapping address;
/// - password_env naming an unset or empty variable; password_file unreadable, empty, or
///   accessible by group or others; conflicts.rows_digest_key_file unreadable, accessible by group
///   or others, or shorter than 32 bytes; tls.cert_file unreadable or without a PEM certificate;
///   tls.key_file unreadable, accessible by group or others, without a PEM private key, or
///   encrypted; a backend's sslrootcert unreadable or without a PEM certificate.
[[nodiscard]] Expected<ProxyConfig, ConfigError> parse_config(std::string_view toml_text,
                                                              std::string_view source_name);

/// Reads `file` and parses it as parse_config does, with the path as source name.
/// Errors: those of parse_config, and an unreadable file ("cannot read the file: <reason>").
[[nodiscard]] Expected<ProxyConfig, ConfigError> load_config(const std::filesystem::path& file);

}  // namespace pgdual::config
