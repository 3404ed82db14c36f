#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness/endpoint.h"
#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {

/// PostgreSQL's binaries directory, from `pg_config --bindir` (Debian keeps initdb, pg_ctl and
/// postgres there, off PATH). Throws std::runtime_error when pg_config fails.
[[nodiscard]] const std::filesystem::path& pg_bindir();

/// The full path of PostgreSQL program `name` (psql, pgbench, ...) in pg_bindir().
[[nodiscard]] std::string pg_program(const std::string& name);

/// TLS for a PgCluster: ssl = on with this certificate and key (test_ca()'s server_cert and
/// server_key, typically). Both are copied into the cluster's own directory, owned by the server's
/// OS user with mode 0600, as PostgreSQL demands of its key file whoever runs the tests.
struct ServerTls {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  /// pg_hba.conf lets TCP clients in over TLS only (hostssl): a plain-text login is refused with
  /// "no pg_hba.conf entry ... no encryption". Otherwise clients choose.
  bool tls_only = true;
};

/// A throwaway PostgreSQL server: initdb into a fresh temp dir, listening on a free port of
/// 127.0.0.1 only, SCRAM-SHA-256 for every connection. Runs as the postgres OS user when we are
/// root. The destructor stops it (pg_ctl -m fast) and removes the temp dir. If this process dies
/// without running destructors (SIGKILL from a ctest timeout, Ctrl-C), a watchdog does both.
class PgCluster {
 public:
  static constexpr const char* kSuperuser = "pgdual_admin";
  static constexpr const char* kSuperuserPassword = "admin-secret";

  /// Creates and starts the server, with TLS when `tls` is given; `name` appears in its temp dir
  /// and in failure reports. `settings` are postgresql.conf lines that override the harness's own
  /// (e.g. "wal_level = replica\n"). Throws std::runtime_error with the tool's output (and the
  /// server log) when a step fails or the certificate or key cannot be read, std::system_error
  /// when they cannot be copied.
  explicit PgCluster(std::string name, const std::optional<ServerTls>& tls = std::nullopt, std::string settings = {});
  ~PgCluster();

  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// The superuser's endpoint for `database`.
  [[nodiscard]] Endpoint superuser(const std::string& database = "postgres") const;

  /// CREATE ROLE ... LOGIN PASSWORD. Throws std::runtime_error on failure.
  void create_role(const std::string& role, const std::string& password) const;

  /// CREATE DATABASE, owned by `owner` (the superuser when not given), so that the owner may
  /// create tables in its public schema. Throws std::runtime_error on failure.
  void create_database(const std::string& database, const std::optional<std::string>& owner = {}) const;

  /// Runs `sql` in `database` as the superuser with psql (-X -A -t, ON_ERROR_STOP) and returns
  /// what it printed: unaligned rows, fields separated by '|'. Throws std::runtime_error with
  /// psql's output when it fails.
  [[nodiscard]] std::string run_sql(const std::string& database, const std::string& sql) const;

  /// The server log so far.
  [[nodiscard]] std::string log() const;

  /// Stops the server now (pg_ctl -m fast), as a crash of the host would look to its clients.
  void shut_down() const { stop(); }

  /// The postmaster's process id, from postmaster.pid. Throws std::runtime_error when the server
  /// is not running.
  [[nodiscard]] pid_t postmaster_pid() const;

  /// kill -9 of the postmaster and of every process it started: connections cut, nothing shut
  /// down or flushed by the server, as when it is OOM-killed. Returns once all have exited.
  /// Throws std::runtime_error when they have not within 10 s. The harness's servers commit
  /// asynchronously: a commit made with synchronous_commit off in the last 200 ms
  /// (wal_writer_delay) may be lost, as PostgreSQL allows; one made with it on (as pgdual's apply
  /// commits) is not.
  void crash() const;

  /// Starts the server again after crash() or shut_down(), on the same port, which pgdual's
  /// configuration names; PostgreSQL recovers from its WAL as after any crash. Throws
  /// std::runtime_error with the server log when it does not start.
  void restart() const;

  /// SIGSTOP of the postmaster and of every process it started: the server hangs with its
  /// connections open, as a frozen VM does, so nobody sees an error, only silence. Prefer
  /// FrozenServer, which thaws it whatever happens to the test.
  void freeze() const;

  /// SIGCONT of the postmaster and of every process it started, after freeze().
  void thaw() const;

 private:
  /// The postmaster and its processes, all stopped (SIGSTOP), the postmaster first so that it
  /// starts no new one between the listing and the signal.
  [[nodiscard]] std::vector<pid_t> stop_processes() const;
  void init_data_directory() const;
  void install_tls(const ServerTls& tls);
  void write_settings() const;
  void start();
  bool try_start() const;
  void stop() const;
  void start_watchdog();
  [[nodiscard]] ProcessOptions as_server_user() const;

  std::string name_;
  std::optional<std::string> os_user_;
  TempDir root_;
  std::filesystem::path data_dir_;
  std::filesystem::path log_file_;
  bool ssl_ = false;
  std::string settings_;
  std::uint16_t port_ = 0;
  std::optional<Subprocess> watchdog_;  // destroyed (killed) before root_ is removed
};

/// A PgCluster frozen (PgCluster::freeze) for the guard's life: the destructor thaws it, so that a
/// test that fails or throws meanwhile never leaves a stopped server behind.
class FrozenServer {
 public:
  explicit FrozenServer(const PgCluster& server);
  ~FrozenServer();

  FrozenServer(const FrozenServer&) = delete;
  FrozenServer& operator=(const FrozenServer&) = delete;

  /// Thaws the server now; the destructor then has nothing left to do.
  void thaw();

 private:
  const PgCluster& server_;
  bool frozen_ = true;
};

}  // namespace pgdual::test
