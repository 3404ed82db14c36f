#include <stdlib.h>  // setenv, unsetenv, mkstemp: POSIX
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "config/proxy_config.h"

using pgdual::config::AuthMethod;
using pgdual::config::ConfigError;
using pgdual::config::ConflictSync;
using pgdual::config::HbaConnection;
using pgdual::config::HbaRule;
using pgdual::config::LogFormat;
using pgdual::config::MirrorMode;
using pgdual::config::parse_config;
using pgdual::config::parse_ip_network;
using pgdual::config::ProxyConfig;
using pgdual::config::ReadStickiness;
using pgdual::config::SslMode;
using pgdual::config::TlsMode;
using pgdual::config::TlsVersion;
using pgdual::config::UncarriedWrites;

namespace {

constexpr std::string_view kBackends =
    "[backends.onprem]\nhost = \"10.0.0.1\"\n[backends.cloud]\nhost = \"10.0.0.2\"\n";
constexpr std::string_view kUser = "[[users]]\nname = \"app\"\npassword = \"secret\"\n";

std::string toml(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (const auto part : parts) text.append(part);
  return text;
}

// The error parse_config reports, or one whose fields match no expectation if it accepted the text.
ConfigError error_for(std::string_view text) {
  auto result = parse_config(text, "test.toml");
  if (!result) return result.error();
  return ConfigError{.source = "test.toml", .key = "(accepted)", .line = 0, .column = 0, .message = "(accepted)"};
}

struct RejectRow {
  std::string text;
  std::string_view key;
  std::size_t line;
  std::size_t column;
  std::string_view message;
};

void check_rejections(const std::vector<RejectRow>& rows) {
  for (const auto& row : rows) {
    INFO(row.text);
    const auto error = error_for(row.text);
    CHECK(error.source == "test.toml");
    CHECK(error.key == row.key);
    CHECK(error.line == row.line);
    CHECK(error.column == row.column);
    CHECK(error.message == row.message);
  }
}

void check_accepted(std::initializer_list<std::string> texts) {
  for (const auto& text : texts) {
    INFO(text);
    const auto config = parse_config(text, "test.toml");
    INFO((config ? std::string("accepted") : config.error().to_string()));
    CHECK(config.has_value());
  }
}

void check_has_default_settings(const ProxyConfig& config) {
  const ProxyConfig defaults;
  CHECK(config.server.threads == defaults.server.threads);
  CHECK(config.server.shutdown_grace == defaults.server.shutdown_grace);
  CHECK(config.listen.address == defaults.listen.address);
  CHECK(config.listen.port == defaults.listen.port);
  CHECK(config.limits.max_client_connections == defaults.limits.max_client_connections);
  CHECK(config.limits.max_logins_in_progress == defaults.limits.max_logins_in_progress);
  CHECK(config.limits.max_message_bytes == defaults.limits.max_message_bytes);
  CHECK(config.limits.startup_timeout == defaults.limits.startup_timeout);
  CHECK(config.limits.idle_session_timeout == defaults.limits.idle_session_timeout);
  CHECK(config.limits.idle_in_transaction_timeout == defaults.limits.idle_in_transaction_timeout);
  CHECK(config.log.level == defaults.log.level);
  CHECK(config.log.format == defaults.log.format);
  CHECK(config.primary == defaults.primary);
  CHECK(config.read_percent == defaults.read_percent);
  CHECK(config.onprem.port == defaults.onprem.port);
  CHECK(config.onprem.connect_timeout == defaults.onprem.connect_timeout);
  CHECK(config.cloud.port == defaults.cloud.port);
  CHECK(config.cloud.connect_timeout == defaults.cloud.connect_timeout);
  CHECK(config.mirror.timeout == defaults.mirror.timeout);
  CHECK(config.mirror.reconnect_min == defaults.mirror.reconnect_min);
  CHECK(config.mirror.reconnect_max == defaults.mirror.reconnect_max);
  CHECK(config.mirror.mode == defaults.mirror.mode);
  CHECK(config.mirror.replication_user == config.users.front().name);
  CHECK(config.mirror.apply_user == config.mirror.replication_user);
  CHECK(config.mirror.max_lag_bytes == defaults.mirror.max_lag_bytes);
  CHECK(config.mirror.sequence_sync == defaults.mirror.sequence_sync);
  CHECK(config.conflicts.log_path == defaults.conflicts.log_path);
  CHECK(config.conflicts.sync == defaults.conflicts.sync);
  CHECK(config.conflicts.group_commit == defaults.conflicts.group_commit);
  CHECK(config.conflicts.rotate_bytes == defaults.conflicts.rotate_bytes);
  CHECK(config.conflicts.keep_rotated == defaults.conflicts.keep_rotated);
  CHECK(config.conflicts.rows_digest_key == defaults.conflicts.rows_digest_key);
  CHECK(config.ledger.retention == defaults.ledger.retention);
  CHECK(config.ledger.prune_interval == defaults.ledger.prune_interval);
  CHECK(config.sql.read_only_functions == defaults.sql.read_only_functions);
  CHECK(config.read_stickiness == defaults.read_stickiness);
  CHECK(config.read_rules.empty());
  CHECK(config.routing == defaults.routing);
  CHECK(config.brake.error_rate_percent == defaults.brake.error_rate_percent);
  CHECK(config.brake.latency_ratio == defaults.brake.latency_ratio);
  CHECK(config.brake.p99_latency == defaults.brake.p99_latency);
  CHECK(config.brake.window == defaults.brake.window);
  CHECK(config.brake.min_reads == defaults.brake.min_reads);
  CHECK(config.admin.users == defaults.admin.users);
  CHECK(config.metrics.address == defaults.metrics.address);
  CHECK(config.metrics.port == defaults.metrics.port);
  CHECK(config.tls == defaults.tls);
  CHECK(config.hba == defaults.hba);
}

// A file in the temp directory, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(std::string_view content) {
    std::string pattern = (std::filesystem::temp_directory_path() / "pgdual_config_test_XXXXXX").string();
    const int fd = mkstemp(pattern.data());
    REQUIRE(fd >= 0);
    close(fd);
    path_ = pattern;
    std::ofstream(path_, std::ios::binary) << content;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { std::filesystem::remove(path_); }

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  void set_mode(std::filesystem::perms mode) const {
    std::filesystem::permissions(path_, mode, std::filesystem::perm_options::replace);
  }

 private:
  std::filesystem::path path_;
};

std::string user_with_password_file(const std::filesystem::path& file) {
  return "[[users]]\nname = \"app\"\npassword_file = \"" + file.string() + "\"\n";
}

// The key file setting on line 2, its value at column 24.
std::string with_rows_digest_key_file(const std::filesystem::path& file) {
  return toml({"[conflicts]\nrows_digest_key_file = \"", file.string(), "\"\n", kBackends, kUser});
}

constexpr std::filesystem::perms kOwnerOnly = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

}  // namespace

TEST_CASE("A configuration with only backends and a user keeps every other default", "[unit][config]") {
  const auto config = parse_config(toml({kBackends, kUser}), "test.toml");
  REQUIRE(config);
  check_has_default_settings(*config);
  CHECK(config->onprem.name == "onprem");
  CHECK(config->onprem.host == "10.0.0.1");
  CHECK(config->cloud.name == "cloud");
  CHECK(config->cloud.host == "10.0.0.2");
  REQUIRE(config->users.size() == 1);
  CHECK(config->users[0].name == "app");
  CHECK(config->users[0].password == "secret");
}

TEST_CASE("The dual-write settings default to the values pgdual.example.toml shows", "[unit][config]") {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  const auto config = parse_config(toml({kBackends, kUser}), "test.toml");
  REQUIRE(config);
  CHECK(config->mirror.timeout == milliseconds{5000});
  CHECK(config->mirror.reconnect_min == milliseconds{100});
  CHECK(config->mirror.reconnect_max == milliseconds{30000});
  CHECK(config->conflicts.log_path == "pgdual-conflicts.jsonl");
  CHECK(config->conflicts.sync == ConflictSync::group);
  CHECK(config->conflicts.group_commit == milliseconds{5});
  CHECK(config->conflicts.rotate_bytes == 104'857'600);
  CHECK(config->conflicts.keep_rotated == 10);
  CHECK(config->conflicts.rows_digest_key.empty());
  CHECK(config->ledger.retention == hours{168});
  CHECK(config->ledger.prune_interval == milliseconds{600'000});
  CHECK(config->sql.read_only_functions.empty());
}

TEST_CASE("The mirror mode is wal by default, with the first user for both WAL logins", "[unit][config]") {
  const auto config =
      parse_config(toml({kBackends, kUser, "[[users]]\nname = \"ops\"\npassword = \"other\"\n"}), "test.toml");
  REQUIRE(config);
  CHECK(config->mirror.mode == MirrorMode::wal);
  CHECK(config->mirror.replication_user == "app");
  CHECK(config->mirror.apply_user == "app");
  CHECK(config->mirror.max_lag_bytes == 17'179'869'184);
  CHECK(config->mirror.sequence_sync == std::chrono::milliseconds{1000});
  CHECK(config->mirror.large_objects == UncarriedWrites::refuse);
  CHECK(config->mirror.unlogged_tables == UncarriedWrites::refuse);
}

TEST_CASE("What wal mode does with large objects and unlogged tables is read for each on its own",
          "[unit][config]") {
  const auto record_both = parse_config(
      toml({"[mirror]\nlarge_objects = \"record\"\nunlogged_tables = \"record\"\n", kBackends, kUser}), "test.toml");
  REQUIRE(record_both);
  CHECK(record_both->mirror.large_objects == UncarriedWrites::record);
  CHECK(record_both->mirror.unlogged_tables == UncarriedWrites::record);

  const auto record_objects =
      parse_config(toml({"[mirror]\nlarge_objects = \"record\"\nunlogged_tables = \"refuse\"\n", kBackends, kUser}),
                   "test.toml");
  REQUIRE(record_objects);
  CHECK(record_objects->mirror.large_objects == UncarriedWrites::record);
  CHECK(record_objects->mirror.unlogged_tables == UncarriedWrites::refuse);

  const auto record_tables =
      parse_config(toml({"[mirror]\nunlogged_tables = \"record\"\n", kBackends, kUser}), "test.toml");
  REQUIRE(record_tables);
  CHECK(record_tables->mirror.large_objects == UncarriedWrites::refuse);
  CHECK(record_tables->mirror.unlogged_tables == UncarriedWrites::record);
}

TEST_CASE("The WAL mirror's settings are read, and apply_user follows replication_user unless set",
          "[unit][config]") {
  const std::string users = toml({kUser, "[[users]]\nname = \"replicator\"\npassword = \"r\"\n",
                                  "[[users]]\nname = \"applier\"\npassword = \"a\"\n"});
  const auto both = parse_config(toml({"[mirror]\nmode = \"wal\"\nreplication_user = \"replicator\"\n"
                                       "apply_user = \"applier\"\nmax_lag_bytes = 1073741824\n"
                                       "sequence_sync_ms = 250\n",
                                       kBackends, users}),
                                 "test.toml");
  REQUIRE(both);
  CHECK(both->mirror.mode == MirrorMode::wal);
  CHECK(both->mirror.replication_user == "replicator");
  CHECK(both->mirror.apply_user == "applier");
  CHECK(both->mirror.max_lag_bytes == 1'073'741'824);
  CHECK(both->mirror.sequence_sync == std::chrono::milliseconds{250});

  const auto replication_only =
      parse_config(toml({"[mirror]\nreplication_user = \"replicator\"\n", kBackends, users}), "test.toml");
  REQUIRE(replication_only);
  CHECK(replication_only->mirror.replication_user == "replicator");
  CHECK(replication_only->mirror.apply_user == "replicator");

  const auto apply_only = parse_config(toml({"[mirror]\napply_user = \"applier\"\n", kBackends, users}), "test.toml");
  REQUIRE(apply_only);
  CHECK(apply_only->mirror.replication_user == "app");
  CHECK(apply_only->mirror.apply_user == "applier");

  const auto statement = parse_config(toml({"[mirror]\nmode = \"statement\"\n", kBackends, kUser}), "test.toml");
  REQUIRE(statement);
  CHECK(statement->mirror.mode == MirrorMode::statement);
}

TEST_CASE("The WAL mirror's settings are checked, naming the key, the allowed values and the value given",
          "[unit][config]") {
  const auto row = [](std::string_view fragment, std::string_view key, std::size_t column,
                      std::string_view message) {
    return RejectRow{toml({"[mirror]\n", fragment, kBackends, kUser}), key, 2, column, message};
  };
  check_rejections({
      row("mode = \"logical\"\n", "mirror.mode", 8, "must be one of wal, statement; got \"logical\""),
      row("mode = \"WAL\"\n", "mirror.mode", 8, "must be one of wal, statement; got \"WAL\""),
      row("mode = \"\"\n", "mirror.mode", 8, "must be one of wal, statement; got \"\""),
      row("mode = true\n", "mirror.mode", 8, "expected a string, got boolean"),
      row("replication_user = \"nobody\"\n", "mirror.replication_user", 20,
          "no [[users]] entry is named \"nobody\""),
      row("replication_user = \"\"\n", "mirror.replication_user", 20, "no [[users]] entry is named \"\""),
      row("apply_user = \"App\"\n", "mirror.apply_user", 14, "no [[users]] entry is named \"App\""),
      row("apply_user = [\"app\"]\n", "mirror.apply_user", 14, "expected a string, got array"),
      row("max_lag_bytes = 16777215\n", "mirror.max_lag_bytes", 17,
          "must be 16777216..1125899906842624, got 16777215"),
      row("max_lag_bytes = 1125899906842625\n", "mirror.max_lag_bytes", 17,
          "must be 16777216..1125899906842624, got 1125899906842625"),
      row("max_lag_bytes = -1\n", "mirror.max_lag_bytes", 17, "must be 16777216..1125899906842624, got -1"),
      row("max_lag_bytes = 1.5e10\n", "mirror.max_lag_bytes", 17, "expected an integer, got float"),
      row("sequence_sync_ms = 9\n", "mirror.sequence_sync_ms", 20, "must be 10..3600000, got 9"),
      row("sequence_sync_ms = 3600001\n", "mirror.sequence_sync_ms", 20, "must be 10..3600000, got 3600001"),
      row("lease_timeout_ms = 999\n", "mirror.lease_timeout_ms", 20, "must be 1000..600000, got 999"),
      row("large_objects = \"skip\"\n", "mirror.large_objects", 17, "must be one of refuse, record; got \"skip\""),
      row("large_objects = \"Refuse\"\n", "mirror.large_objects", 17,
          "must be one of refuse, record; got \"Refuse\""),
      row("large_objects = false\n", "mirror.large_objects", 17, "expected a string, got boolean"),
      row("unlogged_tables = \"mirror\"\n", "mirror.unlogged_tables", 19,
          "must be one of refuse, record; got \"mirror\""),
      row("unlogged_tables = \"\"\n", "mirror.unlogged_tables", 19, "must be one of refuse, record; got \"\""),
      row("unlogged_tables = 1\n", "mirror.unlogged_tables", 19, "expected a string, got integer"),
      row("slot = \"pgdual\"\n", "mirror.slot", 1,
          "unknown key; expected one of: mode, timeout_ms, reconnect_min_ms, reconnect_max_ms, replication_user, "
          "apply_user, max_lag_bytes, sequence_sync_ms, lease_timeout_ms, large_objects, unlogged_tables"),
  });
  check_accepted({
      toml({"[mirror]\nmax_lag_bytes = 16777216\nsequence_sync_ms = 10\nlease_timeout_ms = 1000\n", kBackends, kUser}),
      toml({"[mirror]\nmax_lag_bytes = 1125899906842624\nsequence_sync_ms = 3600000\n", kBackends, kUser}),
      toml({"[mirror]\nreplication_user = \"app\"\napply_user = \"app\"\n", kBackends, kUser}),
  });
}

TEST_CASE("The read ramp settings default to the values pgdual.example.toml shows", "[unit][config]") {
  using std::chrono::milliseconds;
  const auto config = parse_config(toml({kBackends, kUser}), "test.toml");
  REQUIRE(config);
  CHECK(config->read_stickiness == ReadStickiness::statement);
  CHECK(config->read_rules.empty());
  CHECK(config->routing.shadow_percent == 0.0);
  CHECK(config->routing.shadow_max_in_flight == 16);
  CHECK(config->routing.shadow_timeout == milliseconds{2000});
  CHECK(config->brake.error_rate_percent == 2.0);
  CHECK(config->brake.latency_ratio == 10.0);
  CHECK(config->brake.p99_latency == milliseconds{0});
  CHECK(config->brake.window == std::chrono::seconds{60});
  CHECK(config->brake.min_reads == 100);
  CHECK_FALSE(config->cutover.auto_rollback);
  CHECK(config->cutover.watch == std::chrono::seconds{900});
  CHECK(config->cutover.rollback_error_rate_percent == 2.0);
  CHECK(config->cutover.rollback_min_answers == 100);
  CHECK(config->admin.users.empty());
  CHECK(config->metrics.address == "127.0.0.1");
  CHECK(config->metrics.port == 0);
  CHECK(config->metrics.health_lag == std::chrono::seconds{30});
}

TEST_CASE("Every setting is read into the configuration", "[unit][config]") {
  const auto config = parse_config(R"(
[server]
threads = 8
shutdown_grace_ms = 2500
[listen]
address = "::1"
port = 7432
[limits]
max_client_connections = 20
max_logins_in_progress = 300
max_message_bytes = 65536
startup_timeout_ms = 3000
idle_session_timeout_ms = 60000
idle_in_transaction_timeout_ms = 5000
[log]
level = "debug"
format = "json"
[routing]
primary = "cloud"
read_percent = 12.5
read_stickiness = "session"
shadow_percent = 2.5
shadow_max_in_flight = 64
shadow_timeout_ms = 750
[[routing.rules]]
user = "app"
database = "ehr"
application_name = "scheduler"
client_cidr = "10.1.0.0/16"
read_percent = 100
[[routing.rules]]
client_cidr = "fd00::/8"
read_percent = 0.5
[brake]
error_rate_percent = 0.5
latency_ratio = 2.5
p99_latency_ms = 250
window_seconds = 30
min_reads = 20
[cutover]
auto_rollback = true
watch_seconds = 600
rollback_error_rate_percent = 5.5
rollback_min_answers = 40
[admin]
users = ["reporting"]
[metrics]
address = "0.0.0.0"
port = 9187
health_lag_seconds = 120
[mirror]
timeout_ms = 750
reconnect_min_ms = 250
reconnect_max_ms = 9000
[conflicts]
log_path = "/var/lib/pgdual/conflicts.jsonl"
sync = "every_append"
group_commit_ms = 20
rotate_bytes = 0
keep_rotated = 3
[ledger]
retention_hours = 48
prune_interval_ms = 60000
[sql]
read_only_functions = ["order_total", "billing.invoice_summary"]
[backends.onprem]
host = "onprem.internal"
port = 5433
connect_timeout_ms = 1500
[backends.cloud]
host = "cloud.example.com"
port = 6543
connect_timeout_ms = 2500
[[users]]
name = "app"
password = "one"
[[users]]
name = "reporting"
password = "two"
)",
                                   "test.toml");
  REQUIRE(config);
  CHECK(config->server.threads == 8);
  CHECK(config->server.shutdown_grace == std::chrono::milliseconds{2500});
  CHECK(config->listen.address == "::1");
  CHECK(config->listen.port == 7432);
  CHECK(config->limits.max_client_connections == 20);
  CHECK(config->limits.max_logins_in_progress == 300);
  CHECK(config->limits.max_message_bytes == 65536);
  CHECK(config->limits.startup_timeout == std::chrono::milliseconds{3000});
  CHECK(config->limits.idle_session_timeout == std::chrono::milliseconds{60000});
  CHECK(config->limits.idle_in_transaction_timeout == std::chrono::milliseconds{5000});
  CHECK(config->log.level == "debug");
  CHECK(config->log.format == LogFormat::json);
  CHECK(config->primary == "cloud");
  CHECK(config->read_percent == 12.5);
  CHECK(config->onprem.host == "onprem.internal");
  CHECK(config->onprem.port == 5433);
  CHECK(config->onprem.connect_timeout == std::chrono::milliseconds{1500});
  CHECK(config->cloud.host == "cloud.example.com");
  CHECK(config->cloud.port == 6543);
  CHECK(config->cloud.connect_timeout == std::chrono::milliseconds{2500});
  CHECK(config->mirror.timeout == std::chrono::milliseconds{750});
  CHECK(config->mirror.reconnect_min == std::chrono::milliseconds{250});
  CHECK(config->mirror.reconnect_max == std::chrono::milliseconds{9000});
  CHECK(config->conflicts.log_path == "/var/lib/pgdual/conflicts.jsonl");
  CHECK(config->conflicts.sync == ConflictSync::every_append);
  CHECK(config->conflicts.group_commit == std::chrono::milliseconds{20});
  CHECK(config->conflicts.rotate_bytes == 0);
  CHECK(config->conflicts.keep_rotated == 3);
  CHECK(config->ledger.retention == std::chrono::hours{48});
  CHECK(config->ledger.prune_interval == std::chrono::milliseconds{60000});
  CHECK(config->sql.read_only_functions == std::vector<std::string>{"order_total", "billing.invoice_summary"});
  REQUIRE(config->users.size() == 2);
  CHECK(config->users[1].name == "reporting");
  CHECK(config->users[1].password == "two");
  CHECK(config->read_stickiness == ReadStickiness::session);
  REQUIRE(config->read_rules.size() == 2);
  const auto& clinic = config->read_rules[0];
  CHECK(clinic.user == "app");
  CHECK(clinic.database == "ehr");
  CHECK(clinic.application_name == "scheduler");
  CHECK(clinic.client_network == parse_ip_network("10.1.0.0/16"));
  CHECK(clinic.read_percent == 100);
  const auto& by_network = config->read_rules[1];
  CHECK_FALSE(by_network.user);
  CHECK_FALSE(by_network.database);
  CHECK_FALSE(by_network.application_name);
  CHECK(by_network.client_network == parse_ip_network("fd00::/8"));
  CHECK(by_network.read_percent == 0.5);
  CHECK(config->routing.shadow_percent == 2.5);
  CHECK(config->routing.shadow_max_in_flight == 64);
  CHECK(config->routing.shadow_timeout == std::chrono::milliseconds{750});
  CHECK(config->brake.error_rate_percent == 0.5);
  CHECK(config->cutover.auto_rollback);
  CHECK(config->cutover.watch == std::chrono::seconds{600});
  CHECK(config->cutover.rollback_error_rate_percent == 5.5);
  CHECK(config->cutover.rollback_min_answers == 40);
  CHECK(config->brake.latency_ratio == 2.5);
  CHECK(config->brake.p99_latency == std::chrono::milliseconds{250});
  CHECK(config->brake.window == std::chrono::seconds{30});
  CHECK(config->brake.min_reads == 20);
  CHECK(config->admin.users == std::vector<std::string>{"reporting"});
  CHECK(config->metrics.address == "0.0.0.0");
  CHECK(config->metrics.port == 9187);
  CHECK(config->metrics.health_lag == std::chrono::seconds{120});
}

TEST_CASE("routing.primary decides which backend is primary and which is the mirror", "[unit][config]") {
  const auto onprem_first = parse_config(toml({kBackends, kUser}), "test.toml");
  REQUIRE(onprem_first);
  CHECK(onprem_first->primary_backend().name == "onprem");
  CHECK(onprem_first->mirror_backend().name == "cloud");

  const auto cloud_first = parse_config(toml({"[routing]\nprimary = \"cloud\"\n", kBackends, kUser}), "test.toml");
  REQUIRE(cloud_first);
  CHECK(cloud_first->primary_backend().host == "10.0.0.2");
  CHECK(cloud_first->mirror_backend().host == "10.0.0.1");
}

TEST_CASE("find_user finds a user by exact name and returns null otherwise", "[unit][config]") {
  const auto config = parse_config(
      toml({kBackends, kUser, "[[users]]\nname = \"ops\"\npassword = \"other\"\n"}), "test.toml");
  REQUIRE(config);
  REQUIRE(config->find_user("ops") != nullptr);
  CHECK(config->find_user("ops")->password == "other");
  CHECK(config->find_user("app")->password == "secret");
  CHECK(config->find_user("APP") == nullptr);
  CHECK(config->find_user("") == nullptr);
}

TEST_CASE("Settings outside their allowed values are rejected with the key, the range and the position",
          "[unit][config]") {
  const auto row = [](std::string_view fragment, std::string_view key, std::size_t column,
                      std::string_view message) {
    return RejectRow{toml({fragment, kBackends, kUser}), key, 2, column, message};
  };
  check_rejections({
      row("[server]\nthreads = 257\n", "server.threads", 11, "must be 0..256, got 257"),
      row("[server]\nthreads = -1\n", "server.threads", 11, "must be 0..256, got -1"),
      row("[server]\nshutdown_grace_ms = 3600001\n", "server.shutdown_grace_ms", 21,
          "must be 0..3600000, got 3600001"),
      row("[listen]\nport = 0\n", "listen.port", 8, "must be 1..65535, got 0"),
      row("[listen]\nport = 65536\n", "listen.port", 8, "must be 1..65535, got 65536"),
      row("[limits]\nmax_client_connections = 0\n", "limits.max_client_connections", 26,
          "must be 1..100000, got 0"),
      row("[limits]\nmax_logins_in_progress = 0\n", "limits.max_logins_in_progress", 26,
          "must be 1..100000, got 0"),
      row("[limits]\nmax_logins_in_progress = 100001\n", "limits.max_logins_in_progress", 26,
          "must be 1..100000, got 100001"),
      row("[limits]\nmax_message_bytes = 1023\n", "limits.max_message_bytes", 21,
          "must be 1024..1073741823, got 1023"),
      row("[limits]\nmax_message_bytes = 1073741824\n", "limits.max_message_bytes", 21,
          "must be 1024..1073741823, got 1073741824"),
      row("[limits]\nstartup_timeout_ms = 0\n", "limits.startup_timeout_ms", 22, "must be 1..600000, got 0"),
      row("[limits]\nstartup_timeout_ms = 600001\n", "limits.startup_timeout_ms", 22,
          "must be 1..600000, got 600001"),
      row("[limits]\nidle_session_timeout_ms = -1\n", "limits.idle_session_timeout_ms", 27,
          "must be 0..2147483647, got -1"),
      row("[limits]\nidle_in_transaction_timeout_ms = 2147483648\n", "limits.idle_in_transaction_timeout_ms", 34,
          "must be 0..2147483647, got 2147483648"),
      row("[routing]\nread_percent = 100.5\n", "routing.read_percent", 16, "must be 0..100, got 100.5"),
      row("[routing]\nread_percent = -1\n", "routing.read_percent", 16, "must be 0..100, got -1"),
      row("[routing]\nread_percent = nan\n", "routing.read_percent", 16, "must be 0..100, got nan"),
      row("[routing]\nshadow_percent = 100.5\n", "routing.shadow_percent", 18, "must be 0..100, got 100.5"),
      row("[routing]\nshadow_percent = -0.5\n", "routing.shadow_percent", 18, "must be 0..100, got -0.5"),
      row("[routing]\nshadow_percent = nan\n", "routing.shadow_percent", 18, "must be 0..100, got nan"),
      row("[routing]\nshadow_percent = \"10\"\n", "routing.shadow_percent", 18, "expected a number, got string"),
      row("[routing]\nshadow_max_in_flight = 0\n", "routing.shadow_max_in_flight", 24, "must be 1..10000, got 0"),
      row("[routing]\nshadow_max_in_flight = 10001\n", "routing.shadow_max_in_flight", 24,
          "must be 1..10000, got 10001"),
      row("[routing]\nshadow_max_in_flight = 1.5\n", "routing.shadow_max_in_flight", 24,
          "expected an integer, got float"),
      row("[routing]\nshadow_timeout_ms = 0\n", "routing.shadow_timeout_ms", 21, "must be 1..600000, got 0"),
      row("[routing]\nshadow_timeout_ms = 600001\n", "routing.shadow_timeout_ms", 21,
          "must be 1..600000, got 600001"),
      row("[routing]\nprimary = \"both\"\n", "routing.primary", 11, "must be one of onprem, cloud; got \"both\""),
      row("[log]\nlevel = \"verbose\"\n", "log.level", 9,
          "must be one of trace, debug, info, warn, error, critical, off; got \"verbose\""),
      row("[log]\nformat = \"xml\"\n", "log.format", 10, "must be one of text, json; got \"xml\""),
      row("[mirror]\ntimeout_ms = 0\n", "mirror.timeout_ms", 14, "must be 1..3600000, got 0"),
      row("[mirror]\ntimeout_ms = 3600001\n", "mirror.timeout_ms", 14, "must be 1..3600000, got 3600001"),
      row("[mirror]\nreconnect_min_ms = 0\n", "mirror.reconnect_min_ms", 20, "must be 1..600000, got 0"),
      row("[mirror]\nreconnect_min_ms = 600001\n", "mirror.reconnect_min_ms", 20, "must be 1..600000, got 600001"),
      row("[mirror]\nreconnect_max_ms = 0\n", "mirror.reconnect_max_ms", 20, "must be 1..3600000, got 0"),
      row("[mirror]\nreconnect_max_ms = 3600001\n", "mirror.reconnect_max_ms", 20,
          "must be 1..3600000, got 3600001"),
      row("[conflicts]\nlog_path = \"\"\n", "conflicts.log_path", 12, "must not be empty"),
      row("[conflicts]\nsync = \"always\"\n", "conflicts.sync", 8,
          "must be one of group, every_append; got \"always\""),
      row("[conflicts]\ngroup_commit_ms = 0\n", "conflicts.group_commit_ms", 19, "must be 1..1000, got 0"),
      row("[conflicts]\ngroup_commit_ms = 1001\n", "conflicts.group_commit_ms", 19, "must be 1..1000, got 1001"),
      row("[conflicts]\nrotate_bytes = 4095\n", "conflicts.rotate_bytes", 16,
          "must be 0 (never rotate) or 4096..1099511627776, got 4095"),
      row("[conflicts]\nrotate_bytes = 1099511627777\n", "conflicts.rotate_bytes", 16,
          "must be 0 (never rotate) or 4096..1099511627776, got 1099511627777"),
      row("[conflicts]\nrotate_bytes = -1\n", "conflicts.rotate_bytes", 16,
          "must be 0 (never rotate) or 4096..1099511627776, got -1"),
      row("[conflicts]\nkeep_rotated = 0\n", "conflicts.keep_rotated", 16, "must be 1..10000, got 0"),
      row("[conflicts]\nkeep_rotated = 10001\n", "conflicts.keep_rotated", 16, "must be 1..10000, got 10001"),
      row("[conflicts]\nrows_digest_key_file = \"\"\n", "conflicts.rows_digest_key_file", 24, "must not be empty"),
      row("[ledger]\nretention_hours = 0\n", "ledger.retention_hours", 19, "must be 1..87600, got 0"),
      row("[ledger]\nretention_hours = 87601\n", "ledger.retention_hours", 19, "must be 1..87600, got 87601"),
      row("[ledger]\nprune_interval_ms = 999\n", "ledger.prune_interval_ms", 21,
          "must be 1000..86400000, got 999"),
      row("[ledger]\nprune_interval_ms = 86400001\n", "ledger.prune_interval_ms", 21,
          "must be 1000..86400000, got 86400001"),
      row("[sql]\nread_only_functions = [\"\"]\n", "sql.read_only_functions[0]", 24, "must not be empty"),
      row("[routing]\nread_stickiness = \"connection\"\n", "routing.read_stickiness", 19,
          "must be one of statement, transaction, session; got \"connection\""),
      row("[brake]\nerror_rate_percent = 0\n", "brake.error_rate_percent", 22,
          "must be more than 0 and at most 100, got 0"),
      row("[brake]\nerror_rate_percent = 100.5\n", "brake.error_rate_percent", 22,
          "must be more than 0 and at most 100, got 100.5"),
      row("[brake]\nerror_rate_percent = -2\n", "brake.error_rate_percent", 22,
          "must be more than 0 and at most 100, got -2"),
      row("[brake]\nerror_rate_percent = nan\n", "brake.error_rate_percent", 22,
          "must be more than 0 and at most 100, got nan"),
      row("[brake]\nlatency_ratio = 1\n", "brake.latency_ratio", 17, "must be 0 (off) or 1.5..1000, got 1"),
      row("[brake]\nlatency_ratio = 1.49\n", "brake.latency_ratio", 17, "must be 0 (off) or 1.5..1000, got 1.49"),
      row("[brake]\nlatency_ratio = 1000.5\n", "brake.latency_ratio", 17,
          "must be 0 (off) or 1.5..1000, got 1000.5"),
      row("[brake]\nlatency_ratio = -4\n", "brake.latency_ratio", 17, "must be 0 (off) or 1.5..1000, got -4"),
      row("[brake]\nlatency_ratio = nan\n", "brake.latency_ratio", 17, "must be 0 (off) or 1.5..1000, got nan"),
      row("[brake]\nlatency_ratio = \"4x\"\n", "brake.latency_ratio", 17, "expected a number, got string"),
      row("[brake]\np99_latency_ms = -1\n", "brake.p99_latency_ms", 18, "must be 0..600000, got -1"),
      row("[brake]\np99_latency_ms = 600001\n", "brake.p99_latency_ms", 18, "must be 0..600000, got 600001"),
      row("[brake]\nwindow_seconds = 4\n", "brake.window_seconds", 18, "must be 5..3600, got 4"),
      row("[brake]\nwindow_seconds = 3601\n", "brake.window_seconds", 18, "must be 5..3600, got 3601"),
      row("[brake]\nmin_reads = 0\n", "brake.min_reads", 13, "must be 1..1000000, got 0"),
      row("[cutover]\nauto_rollback = 1\n", "cutover.auto_rollback", 17, "expected a boolean, got integer"),
      row("[cutover]\nwatch_seconds = 9\n", "cutover.watch_seconds", 17, "must be 10..86400, got 9"),
      row("[cutover]\nrollback_error_rate_percent = 0\n", "cutover.rollback_error_rate_percent", 31,
          "must be more than 0 and at most 100, got 0"),
      row("[cutover]\nrollback_min_answers = 0\n", "cutover.rollback_min_answers", 24, "must be 1..1000000, got 0"),
      row("[brake]\nmin_reads = 1000001\n", "brake.min_reads", 13, "must be 1..1000000, got 1000001"),
      row("[metrics]\nport = -1\n", "metrics.port", 8, "must be 0..65535, got -1"),
      row("[metrics]\nport = 65536\n", "metrics.port", 8, "must be 0..65535, got 65536"),
      row("[metrics]\nhealth_lag_seconds = 0\n", "metrics.health_lag_seconds", 22, "must be 1..86400, got 0"),
      row("[metrics]\naddress = \"metrics.local\"\n", "metrics.address", 11,
          "must be an IP address literal such as 127.0.0.1 or ::1, got \"metrics.local\""),
      row("[metrics]\naddress = \"\"\n", "metrics.address", 11,
          "must be an IP address literal such as 127.0.0.1 or ::1, got \"\""),
  });
}

TEST_CASE("Settings at the edges of their allowed values are accepted", "[unit][config]") {
  const auto with = [](std::string_view fragment) { return toml({fragment, kBackends, kUser}); };
  check_accepted({
      with("[server]\nthreads = 256\nshutdown_grace_ms = 0\n"),
      with("[server]\nshutdown_grace_ms = 3600000\n"),
      with("[listen]\nport = 1\n"),
      with("[listen]\nport = 65535\n"),
      with("[limits]\nmax_message_bytes = 1024\nstartup_timeout_ms = 1\n"),
      with("[limits]\nstartup_timeout_ms = 600000\n"),
      with("[limits]\nidle_session_timeout_ms = 0\nidle_in_transaction_timeout_ms = 2147483647\n"),
      with("[routing]\nread_percent = 100\n"),
      with("[routing]\nread_percent = 0.5\n"),
      with("[routing]\nshadow_percent = 0.5\nshadow_max_in_flight = 1\nshadow_timeout_ms = 1\n"),
      with("[routing]\nshadow_percent = 100\nshadow_max_in_flight = 10000\nshadow_timeout_ms = 600000\n"),
      with("[log]\nlevel = \"off\"\nformat = \"text\"\n"),
      with("[mirror]\ntimeout_ms = 1\nreconnect_min_ms = 1\nreconnect_max_ms = 1\n"),
      with("[mirror]\ntimeout_ms = 3600000\nreconnect_min_ms = 600000\nreconnect_max_ms = 3600000\n"),
      with("[conflicts]\nsync = \"every_append\"\ngroup_commit_ms = 1\nrotate_bytes = 4096\nkeep_rotated = 1\n"),
      with("[conflicts]\nsync = \"group\"\ngroup_commit_ms = 1000\nrotate_bytes = 1099511627776\n"
           "keep_rotated = 10000\n"),
      with("[ledger]\nretention_hours = 1\nprune_interval_ms = 1000\n"),
      with("[ledger]\nretention_hours = 87600\nprune_interval_ms = 86400000\n"),
      with("[sql]\nread_only_functions = []\n"),
      with("[routing]\nread_stickiness = \"statement\"\n"),
      with("[routing]\nread_stickiness = \"transaction\"\n"),
      with("[brake]\nerror_rate_percent = 0.01\np99_latency_ms = 0\nwindow_seconds = 5\nmin_reads = 1\n"),
      with("[brake]\nerror_rate_percent = 100\np99_latency_ms = 600000\nwindow_seconds = 3600\n"
           "min_reads = 1000000\n"),
      with("[brake]\nlatency_ratio = 0\n"),
      with("[brake]\nlatency_ratio = 0.0\n"),
      with("[brake]\nlatency_ratio = 1.5\n"),
      with("[brake]\nlatency_ratio = 1000\n"),
      with("[metrics]\naddress = \"::\"\nport = 65535\n"),
      with("[metrics]\naddress = \"10.0.0.5\"\nport = 1\n"),
      with("[admin]\nusers = []\n"),
  });
}

TEST_CASE("mirror.reconnect_max_ms may not be below mirror.reconnect_min_ms, set or defaulted", "[unit][config]") {
  check_rejections({
      {toml({"[mirror]\nreconnect_min_ms = 500\nreconnect_max_ms = 400\n", kBackends, kUser}),
       "mirror.reconnect_max_ms", 3, 20, "must be at least mirror.reconnect_min_ms (500), got 400"},
      {toml({"[mirror]\nreconnect_max_ms = 50\n", kBackends, kUser}), "mirror.reconnect_max_ms", 2, 20,
       "must be at least mirror.reconnect_min_ms (100), got 50"},
      {toml({"[mirror]\nreconnect_min_ms = 60000\n", kBackends, kUser}), "mirror.reconnect_max_ms", 1, 1,
       "must be at least mirror.reconnect_min_ms (60000), got 30000 (the default)"},
  });
  check_accepted({toml({"[mirror]\nreconnect_min_ms = 400\nreconnect_max_ms = 400\n", kBackends, kUser}),
                  toml({"[mirror]\nreconnect_min_ms = 30000\n", kBackends, kUser})});
}

TEST_CASE("The listen address is an IP literal, and a loopback one while clients have no TLS", "[unit][config]") {
  const auto row = [](std::string_view address, std::string_view message) {
    return RejectRow{toml({"[listen]\naddress = \"", address, "\"\n", kBackends, kUser}), "listen.address", 2, 11,
                     message};
  };
  const auto not_loopback = [](std::string_view address) {
    return toml({"must be a loopback address (127.0.0.0/8 or ::1) while tls.mode is \"disable\", got \"", address,
                 "\": sessions must not cross the network in plain text"});
  };
  check_rejections({
      row("0.0.0.0", not_loopback("0.0.0.0")),
      row("192.168.1.10", not_loopback("192.168.1.10")),
      row("::", not_loopback("::")),
      row("localhost", "must be an IP address literal such as 127.0.0.1 or ::1, got \"localhost\""),
      row("", "must be an IP address literal such as 127.0.0.1 or ::1, got \"\""),
  });
  const auto with = [](std::string_view address) {
    return toml({"[listen]\naddress = \"", address, "\"\n", kBackends, kUser});
  };
  check_accepted({with("127.0.0.1"), with("127.4.5.6"), with("::1")});
}

TEST_CASE("Both backends are required, valid and different servers", "[unit][config]") {
  const auto row = [](std::string_view backends, std::string_view key, std::size_t line, std::size_t column,
                      std::string_view message) {
    return RejectRow{toml({backends, kUser}), key, line, column, message};
  };
  check_rejections({
      row("[backends.onprem]\nhost = \"10.0.0.1\"\n[backends.cloud]\nhost = \"10.0.0.2\"\nport = 0\n",
          "backends.cloud.port", 5, 8, "must be 1..65535, got 0"),
      row("[backends.onprem]\nport = 65536\n[backends.cloud]\nhost = \"10.0.0.2\"\n", "backends.onprem.port", 2, 8,
          "must be 1..65535, got 65536"),
      row("[backends.onprem]\nhost = \"10.0.0.1\"\n[backends.cloud]\nconnect_timeout_ms = 0\n",
          "backends.cloud.connect_timeout_ms", 4, 22, "must be 1..600000, got 0"),
      row("[backends.onprem]\nhost = \"\"\n[backends.cloud]\n", "backends.onprem.host", 2, 8, "must not be empty"),
      row("[backends.onprem]\n[backends.cloud]\n", "backends.cloud", 2, 1,
          "points at the same server as backends.onprem (127.0.0.1:5432); pgdual must write to two different servers"),
      row("[backends.onprem]\nhost = \"DB.example.com\"\n[backends.cloud]\nhost = \"db.example.com\"\nport = 5432\n",
          "backends.cloud", 3, 1,
          "points at the same server as backends.onprem (DB.example.com:5432); pgdual must write to two different "
          "servers"),
      row("[backends.onprem]\nhost = \"10.0.0.1\"\n", "backends.cloud", 1, 1, "missing; add a [backends.cloud] table"),
      row("", "backends", 0, 0, "missing; add the tables [backends.onprem] and [backends.cloud]"),
  });
  check_accepted({toml({"[backends.onprem]\n[backends.cloud]\nport = 5433\n", kUser})});
}

TEST_CASE("Each user needs a unique name and exactly one password source", "[unit][config]") {
  const auto row = [](std::string_view users, std::string_view key, std::size_t line, std::size_t column,
                      std::string_view message) {
    return RejectRow{toml({users, kBackends}), key, line, column, message};
  };
  check_rejections({
      row("", "users", 0, 0, "missing; add at least one [[users]] entry"),
      row("users = []\n", "users", 1, 9, "needs at least one entry"),
      row("[[users]]\npassword = \"x\"\n", "users[0].name", 1, 1, "missing; every [[users]] entry needs a name"),
      row("[[users]]\nname = \"\"\npassword = \"x\"\n", "users[0].name", 2, 8, "must not be empty"),
      row("[[users]]\nname = \"app\"\n", "users[0]", 1, 1,
          "needs exactly one of password, password_env, password_file or scram_verifier, got none"),
      row("[[users]]\nname = \"app\"\npassword = \"x\"\npassword_env = \"Y\"\n", "users[0]", 1, 1,
          "needs exactly one of password, password_env, password_file or scram_verifier, got password and "
          "password_env"),
      row("[[users]]\nname = \"app\"\npassword = \"\"\n", "users[0].password", 3, 12, "must not be empty"),
      row("[[users]]\nname = \"app\"\npassword_env = \"\"\n", "users[0].password_env", 3, 16, "must not be empty"),
      row("[[users]]\nname = \"app\"\npassword = \"x\"\n[[users]]\nname = \"app\"\npassword = \"y\"\n",
          "users[1].name", 5, 8, "duplicate user \"app\", already defined by users[0] on line 2"),
  });
}

TEST_CASE("Unknown keys are reported with their full dotted path and position at any depth", "[unit][config]") {
  const std::string_view kUserKeys =
      "unknown key; expected one of: name, password, password_env, password_file, scram_verifier, backends";
  const std::string_view kTopLevelKeys =
      "unknown key; expected one of: server, listen, tls, limits, log, routing, mirror, conflicts, ledger, sql, "
      "brake, cutover, admin, metrics, backends, users, auth, hba";
  check_rejections({
      {toml({"lisen = 1\n", kBackends, kUser}), "lisen", 1, 1, kTopLevelKeys},
      {toml({"[lisen]\nport = 1\n", kBackends, kUser}), "lisen", 1, 2, kTopLevelKeys},
      {toml({"[conflicts]\nlogpath = \"x\"\n", kBackends, kUser}), "conflicts.logpath", 2, 1,
       "unknown key; expected one of: log_path, sync, group_commit_ms, rotate_bytes, keep_rotated, "
       "rows_digest_key_file"},
      {toml({"[listen]\nadress = \"127.0.0.1\"\n", kBackends, kUser}), "listen.adress", 2, 1,
       "unknown key; expected one of: address, port"},
      {toml({"listen = { port = 6432, adress = \"x\" }\n", kBackends, kUser}), "listen.adress", 1, 25,
       "unknown key; expected one of: address, port"},
      {toml({"[listen]\nzzz = 1\naaa = 2\n", kBackends, kUser}), "listen.zzz", 2, 1,
       "unknown key; expected one of: address, port"},
      {toml({"[backends.onprem]\nhost = \"10.0.0.1\"\nhots = \"x\"\n[backends.cloud]\nhost = \"10.0.0.2\"\n", kUser}),
       "backends.onprem.hots", 3, 1,
       "unknown key; expected one of: host, port, connect_timeout_ms, sslmode, sslrootcert, sslsni"},
      {toml({kBackends, "[backends.foo]\nhost = \"x\"\n", kUser}), "backends.foo", 5, 11,
       "unknown key; expected one of: onprem, cloud"},
      {toml({kBackends, kUser, "[[users]]\nname = \"ops\"\npasswd = \"y\"\n"}), "users[1].passwd", 10, 1, kUserKeys},
      {toml({kBackends, kUser, "extra.depth = 1\n"}), "users[0].extra", 8, 1, kUserKeys},
      {toml({kBackends, kUser, "[users.backends.azure]\npassword = \"x\"\n"}), "users[0].backends.azure", 8, 17,
       "unknown key; expected one of: onprem, cloud"},
      {toml({kBackends, kUser, "[users.backends.cloud]\npasword = \"x\"\n"}), "users[0].backends.cloud.pasword", 9,
       1, "unknown key; expected one of: password, password_env, password_file"},
      {toml({"[tls]\ncert = \"x\"\n", kBackends, kUser}), "tls.cert", 2, 1,
       "unknown key; expected one of: mode, cert_file, key_file, min_version"},
      {toml({kBackends, kUser, "[[hba]]\nuser = [\"app\"]\n"}), "hba[0].user", 9, 1,
       "unknown key; expected one of: users, databases, address, connection, method"},
  });
}

TEST_CASE("Values of the wrong type are reported with the expected and the actual type", "[unit][config]") {
  const auto row = [](std::string_view fragment, std::string_view key, std::size_t line, std::size_t column,
                      std::string_view message) {
    return RejectRow{toml({fragment, kBackends, kUser}), key, line, column, message};
  };
  check_rejections({
      row("[listen]\nport = \"6432\"\n", "listen.port", 2, 8, "expected an integer, got string"),
      row("[listen]\nport = 6432.0\n", "listen.port", 2, 8, "expected an integer, got float"),
      row("[server]\nthreads = true\n", "server.threads", 2, 11, "expected an integer, got boolean"),
      row("[routing]\nread_percent = \"5\"\n", "routing.read_percent", 2, 16, "expected a number, got string"),
      row("[log]\nlevel = 1\n", "log.level", 2, 9, "expected a string, got integer"),
      row("server = 4\n", "server", 1, 10, "expected a table, got integer"),
      row("[server]\nshutdown_grace_ms = 1979-05-27\n", "server.shutdown_grace_ms", 2, 21,
          "expected an integer, got date"),
  });
  check_rejections({
      {toml({"[backends.onprem]\nport = [5432]\n[backends.cloud]\n", kUser}), "backends.onprem.port", 2, 8,
       "expected an integer, got array"},
      {toml({"users = \"app\"\n", kBackends}), "users", 1, 9, "expected an array of tables, got string"},
      {toml({"users = [1]\n", kBackends}), "users[0]", 1, 10, "expected a table, got integer"},
  });
}

TEST_CASE("sql.read_only_functions must be an array of strings, and a bad element is named by its index",
          "[unit][config]") {
  const auto row = [](std::string_view value, std::string_view key, std::size_t column, std::string_view message) {
    return RejectRow{toml({"[sql]\nread_only_functions = ", value, "\n", kBackends, kUser}), key, 2, column, message};
  };
  check_rejections({
      row("\"order_total\"", "sql.read_only_functions", 23, "expected an array of strings, got string"),
      row("{ name = \"x\" }", "sql.read_only_functions", 23, "expected an array of strings, got table"),
      row("[\"a\", \"b\", 3]", "sql.read_only_functions[2]", 34, "expected a string, got integer"),
      row("[[\"a\"]]", "sql.read_only_functions[0]", 24, "expected a string, got array"),
      row("[\"a\", \"\"]", "sql.read_only_functions[1]", 29, "must not be empty"),
  });
}

TEST_CASE("Syntax errors carry toml++'s description and position", "[unit][config]") {
  struct Row {
    std::string text;
    std::size_t line;
  };
  const Row rows[] = {
      {"[listen]\nport = = 1\n", 2},
      {"[listen]\nport = 1\nport = 2\n", 3},
      {"[listen\n", 1},
      {"[log]\nlevel = \"\xff\"\n", 2},
  };
  for (const auto& row : rows) {
    INFO(row.text);
    const auto error = error_for(row.text);
    CHECK(error.key.empty());
    CHECK(error.line == row.line);
    CHECK(error.column > 0);
    CHECK_FALSE(error.message.empty());
    CHECK(error.to_string().starts_with("test.toml:" + std::to_string(row.line) + ":"));
  }
}

TEST_CASE("ConfigError::to_string renders SOURCE:LINE:COL: KEY: MESSAGE and leaves out empty parts",
          "[unit][config]") {
  const auto text = [](std::string source, std::string key, std::size_t line, std::size_t column) {
    return ConfigError{.source = std::move(source),
                       .key = std::move(key),
                       .line = line,
                       .column = column,
                       .message = "must be 1..65535, got 0"}
        .to_string();
  };
  CHECK(text("pgdual.toml", "backends.cloud.port", 12, 8) ==
        "pgdual.toml:12:8: backends.cloud.port: must be 1..65535, got 0");
  CHECK(text("pgdual.toml", "", 12, 8) == "pgdual.toml:12:8: must be 1..65535, got 0");
  CHECK(text("pgdual.toml", "users", 0, 0) == "pgdual.toml: users: must be 1..65535, got 0");
  CHECK(text("pgdual.toml", "users", 3, 0) == "pgdual.toml:3: users: must be 1..65535, got 0");
  CHECK(text("", "", 0, 0) == "must be 1..65535, got 0");
}

TEST_CASE("password_env takes the password from the named environment variable", "[unit][config]") {
  constexpr const char* kVariable = "PGDUAL_CONFIG_TEST_SECRET_8C1F";
  const std::string text = toml({kBackends, "[[users]]\nname = \"app\"\npassword_env = \"", kVariable, "\"\n"});

  SECTION("a set variable supplies the password") {
    REQUIRE(setenv(kVariable, "from-env", 1) == 0);
    const auto config = parse_config(text, "test.toml");
    REQUIRE(config);
    CHECK(config->users[0].password == "from-env");
  }
  SECTION("an unset variable is an error naming the key and the variable") {
    REQUIRE(unsetenv(kVariable) == 0);
    const auto error = error_for(text);
    CHECK(error.key == "users[0].password_env");
    CHECK(error.line == 7);
    CHECK(error.message == "environment variable PGDUAL_CONFIG_TEST_SECRET_8C1F is not set");
  }
  SECTION("an empty variable is an error") {
    REQUIRE(setenv(kVariable, "", 1) == 0);
    CHECK(error_for(text).message == "environment variable PGDUAL_CONFIG_TEST_SECRET_8C1F is set but empty");
  }
  unsetenv(kVariable);
}

TEST_CASE("password_file must be private to its owner and loses its trailing newline", "[unit][config]") {
  const TempFile file("from-file\n");

  SECTION("mode 0600 is accepted") {
    file.set_mode(std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const auto config = parse_config(toml({kBackends, user_with_password_file(file.path())}), "test.toml");
    REQUIRE(config);
    CHECK(config->users[0].password == "from-file");
  }
  SECTION("mode 0644 is rejected") {
    using std::filesystem::perms;
    file.set_mode(perms::owner_read | perms::owner_write | perms::group_read | perms::others_read);
    const auto error = error_for(toml({kBackends, user_with_password_file(file.path())}));
    CHECK(error.key == "users[0].password_file");
    CHECK(error.line == 7);
    CHECK(error.message ==
          "\"" + file.path().string() + "\" is accessible by group or others (mode 0644); run chmod 600 on it");
  }
  SECTION("a missing file is rejected with the reason") {
    const auto missing = file.path().string() + ".missing";
    const auto error = error_for(toml({kBackends, user_with_password_file(missing)}));
    CHECK(error.key == "users[0].password_file");
    CHECK(error.message == "cannot read \"" + missing + "\": No such file or directory");
  }
}

TEST_CASE("A password file keeps everything but one trailing line ending", "[unit][config]") {
  const std::pair<std::string_view, std::string_view> rows[] = {
      {"pw\r\n", "pw"}, {"pw", "pw"}, {"pw\n\n", "pw\n"}, {" pw \n", " pw "}};
  for (const auto& [content, password] : rows) {
    const TempFile file(content);
    const auto config = parse_config(toml({kBackends, user_with_password_file(file.path())}), "test.toml");
    REQUIRE(config);
    CHECK(config->users[0].password == password);
  }
  const TempFile empty("\n");
  CHECK(error_for(toml({kBackends, user_with_password_file(empty.path())})).message ==
        "\"" + empty.path().string() + "\" is empty");
}

TEST_CASE("conflicts.rows_digest_key_file must be private to its owner and hold at least 32 bytes",
          "[unit][config]") {
  constexpr std::string_view kKey = "8f3c1d2e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

  SECTION("a private file's bytes, without the trailing newline, become the key") {
    const TempFile file(toml({kKey, "\n"}));
    file.set_mode(kOwnerOnly);
    const auto config = parse_config(with_rows_digest_key_file(file.path()), "test.toml");
    REQUIRE(config);
    CHECK(config->conflicts.rows_digest_key == kKey);
  }
  SECTION("exactly 32 bytes of any value are enough") {
    const std::string binary_key("\0\r\n\xff" "0123456789abcdef0123456789ab", 32);
    const TempFile file(binary_key);
    file.set_mode(kOwnerOnly);
    const auto config = parse_config(with_rows_digest_key_file(file.path()), "test.toml");
    REQUIRE(config);
    CHECK(config->conflicts.rows_digest_key == binary_key);
  }
  SECTION("a missing file is rejected with the reason") {
    const TempFile file(kKey);
    const auto missing = file.path().string() + ".missing";
    check_rejections({{with_rows_digest_key_file(missing), "conflicts.rows_digest_key_file", 2, 24,
                       "cannot read \"" + missing + "\": No such file or directory"}});
  }
  SECTION("mode 0644 is rejected") {
    using std::filesystem::perms;
    const TempFile file(kKey);
    file.set_mode(kOwnerOnly | perms::group_read | perms::others_read);
    check_rejections({{with_rows_digest_key_file(file.path()), "conflicts.rows_digest_key_file", 2, 24,
                       "\"" + file.path().string() +
                           "\" is accessible by group or others (mode 0644); run chmod 600 on it"}});
  }
  SECTION("31 bytes and a newline are too few") {
    const TempFile file(toml({kKey.substr(0, 31), "\n"}));
    file.set_mode(kOwnerOnly);
    check_rejections({{with_rows_digest_key_file(file.path()), "conflicts.rows_digest_key_file", 2, 24,
                       "\"" + file.path().string() +
                           "\" holds 31 bytes; a rows digest key needs at least 32 (openssl rand -hex 32 makes one)"}});
  }
}

TEST_CASE("load_config names the file in every error, including one it cannot read", "[unit][config]") {
  const std::filesystem::path missing = std::filesystem::temp_directory_path() / "pgdual_config_test_no_such.toml";
  const auto config = pgdual::config::load_config(missing);
  REQUIRE_FALSE(config);
  CHECK(config.error().to_string() == missing.string() + ": cannot read the file: No such file or directory");

  const auto directory = pgdual::config::load_config(std::filesystem::temp_directory_path());
  REQUIRE_FALSE(directory);
  CHECK(directory.error().message == "cannot read the file: not a regular file");

  const TempFile file(toml({"[listen]\nport = 0\n", kBackends, kUser}));
  const auto invalid = pgdual::config::load_config(file.path());
  REQUIRE_FALSE(invalid);
  CHECK(invalid.error().to_string() == file.path().string() + ":2:8: listen.port: must be 1..65535, got 0");
}

TEST_CASE("The shipped example files load, and the full one shows every default", "[unit][config]") {
  REQUIRE(setenv("PGDUAL_APP_PASSWORD", "example-secret", 1) == 0);
  const std::filesystem::path dir = std::filesystem::path(PGDUAL_SOURCE_DIR) / "config";

  for (const auto* name : {"pgdual.example.toml", "pgdual.minimal.toml"}) {
    INFO(name);
    const auto config = pgdual::config::load_config(dir / name);
    if (!config) FAIL(config.error().to_string());
    check_has_default_settings(*config);
    CHECK(config->onprem.host == "127.0.0.1");
    CHECK(config->cloud.host == "db.cloud.example.com");
    REQUIRE(config->users.size() == 1);
    CHECK(config->users[0].name == "app");
    CHECK(config->users[0].password == "example-secret");
  }
  unsetenv("PGDUAL_APP_PASSWORD");
}

TEST_CASE("pgdual.example.toml shows every dual-write and client-edge setting, the optional ones commented out",
          "[unit][config]") {
  std::ifstream file(std::filesystem::path(PGDUAL_SOURCE_DIR) / "config" / "pgdual.example.toml");
  REQUIRE(file);
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  for (const auto* line : {"\n[mirror]\n", "\ntimeout_ms = 5000\n", "\nreconnect_min_ms = 100\n",
                           "\nreconnect_max_ms = 30000\n", "\n[conflicts]\n",
                           "\nlog_path = \"pgdual-conflicts.jsonl\"\n", "\nsync = \"group\"\n",
                           "\ngroup_commit_ms = 5\n", "\nrotate_bytes = 104857600\n", "\nkeep_rotated = 10\n",
                           "\n# rows_digest_key_file = ", "\n[ledger]\n", "\nretention_hours = 168\n",
                           "\nprune_interval_ms = 600000\n", "\n[sql]\n", "\nread_only_functions = []\n",
                           "\nread_stickiness = \"statement\"\n", "\nshadow_percent = 0\n",
                           "\nshadow_max_in_flight = 16\n", "\nshadow_timeout_ms = 2000\n",
                           "\n#   [[routing.rules]]\n", "\n[brake]\n", "\nerror_rate_percent = 2\n",
                           "\nlatency_ratio = 10\n", "\np99_latency_ms = 0\n", "\nwindow_seconds = 60\n",
                           "\nmin_reads = 100\n", "\n[admin]\n", "\nusers = []\n", "\n[metrics]\n",
                           "\naddress = \"127.0.0.1\"\n", "\nport = 0\n", "\n[tls]\n", "\nmode = \"disable\"\n",
                           "\ncert_file = \"\"\n", "\nkey_file = \"\"\n", "\nmin_version = \"1.2\"\n",
                           "\n#   [users.backends.onprem]\n", "\n#   [users.backends.cloud]\n", "\n[[hba]]\n",
                           "\naddress = \"127.0.0.0/8\"\n", "\naddress = \"::1/128\"\n",
                           "\nmethod = \"scram-sha-256\"\n"}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
}

TEST_CASE("pgdual.example.toml shows the mirror mode and the WAL mirror's settings, the logins commented out",
          "[unit][config]") {
  std::ifstream file(std::filesystem::path(PGDUAL_SOURCE_DIR) / "config" / "pgdual.example.toml");
  REQUIRE(file);
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  for (const auto* line : {"\nmode = \"wal\"\n", "\n# replication_user = \"app\"\n",
                           "\n# apply_user = \"app\"\n", "\nmax_lag_bytes = 17179869184\n",
                           "\nsequence_sync_ms = 1000\n", "\nlease_timeout_ms = 5000\n"}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
}

TEST_CASE("A routing rule needs read_percent and at least one key to match on", "[unit][config]") {
  const auto rules = [](std::string_view rule_body) {
    return toml({kBackends, kUser, "[[routing.rules]]\n", rule_body});
  };
  check_rejections({
      {rules("user = \"app\"\n"), "routing.rules[0].read_percent", 8, 1,
       "missing; every [[routing.rules]] entry needs a read_percent"},
      {rules("read_percent = 10\n"), "routing.rules[0]", 8, 1,
       "needs at least one of user, database, application_name or client_cidr; a rule without one would match "
       "every session"},
      {rules("user = \"app\"\nread_percent = 100.5\n"), "routing.rules[0].read_percent", 10, 16,
       "must be 0..100, got 100.5"},
      {rules("user = \"app\"\nread_percent = -0.5\n"), "routing.rules[0].read_percent", 10, 16,
       "must be 0..100, got -0.5"},
      {rules("user = \"app\"\nread_percent = \"10\"\n"), "routing.rules[0].read_percent", 10, 16,
       "expected a number, got string"},
      {rules("user = \"nobody\"\nread_percent = 10\n"), "routing.rules[0].user", 9, 8,
       "no [[users]] entry is named \"nobody\", so this rule could never match"},
      {rules("user = \"\"\nread_percent = 10\n"), "routing.rules[0].user", 9, 8, "must not be empty"},
      {rules("database = \"\"\nread_percent = 10\n"), "routing.rules[0].database", 9, 12, "must not be empty"},
      {rules("usr = \"app\"\nread_percent = 10\n"), "routing.rules[0].usr", 9, 1,
       "unknown key; expected one of: user, database, application_name, client_cidr, read_percent"},
      {toml({kBackends, kUser, "[[routing.rules]]\nuser = \"app\"\nread_percent = 1\n",
             "[[routing.rules]]\ndatabase = \"ehr\"\nread_percent = 101\n"}),
       "routing.rules[1].read_percent", 13, 16, "must be 0..100, got 101"},
      {toml({kBackends, kUser, "[routing]\nrules = [1]\n"}), "routing.rules[0]", 9, 10,
       "expected a table, got integer"},
  });
  check_accepted({
      rules("database = \"ehr\"\nread_percent = 0\n"),
      rules("application_name = \"\"\nread_percent = 100\n"),
      rules("client_cidr = \"192.0.2.7\"\nread_percent = 50\n"),
      toml({kBackends, kUser, "[routing]\nrules = []\n"}),
  });
}

TEST_CASE("A routing rule's client_cidr must be an IPv4 or IPv6 network or address", "[unit][config]") {
  const auto with = [](std::string_view cidr) {
    return toml({kBackends, kUser, "[[routing.rules]]\nclient_cidr = \"", cidr, "\"\nread_percent = 1\n"});
  };
  for (const std::string_view cidr : {"", "10.1.0.0/", "10.1.0.0/33", "10.1.2.3/16", "10.1/16", "10.1.0.0/16/8",
                                      "10.1.0.0/+8", "10.1.0.0/ 8", "clinic.local", "fd00::/129", "fd00::1/8",
                                      "::ffff:10.1.0.0/97"}) {
    const std::string message = toml({"must be an IPv4 or IPv6 network such as 10.1.0.0/16 or fd00::/8, without bits "
                                      "set past the prefix, or a single address; got \"",
                                      cidr, "\""});
    check_rejections({{with(cidr), "routing.rules[0].client_cidr", 9, 15, message}});
  }
  // A NUL inside the text must not cut it short into a valid address.
  const auto with_nul = error_for(
      toml({kBackends, kUser, "[[routing.rules]]\nclient_cidr = \"10.1.0.0\\u0000junk\"\nread_percent = 1\n"}));
  CHECK(with_nul.key == "routing.rules[0].client_cidr");
  check_accepted({with("10.1.0.0/16"), with("0.0.0.0/0"), with("10.1.2.3"), with("10.1.2.3/32"), with("fd00::/8"),
                  with("::/0"), with("fd00::1"), with("::ffff:10.1.0.0/112")});
}

TEST_CASE("parse_ip_network holds IPv4 networks IPv4-mapped, with the prefix counted in 128 bits",
          "[unit][config]") {
  const auto v4 = parse_ip_network("10.1.0.0/16");
  REQUIRE(v4);
  CHECK(v4->address == std::array<std::uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0});
  CHECK(v4->prefix_length == 112);
  CHECK(v4->text == "10.1.0.0/16");
  CHECK(parse_ip_network("10.1.2.3")->prefix_length == 128);
  CHECK(parse_ip_network("10.1.2.3") == parse_ip_network("10.1.2.3").value());
  CHECK(parse_ip_network("::ffff:10.1.0.0/112")->address == v4->address);

  const auto v6 = parse_ip_network("fd00:1::/32");
  REQUIRE(v6);
  CHECK(v6->address == std::array<std::uint8_t, 16>{0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(v6->prefix_length == 32);
  CHECK(parse_ip_network("::/0")->prefix_length == 0);
  CHECK(parse_ip_network("0.0.0.0/0")->prefix_length == 96);
  CHECK_FALSE(parse_ip_network("10.1.0.0/16 "));
}

TEST_CASE("admin.users must name [[users]] entries", "[unit][config]") {
  check_rejections({
      {toml({"[admin]\nusers = [\"app\", \"root\"]\n", kBackends, kUser}), "admin.users[1]", 2, 17,
       "no [[users]] entry is named \"root\""},
      {toml({"[admin]\nusers = [\"App\"]\n", kBackends, kUser}), "admin.users[0]", 2, 10,
       "no [[users]] entry is named \"App\""},
      {toml({"[admin]\nusers = [1]\n", kBackends, kUser}), "admin.users[0]", 2, 10, "expected a string, got integer"},
      {toml({"[admin]\nusers = \"app\"\n", kBackends, kUser}), "admin.users", 2, 9,
       "expected an array of strings, got string"},
  });
  const auto config = parse_config(toml({"[admin]\nusers = [\"app\"]\n", kBackends, kUser}), "test.toml");
  REQUIRE(config);
  CHECK(config->admin.users == std::vector<std::string>{"app"});
}

TEST_CASE("metrics.port may not be listen.port on an overlapping address", "[unit][config]") {
  const auto with = [](std::string_view listen, std::string_view metrics) {
    return toml({listen, metrics, kBackends, kUser});
  };
  check_rejections({
      {with("", "[metrics]\nport = 6432\n"), "metrics.port", 2, 8,
       "must differ from listen.port (6432): \"127.0.0.1\" and \"127.0.0.1\" overlap, so both cannot take the port"},
      {with("[listen]\nport = 7000\n", "[metrics]\naddress = \"0.0.0.0\"\nport = 7000\n"), "metrics.port", 5, 8,
       "must differ from listen.port (7000): \"0.0.0.0\" and \"127.0.0.1\" overlap, so both cannot take the port"},
      {with("[listen]\naddress = \"::1\"\n", "[metrics]\naddress = \"::\"\nport = 6432\n"), "metrics.port", 5, 8,
       "must differ from listen.port (6432): \"::\" and \"::1\" overlap, so both cannot take the port"},
      {with("", "[metrics]\naddress = \"::ffff:127.0.0.1\"\nport = 6432\n"), "metrics.port", 3, 8,
       "must differ from listen.port (6432): \"::ffff:127.0.0.1\" and \"127.0.0.1\" overlap, so both cannot take "
       "the port"},
  });
  check_accepted({
      with("", "[metrics]\nport = 6433\n"),
      with("", "[metrics]\naddress = \"127.0.0.2\"\nport = 6432\n"),
      with("[listen]\nport = 9000\n", "[metrics]\nport = 6432\n"),
      with("", "[metrics]\nport = 0\n"),
  });
}

namespace {

// A verifier PostgreSQL would store for the password "secret", salt 00..0f, 4096 iterations.
constexpr std::string_view kVerifier =
    "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$THoPhoTAuqyoQsK4dUHncUzgfD8fdmhsgKZhWVqNP5U=:"
    "7YiHMMi2OcXGRogub03Ek06JRZ9bkhTOdCzHa5iPLiQ=";

// Seven lines: a second user, "ops", who has a verifier and a password for each backend.
std::string scram_user() {
  return toml({"[[users]]\nname = \"ops\"\nscram_verifier = \"", kVerifier,
               "\"\n[users.backends.onprem]\npassword = \"to-onprem\"\n[users.backends.cloud]\npassword = "
               "\"to-cloud\"\n"});
}

constexpr std::string_view kPemCertificate =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
constexpr std::string_view kPemKey = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";

// [tls] on lines 1 to 4: cert_file's value at 3:13, key_file's at 4:12.
std::string with_tls(std::string_view mode, const std::filesystem::path& cert, const std::filesystem::path& key) {
  return toml({"[tls]\nmode = \"", mode, "\"\ncert_file = \"", cert.string(), "\"\nkey_file = \"", key.string(), "\"\n",
               kBackends, kUser});
}

}  // namespace

TEST_CASE("Without [[hba]] every user may log in by SCRAM from loopback addresses only", "[unit][config]") {
  const auto config = parse_config(toml({kBackends, kUser}), "test.toml");
  REQUIRE(config);
  REQUIRE(config->hba.size() == 2);
  for (const auto& rule : config->hba) {
    CHECK(rule.users == std::vector<std::string>{"all"});
    CHECK(rule.databases == std::vector<std::string>{"all"});
    CHECK(rule.connection == HbaConnection::any);
    CHECK(rule.method == AuthMethod::scram_sha_256);
  }
  CHECK(config->hba[0].address == parse_ip_network("127.0.0.0/8"));
  CHECK(config->hba[1].address == parse_ip_network("::1/128"));
  CHECK(config->hba == pgdual::config::default_hba_rules());
}

TEST_CASE("Client TLS is off by default, with TLS 1.2 as the minimum once on", "[unit][config]") {
  const auto config = parse_config(toml({kBackends, kUser}), "test.toml");
  REQUIRE(config);
  CHECK(config->tls.mode == TlsMode::disable);
  CHECK(config->tls.min_version == TlsVersion::v1_2);
  CHECK(config->tls.cert_file.empty());
  CHECK(config->tls.key_file.empty());
  CHECK(config->tls.cert_pem.empty());
  CHECK(config->tls.key_pem.empty());
}

TEST_CASE("[[hba]] rules are read in file order with every key, and replace the default rules", "[unit][config]") {
  const TempFile cert(kPemCertificate);
  const TempFile key(kPemKey);
  const auto config = parse_config(toml({"[tls]\nmode = \"allow\"\ncert_file = \"", cert.path().string(),
                                         "\"\nkey_file = \"", key.path().string(), "\"\n", kBackends, kUser,
                                         scram_user(), R"(
[[hba]]
users = ["ops"]
databases = ["all"]
address = "all"
method = "reject"
[[hba]]
users = ["app", "ops"]
databases = ["ehr", "pgdual"]
address = "10.1.0.0/16"
connection = "tls"
method = "scram-sha-256"
[[hba]]
users = ["app"]
databases = ["all"]
address = "fd00::/8"
connection = "plain"
method = "md5"
[[hba]]
users = ["all"]
databases = ["all"]
address = "::1"
method = "trust"
)"}),
                                   "test.toml");
  if (!config) FAIL(config.error().to_string());
  REQUIRE(config->hba.size() == 4);
  CHECK(config->hba[0] == HbaRule{.users = {"ops"},
                                  .databases = {"all"},
                                  .address = std::nullopt,
                                  .connection = HbaConnection::any,
                                  .method = AuthMethod::reject});
  CHECK(config->hba[1] == HbaRule{.users = {"app", "ops"},
                                  .databases = {"ehr", "pgdual"},
                                  .address = parse_ip_network("10.1.0.0/16"),
                                  .connection = HbaConnection::tls,
                                  .method = AuthMethod::scram_sha_256});
  CHECK(config->hba[2] == HbaRule{.users = {"app"},
                                  .databases = {"all"},
                                  .address = parse_ip_network("fd00::/8"),
                                  .connection = HbaConnection::plain,
                                  .method = AuthMethod::md5});
  CHECK(config->hba[3] == HbaRule{.users = {"all"},
                                  .databases = {"all"},
                                  .address = parse_ip_network("::1"),
                                  .connection = HbaConnection::any,
                                  .method = AuthMethod::trust});
}

TEST_CASE("A user may have a scram_verifier instead of a password, and a password for each backend",
          "[unit][config]") {
  const auto config = parse_config(toml({kBackends, kUser, scram_user()}), "test.toml");
  REQUIRE(config);
  REQUIRE(config->users.size() == 2);
  const auto& app = config->users[0];
  CHECK(app.scram_verifier.empty());
  CHECK_FALSE(app.onprem_password);
  CHECK_FALSE(app.cloud_password);
  CHECK(app.password_for(config->onprem) == "secret");
  CHECK(app.password_for(config->cloud) == "secret");
  const auto& ops = config->users[1];
  CHECK(ops.password.empty());
  CHECK(ops.scram_verifier == kVerifier);
  CHECK(ops.onprem_password == "to-onprem");
  CHECK(ops.cloud_password == "to-cloud");
  CHECK(ops.password_for(config->onprem) == "to-onprem");
  CHECK(ops.password_for(config->cloud) == "to-cloud");
}

TEST_CASE("A backend password overrides the user's password towards that backend only, from any source",
          "[unit][config]") {
  constexpr const char* kVariable = "PGDUAL_CONFIG_TEST_ONPREM_5D2A";
  REQUIRE(setenv(kVariable, "onprem-from-env", 1) == 0);
  const TempFile cloud_file("cloud-from-file\n");
  const auto config = parse_config(
      toml({kBackends, kUser, "[users.backends.onprem]\npassword_env = \"", kVariable,
            "\"\n[[users]]\nname = \"ops\"\npassword = \"ops-secret\"\n[users.backends.cloud]\npassword_file = \"",
            cloud_file.path().string(), "\"\n"}),
      "test.toml");
  unsetenv(kVariable);
  REQUIRE(config);
  const auto& app = config->users[0];
  CHECK(app.password == "secret");
  CHECK(app.password_for(config->onprem) == "onprem-from-env");
  CHECK(app.password_for(config->cloud) == "secret");
  const auto& ops = config->users[1];
  CHECK(ops.password_for(config->onprem) == "ops-secret");
  CHECK(ops.password_for(config->cloud) == "cloud-from-file");
}

TEST_CASE("A user's scram_verifier and backend passwords are checked", "[unit][config]") {
  const auto row = [](std::string_view users, std::string_view key, std::size_t line, std::size_t column,
                      std::string_view message) {
    return RejectRow{toml({kBackends, users}), key, line, column, message};
  };
  const std::string verifier_user = toml({"[[users]]\nname = \"ops\"\nscram_verifier = \"", kVerifier, "\"\n"});
  check_rejections({
      row(verifier_user, "users[0].backends.onprem", 5, 1,
          "missing; a user with a scram_verifier needs a password for each backend: add [users.backends.onprem] "
          "with one of password, password_env or password_file"),
      row(toml({verifier_user, "[users.backends.onprem]\npassword = \"x\"\n"}), "users[0].backends.cloud", 5, 1,
          "missing; a user with a scram_verifier needs a password for each backend: add [users.backends.cloud] "
          "with one of password, password_env or password_file"),
      row(toml({verifier_user, "password = \"x\"\n"}), "users[0]", 5, 1,
          "needs exactly one of password, password_env, password_file or scram_verifier, got password and "
          "scram_verifier"),
      row("[[users]]\nname = \"ops\"\nscram_verifier = \"\"\n", "users[0].scram_verifier", 7, 18, "must not be empty"),
      row(toml({kUser, "[users.backends.onprem]\n"}), "users[0].backends.onprem", 8, 1,
          "needs exactly one of password, password_env or password_file, got none"),
      row(toml({kUser, "[users.backends.cloud]\npassword = \"x\"\npassword_file = \"/x\"\n"}),
          "users[0].backends.cloud", 8, 1,
          "needs exactly one of password, password_env or password_file, got password and password_file"),
      row(toml({kUser, "[users.backends.onprem]\npassword = \"\"\n"}), "users[0].backends.onprem.password", 9, 12,
          "must not be empty"),
      row(toml({kUser, "[users.backends.onprem]\npassword_env = \"PGDUAL_CONFIG_TEST_UNSET_7E41\"\n"}),
          "users[0].backends.onprem.password_env", 9, 16,
          "environment variable PGDUAL_CONFIG_TEST_UNSET_7E41 is not set"),
      row(toml({kUser, "[users.backends.cloud]\npassword = 5\n"}), "users[0].backends.cloud.password", 9, 12,
          "expected a string, got integer"),
  });
}

TEST_CASE("A scram_verifier must have PostgreSQL's form, and errors never quote it", "[unit][config]") {
  constexpr std::string_view kSalt = "AAECAwQFBgcICQoLDA0ODw==";
  constexpr std::string_view kKey = "THoPhoTAuqyoQsK4dUHncUzgfD8fdmhsgKZhWVqNP5U=";
  const std::string_view kForm = "must have the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
  const std::string_view kIterations = "has an iteration count that is not a number in 1..2147483647";
  const auto verifier = [&](std::string_view iterations, std::string_view salt, std::string_view stored,
                            std::string_view server) {
    return toml({"SCRAM-SHA-256$", iterations, ":", salt, "$", stored, ":", server});
  };
  const std::vector<std::pair<std::string, std::string_view>> rows = {
      {"md5a3556571e93b0d20722ba62be61e8c2d", kForm},
      {toml({"SCRAM-SHA-1$4096:", kSalt, "$", kKey, ":", kKey}), kForm},
      {toml({"scram-sha-256$4096:", kSalt, "$", kKey, ":", kKey}), kForm},
      {toml({"SCRAM-SHA-256$4096:", kSalt}), kForm},
      {toml({"SCRAM-SHA-256$4096:", kSalt, "$", kKey}), kForm},
      {toml({"SCRAM-SHA-256$4096$", kKey, ":", kKey}), kForm},
      {toml({verifier("4096", kSalt, kKey, kKey), "$x"}), kForm},
      {toml({verifier("4096", kSalt, kKey, kKey), ":x"}), kForm},
      {verifier("0", kSalt, kKey, kKey), kIterations},
      {verifier("-1", kSalt, kKey, kKey), kIterations},
      {verifier("+4096", kSalt, kKey, kKey), kIterations},
      {verifier("4k", kSalt, kKey, kKey), kIterations},
      {verifier("", kSalt, kKey, kKey), kIterations},
      {verifier("2147483648", kSalt, kKey, kKey), kIterations},
      {verifier("4096", "", kKey, kKey), "has a salt that is not base64"},
      {verifier("4096", "AAE", kKey, kKey), "has a salt that is not base64"},
      {verifier("4096", "AA!A", kKey, kKey), "has a salt that is not base64"},
      {verifier("4096", "A===", kKey, kKey), "has a salt that is not base64"},
      {verifier("4096", kSalt, kSalt, kKey), "has a StoredKey that is not 32 bytes in base64"},
      {verifier("4096", kSalt, kKey.substr(0, 43), kKey), "has a StoredKey that is not 32 bytes in base64"},
      {verifier("4096", kSalt, kKey, toml({kKey, "AAAA"})), "has a ServerKey that is not 32 bytes in base64"},
      {verifier("4096", kSalt, kKey, ""), "has a ServerKey that is not 32 bytes in base64"},
  };
  for (const auto& [text, message] : rows) {
    check_rejections({{toml({kBackends, "[[users]]\nname = \"ops\"\nscram_verifier = \"", text, "\"\n"}),
                       "users[0].scram_verifier", 7, 18, message}});
  }
  const auto user_with = [](std::string_view text) {
    return toml({kBackends, "[[users]]\nname = \"ops\"\nscram_verifier = \"", text,
                 "\"\n[users.backends.onprem]\npassword = \"a\"\n[users.backends.cloud]\npassword = \"b\"\n"});
  };
  check_accepted({toml({kBackends, kUser, scram_user()}), user_with(verifier("1", "c2FsdA==", kKey, kKey)),
                  user_with(verifier("2147483647", "c2FsdDE=", kKey, kKey))});
}

TEST_CASE("An [[hba]] entry needs users, databases, address and method, each valid", "[unit][config]") {
  // The entry starts on line 8; its first key is on line 9.
  const auto entry = [](std::string_view body) { return toml({kBackends, kUser, "[[hba]]\n", body}); };
  const std::string_view kRest = "databases = [\"all\"]\naddress = \"all\"\nmethod = \"trust\"\n";
  const auto first_line = [&](std::string_view line) { return entry(toml({line, kRest})); };
  const std::string_view kAddress =
      "must be \"all\", or an IPv4 or IPv6 network such as 10.1.0.0/16 or fd00::/8 without bits set past the "
      "prefix, or a single address; got ";
  check_rejections({
      {entry(kRest), "hba[0].users", 8, 1, "missing; every [[hba]] entry needs users: names, or [\"all\"]"},
      {entry("users = [\"all\"]\naddress = \"all\"\nmethod = \"trust\"\n"), "hba[0].databases", 8, 1,
       "missing; every [[hba]] entry needs databases: names, or [\"all\"]"},
      {entry("users = [\"all\"]\ndatabases = [\"all\"]\nmethod = \"trust\"\n"), "hba[0].address", 8, 1,
       "missing; every [[hba]] entry needs an address: a network, or \"all\""},
      {entry("users = [\"all\"]\ndatabases = [\"all\"]\naddress = \"all\"\n"), "hba[0].method", 8, 1,
       "missing; every [[hba]] entry needs a method"},
      {first_line("users = []\n"), "hba[0].users", 9, 9, "needs at least one name, or \"all\""},
      {first_line("users = [\"\"]\n"), "hba[0].users[0]", 9, 10, "must not be empty"},
      {first_line("users = \"all\"\n"), "hba[0].users", 9, 9, "expected an array of strings, got string"},
      {first_line("users = [\"nobody\"]\n"), "hba[0].users[0]", 9, 10,
       "no [[users]] entry is named \"nobody\", so this rule could never match"},
      {first_line("users = [\"app\", \"App\"]\n"), "hba[0].users[1]", 9, 17,
       "no [[users]] entry is named \"App\", so this rule could never match"},
      {entry("users = [\"all\"]\ndatabases = []\naddress = \"all\"\nmethod = \"trust\"\n"), "hba[0].databases", 10, 13,
       "needs at least one name, or \"all\""},
      {entry("users = [\"all\"]\ndatabases = [\"ehr\", \"\"]\naddress = \"all\"\nmethod = \"trust\"\n"),
       "hba[0].databases[1]", 10, 21, "must not be empty"},
      {entry("users = [\"all\"]\ndatabases = [\"all\"]\naddress = \"local\"\nmethod = \"trust\"\n"), "hba[0].address",
       11, 11,
       "\"local\" is not supported: pgdual listens on TCP only; give a network such as 127.0.0.1/32, or \"all\""},
      {entry("users = [\"all\"]\ndatabases = [\"all\"]\naddress = \"10.1.2.3/16\"\nmethod = \"trust\"\n"),
       "hba[0].address", 11, 11, toml({kAddress, "\"10.1.2.3/16\""})},
      {entry("users = [\"all\"]\ndatabases = [\"all\"]\naddress = \"\"\nmethod = \"trust\"\n"), "hba[0].address", 11,
       11, toml({kAddress, "\"\""})},
      {entry("users = [\"all\"]\ndatabases = [\"all\"]\naddress = \"ALL\"\nmethod = \"trust\"\n"), "hba[0].address",
       11, 11, toml({kAddress, "\"ALL\""})},
      {entry(toml({"users = [\"all\"]\n", kRest, "connection = \"ssl\"\n"})), "hba[0].connection", 13, 14,
       "must be one of any, tls, plain; got \"ssl\""},
      {entry("users = [\"all\"]\ndatabases = [\"all\"]\naddress = \"all\"\nmethod = \"password\"\n"), "hba[0].method",
       12, 10, "must be one of scram-sha-256, md5, trust, reject; got \"password\""},
      {toml({kBackends, kUser, "[[hba]]\nusers = [\"all\"]\n", kRest, "[[hba]]\nusers = [\"ops\"]\n", kRest}),
       "hba[1].users[0]", 14, 10, "no [[users]] entry is named \"ops\", so this rule could never match"},
      {toml({"hba = []\n", kBackends, kUser}), "hba", 1, 7,
       "needs at least one entry, or none at all for the default rules; with an empty list every client would be "
       "refused"},
  });
  check_accepted({first_line("users = [\"app\", \"all\"]\n"),
                  entry("users = [\"app\"]\ndatabases = [\"pgdual\"]\naddress = \"127.0.0.1\"\nmethod = \"reject\"\n"),
                  entry(toml({"users = [\"all\"]\n", kRest, "connection = \"any\"\n"}))});
}

TEST_CASE("An md5 [[hba]] rule may not match a user who has a scram_verifier instead of a password",
          "[unit][config]") {
  // ops (users[1]) has a verifier; [[hba]] starts on line 15, its method is on line 19.
  const auto md5_for = [](std::string_view users) {
    return toml({kBackends, kUser, scram_user(), "[[hba]]\nusers = ", users,
                 "\ndatabases = [\"all\"]\naddress = \"all\"\nmethod = \"md5\"\n"});
  };
  const std::string_view kMessage =
      "md5 needs each user's password, but users[1] (\"ops\") has a scram_verifier instead; use scram-sha-256, or "
      "leave that user out";
  check_rejections({{md5_for("[\"all\"]"), "hba[0].method", 19, 10, kMessage},
                    {md5_for("[\"app\", \"ops\"]"), "hba[0].method", 19, 10, kMessage}});
  check_accepted({md5_for("[\"app\"]")});
}

TEST_CASE("An [[hba]] connection that tls.mode rules out is rejected", "[unit][config]") {
  const std::string_view kRule = "users = [\"all\"]\ndatabases = [\"all\"]\naddress = \"all\"\nmethod = \"trust\"\n";
  check_rejections({
      {toml({kBackends, kUser, "[[hba]]\n", kRule, "connection = \"tls\"\n"}), "hba[0].connection", 13, 14,
       "\"tls\" could never match: tls.mode is \"disable\", so no client connects over TLS"},
      {toml({"[tls]\nmode = \"disable\"\n", kBackends, kUser, "[[hba]]\n", kRule, "connection = \"tls\"\n"}),
       "hba[0].connection", 15, 14,
       "\"tls\" could never match: tls.mode is \"disable\", so no client connects over TLS"},
      // validate() rejects this before the (nonexistent) files would be read.
      {toml({"[tls]\nmode = \"require\"\ncert_file = \"/no/cert\"\nkey_file = \"/no/key\"\n", kBackends, kUser,
             "[[hba]]\n", kRule, "connection = \"plain\"\n"}),
       "hba[0].connection", 17, 14,
       "\"plain\" could never match: tls.mode is \"require\", so every client connects over TLS"},
  });
  check_accepted({toml({kBackends, kUser, "[[hba]]\n", kRule, "connection = \"plain\"\n"})});
}

TEST_CASE("tls.mode allow or require needs a certificate and a key file", "[unit][config]") {
  const auto row = [](std::string_view tls, std::string_view key, std::size_t line, std::size_t column,
                      std::string_view message) {
    return RejectRow{toml({tls, kBackends, kUser}), key, line, column, message};
  };
  check_rejections({
      row("[tls]\nmode = \"allow\"\n", "tls.cert_file", 1, 1, "must name a PEM file when tls.mode is \"allow\""),
      row("[tls]\nmode = \"require\"\ncert_file = \"\"\nkey_file = \"/k\"\n", "tls.cert_file", 3, 13,
          "must name a PEM file when tls.mode is \"require\""),
      row("[tls]\nmode = \"require\"\ncert_file = \"/c\"\n", "tls.key_file", 1, 1,
          "must name a PEM file when tls.mode is \"require\""),
      row("[tls]\nmode = \"on\"\n", "tls.mode", 2, 8, "must be one of disable, allow, require; got \"on\""),
      row("[tls]\nmin_version = \"1.1\"\n", "tls.min_version", 2, 15, "must be one of 1.2, 1.3; got \"1.1\""),
      row("[tls]\nmin_version = 1.2\n", "tls.min_version", 2, 15, "expected a string, got float"),
  });
  // With TLS off, the files are neither required nor read.
  const auto off = parse_config(toml({"[tls]\nmode = \"disable\"\ncert_file = \"/no/cert\"\nmin_version = \"1.3\"\n",
                                      kBackends, kUser}),
                                "test.toml");
  REQUIRE(off);
  CHECK(off->tls.mode == TlsMode::disable);
  CHECK(off->tls.cert_file == "/no/cert");
  CHECK(off->tls.cert_pem.empty());
  CHECK(off->tls.min_version == TlsVersion::v1_3);
}

TEST_CASE("The TLS certificate and key are read at load, the key only if private to its owner", "[unit][config]") {
  using std::filesystem::perms;
  const TempFile cert(kPemCertificate);
  cert.set_mode(kOwnerOnly | perms::group_read | perms::others_read);  // a certificate is public
  const TempFile key(kPemKey);
  key.set_mode(kOwnerOnly);
  const std::string quoted_key = "\"" + key.path().string() + "\"";

  SECTION("both are read whole, in either mode that turns TLS on") {
    for (const auto* mode : {"allow", "require"}) {
      const auto config = parse_config(with_tls(mode, cert.path(), key.path()), "test.toml");
      if (!config) FAIL(config.error().to_string());
      CHECK(config->tls.mode == (std::string_view(mode) == "allow" ? TlsMode::allow : TlsMode::require));
      CHECK(config->tls.cert_file == cert.path());
      CHECK(config->tls.key_file == key.path());
      CHECK(config->tls.cert_pem == kPemCertificate);
      CHECK(config->tls.key_pem == kPemKey);
    }
  }
  SECTION("a key accessible by group is rejected") {
    key.set_mode(kOwnerOnly | perms::group_read);
    check_rejections({{with_tls("require", cert.path(), key.path()), "tls.key_file", 4, 12,
                       quoted_key + " is accessible by group or others (mode 0640); run chmod 600 on it"}});
  }
  SECTION("a missing certificate is rejected with the reason") {
    const auto missing = cert.path().string() + ".missing";
    check_rejections({{with_tls("require", missing, key.path()), "tls.cert_file", 3, 13,
                       "cannot read \"" + missing + "\": No such file or directory"}});
  }
  SECTION("a certificate file without a PEM certificate is rejected") {
    const TempFile not_pem("just text\n");
    check_rejections({{with_tls("allow", not_pem.path(), key.path()), "tls.cert_file", 3, 13,
                       "\"" + not_pem.path().string() + "\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)"}});
  }
  SECTION("a key file without a PEM private key is rejected") {
    const TempFile not_key(kPemCertificate);
    check_rejections({{with_tls("allow", cert.path(), not_key.path()), "tls.key_file", 4, 12,
                       "\"" + not_key.path().string() + "\" holds no PEM private key"}});
  }
  SECTION("an encrypted key is rejected, in the PKCS #8 form and in OpenSSL's older one") {
    for (const std::string_view pem :
         {"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n-----END ENCRYPTED PRIVATE KEY-----\n",
          "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nMIIE\n"
          "-----END RSA PRIVATE KEY-----\n"}) {
      const TempFile encrypted(pem);
      check_rejections({{with_tls("allow", cert.path(), encrypted.path()), "tls.key_file", 4, 12,
                         "\"" + encrypted.path().string() +
                             "\" holds an encrypted key, and pgdual cannot ask for its passphrase; decrypt it with "
                             "openssl pkey"}});
    }
  }
  SECTION("an EC or RSA key in the traditional form is accepted") {
    for (const std::string_view pem : {"-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n",
                                       "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"}) {
      const TempFile traditional(pem);
      check_accepted({with_tls("allow", cert.path(), traditional.path())});
    }
  }
}

TEST_CASE("Clients on TLS may reach pgdual on any address", "[unit][config]") {
  const TempFile cert(kPemCertificate);
  const TempFile key(kPemKey);
  for (std::string_view mode : {"allow", "require"}) {
    const auto config = parse_config(toml({"[listen]\naddress = \"0.0.0.0\"\n", with_tls(mode, cert.path(), key.path())}),
                                     "test.toml");
    REQUIRE(config);
    CHECK(config->listen.address == "0.0.0.0");
  }
}

namespace {

// [backends.onprem] on lines 1 and 2, [backends.cloud] from line 3 with `cloud_lines` from line 5.
std::string with_cloud_lines(std::string_view cloud_lines) {
  return toml({"[backends.onprem]\nhost = \"10.0.0.1\"\n[backends.cloud]\nhost = \"10.0.0.2\"\n", cloud_lines, kUser});
}

}  // namespace

TEST_CASE("Backends are reached in plain text by default, with SNI once on TLS", "[unit][config]") {
  const auto config = parse_config(toml({kBackends, kUser}), "test.toml");
  REQUIRE(config);
  for (const auto* backend : {&config->onprem, &config->cloud}) {
    CHECK(backend->sslmode == SslMode::disable);
    CHECK(backend->sslrootcert.empty());
    CHECK(backend->sslrootcert_pem.empty());
    CHECK(backend->sslsni);
  }
}

TEST_CASE("A backend's sslmode, sslrootcert and sslsni are read, the root certificates at load", "[unit][config]") {
  const TempFile roots(toml({kPemCertificate, kPemCertificate}));
  const auto config = parse_config(toml({"[backends.onprem]\nhost = \"10.0.0.1\"\nsslmode = \"require\"\n"
                                         "[backends.cloud]\nhost = \"db.example.com\"\nsslmode = \"verify-full\"\n"
                                         "sslrootcert = \"",
                                         roots.path().string(), "\"\nsslsni = false\n", kUser}),
                                   "test.toml");
  if (!config) FAIL(config.error().to_string());
  CHECK(config->onprem.sslmode == SslMode::require);
  CHECK(config->onprem.sslrootcert_pem.empty());
  CHECK(config->onprem.sslsni);
  CHECK(config->cloud.sslmode == SslMode::verify_full);
  CHECK(config->cloud.sslrootcert == roots.path());
  CHECK(config->cloud.sslrootcert_pem == toml({kPemCertificate, kPemCertificate}));
  CHECK_FALSE(config->cloud.sslsni);

  const auto verify_ca = parse_config(
      with_cloud_lines("sslmode = \"verify-ca\"\nsslrootcert = \"" + roots.path().string() + "\"\n"), "test.toml");
  REQUIRE(verify_ca);
  CHECK(verify_ca->cloud.sslmode == SslMode::verify_ca);
  CHECK(verify_ca->cloud.sslrootcert_pem == toml({kPemCertificate, kPemCertificate}));
}

TEST_CASE("A backend's TLS settings are checked, naming the key", "[unit][config]") {
  const TempFile roots(kPemCertificate);
  const std::string root_line = "sslrootcert = \"" + roots.path().string() + "\"\n";
  const auto row = [](std::string_view cloud_lines, std::string_view key, std::size_t line, std::size_t column,
                      std::string_view message) {
    return RejectRow{with_cloud_lines(cloud_lines), key, line, column, message};
  };
  const auto only_verifying = [](std::string_view mode) {
    return "is used only with sslmode \"verify-ca\" or \"verify-full\", but sslmode is \"" + std::string(mode) +
           "\"; choose one of those to check the server, or remove sslrootcert";
  };
  const auto with_require = only_verifying("require");
  const auto with_disable = only_verifying("disable");
  check_rejections({
      row("sslmode = \"prefer\"\n", "backends.cloud.sslmode", 5, 11,
          "must be one of disable, require, verify-ca, verify-full; got \"prefer\""),
      row("sslmode = \"verify-ca\"\n", "backends.cloud.sslrootcert", 3, 1,
          "must name a PEM file of root certificates when sslmode is \"verify-ca\""),
      row("sslmode = \"verify-full\"\nsslrootcert = \"\"\n", "backends.cloud.sslrootcert", 6, 15,
          "must name a PEM file of root certificates when sslmode is \"verify-full\""),
      row("sslmode = \"require\"\n" + root_line, "backends.cloud.sslrootcert", 6, 15, with_require),
      row(root_line, "backends.cloud.sslrootcert", 5, 15, with_disable),
      row("sslsni = \"yes\"\n", "backends.cloud.sslsni", 5, 10, "expected a boolean, got string"),
      row("sslmode = 1\n", "backends.cloud.sslmode", 5, 11, "expected a string, got integer"),
  });
  check_accepted({with_cloud_lines("sslmode = \"verify-full\"\n" + root_line),
                  with_cloud_lines("sslmode = \"require\"\nsslsni = false\n"),
                  with_cloud_lines("sslmode = \"disable\"\nsslsni = true\n")});
}

TEST_CASE("A backend's sslrootcert must be readable and hold a PEM certificate", "[unit][config]") {
  const TempFile not_pem("just text\n");
  const auto missing = not_pem.path().string() + ".missing";
  const auto verifying = [](const std::string& file) {
    return with_cloud_lines("sslmode = \"verify-ca\"\nsslrootcert = \"" + file + "\"\n");
  };
  check_rejections({
      {verifying(missing), "backends.cloud.sslrootcert", 6, 15,
       "cannot read \"" + missing + "\": No such file or directory"},
      {verifying(not_pem.path().string()), "backends.cloud.sslrootcert", 6, 15,
       "\"" + not_pem.path().string() + "\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)"},
  });
}

TEST_CASE("pgdual.example.toml shows the backends' TLS settings with their defaults", "[unit][config]") {
  std::ifstream file(std::filesystem::path(PGDUAL_SOURCE_DIR) / "config" / "pgdual.example.toml");
  REQUIRE(file);
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  for (const auto* line : {"\nsslmode = \"disable\"\n", "\n# sslrootcert = ", "\nsslsni = true\n"}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
}
