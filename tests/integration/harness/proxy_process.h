#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness/endpoint.h"
#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {

/// A login pgdual accepts from clients and uses towards both backends.
struct ProxyUser {
  std::string name;
  std::string password;
};

/// The [limits] a test sets; unset ones keep pgdual's defaults.
struct ProxyLimits {
  std::optional<unsigned> max_client_connections{};
  std::optional<unsigned> idle_session_timeout_ms{};
  std::optional<unsigned> idle_in_transaction_timeout_ms{};
  std::optional<unsigned> max_message_bytes{};
  std::optional<unsigned> startup_timeout_ms{};
  std::optional<unsigned> max_logins_in_progress{};
};

/// What goes into the pgdual config file the harness writes.
struct ProxySettings {
  std::uint16_t onprem_port = 0;
  std::uint16_t cloud_port = 0;
  std::string onprem_host = "127.0.0.1";
  std::string cloud_host = "127.0.0.1";
  /// Lines added to [backends.onprem] and [backends.cloud], e.g. "sslmode = \"require\"\n".
  std::string onprem_lines;
  std::string cloud_lines;
  std::string primary = "onprem";
  std::vector<ProxyUser> users;
  std::string log_level = "debug";
  ProxyLimits limits;
  std::optional<unsigned> mirror_timeout_ms;
  /// Lines in [mirror]. Statement mode unless a test says otherwise: the WAL mirror needs a login
  /// with the REPLICATION attribute, which kAppUser is not (tests/integration/wal_mode_fixture.h).
  std::string mirror_lines = "mode = \"statement\"\n";
  std::optional<unsigned> ledger_prune_interval_ms;
  std::optional<unsigned> ledger_retention_hours;
  /// Where the conflict log goes; empty: conflicts.jsonl in pgdual's own temp dir.
  std::string conflict_log;
  /// Lines added to [routing], e.g. "read_percent = 10\n".
  std::string routing;
  /// TOML appended at the end of the file: [brake], [[routing.rules]]...
  std::string extra;
};

/// A running `pgdual serve`, configured for two local backends, listening on a free port of
/// 127.0.0.1. The destructor stops it as stop() does.
class ProxyProcess {
 public:
  /// Writes the config into a temp dir, starts `binary serve --config FILE` and waits up to 10 s
  /// until its port accepts connections. Throws std::runtime_error, with pgdual's log, when it
  /// exits or does not listen in time.
  ProxyProcess(const std::filesystem::path& binary, const ProxySettings& settings);
  ~ProxyProcess();

  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  /// pgdual's process id, to read its /proc entries.
  [[nodiscard]] pid_t pid() const noexcept { return process_->pid(); }

  /// An endpoint that reaches `database` as `user` through pgdual.
  [[nodiscard]] Endpoint endpoint(const std::string& user, const std::string& password,
                                  const std::string& database) const;

  /// Sends SIGTERM and waits up to 15 s, then SIGKILLs. Returns the exit code (137 when it had to
  /// be killed). Calling it again returns the same code.
  int stop();

  /// kill -9, as a crash or the OOM killer ends it: no shutdown, clients' connections cut. Returns
  /// once it has exited.
  void crash();

  /// Starts pgdual again after stop() or crash(), with the same config file, so on the same port;
  /// waits until it listens. log() goes on in the same file. Throws as the constructor does, and
  /// std::logic_error while pgdual runs.
  void restart();

  /// True while pgdual has not exited.
  [[nodiscard]] bool running();

  /// Everything pgdual wrote to stdout and stderr so far.
  [[nodiscard]] std::string log() const;
  /// Whether log() holds `text` within `limit`: for lines pgdual writes after what a test waits on.
  [[nodiscard]] bool log_shows_within(const std::string& text, std::chrono::milliseconds limit) const;

  [[nodiscard]] const std::filesystem::path& config_file() const noexcept { return config_file_; }
  [[nodiscard]] const std::filesystem::path& conflict_log() const noexcept { return conflict_log_; }

 private:
  void launch();
  void wait_until_listening();

  std::filesystem::path binary_;
  TempDir root_;
  std::filesystem::path config_file_;
  std::filesystem::path log_file_;
  std::filesystem::path conflict_log_;
  std::uint16_t port_ = 0;
  std::optional<Subprocess> process_;
  std::optional<int> exit_code_;
};

/// The TOML pgdual reads for `settings`, listening on 127.0.0.1:`listen_port`.
[[nodiscard]] std::string proxy_config_text(const ProxySettings& settings, std::uint16_t listen_port);

}  // namespace pgdual::test
