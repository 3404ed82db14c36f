#include "tests/integration/harness/pg_cluster.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/process_tree.h"
#include "tests/integration/harness/subprocess.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kToolTimeout = 120s;
constexpr int kStartAttempts = 3;  // a free port can be taken by someone else before we bind it
constexpr auto kExitLimit = 10s;   // for the processes of a killed server to be gone

// The server's copies of ServerTls's files, beside its data directory.
constexpr const char* kServerCert = "server.crt";
constexpr const char* kServerKey = "server.key";

// initdb's rules with every TCP line made hostssl: plain-text TCP matches no line and is refused.
constexpr const char* kTlsOnlyHba =
    "local   all all scram-sha-256\n"
    "hostssl all all 127.0.0.1/32 scram-sha-256\n"
    "hostssl all all ::1/128 scram-sha-256\n";

// Waits for the test process ($1) to disappear, then stops the server and removes its temp dir.
// /proc is checked rather than `kill -0`, which fails with EPERM when we are root and it is not.
constexpr const char* kWatchdogScript =
    "while [ -d \"/proc/$1\" ]; do sleep 1; done; "
    "\"$2\" stop --pgdata=\"$3\" --mode=immediate --wait >/dev/null 2>&1; rm -rf \"$4\"";

/// `text` between `quote`s, with each `quote` inside doubled: SQL's rule for literals and identifiers.
std::string quoted(const std::string& text, char quote) {
  std::string result{quote};
  for (const char c : text) {
    if (c == quote) result += quote;
    result += c;
  }
  return result + quote;
}

ProcessOptions with_env(std::map<std::string, std::string> env) {
  ProcessOptions options;
  options.env = std::move(env);
  return options;
}

// read_file() says "" for a file it cannot read; a server's certificate or key is never empty.
std::string read_tls_file(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (text.empty()) throw std::runtime_error("cannot read " + file.string() + ", or it is empty");
  return text;
}

std::string trim_trailing_newlines(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace

const std::filesystem::path& pg_bindir() {
  static const std::filesystem::path bindir = [] {
    const auto result = run({"pg_config", "--bindir"}, {}, kToolTimeout);
    if (result.exit_code != 0 || result.timed_out) {
      throw std::runtime_error("pg_config --bindir failed: " + result.describe());
    }
    return std::filesystem::path{trim_trailing_newlines(result.out)};
  }();
  return bindir;
}

std::string pg_program(const std::string& name) { return (pg_bindir() / name).string(); }

PgCluster::PgCluster(std::string name, const std::optional<ServerTls>& tls, std::string settings)
    : name_(std::move(name)),
      os_user_(postgres_os_user()),
      root_("pgdual-" + name_, os_user_),
      data_dir_(root_.path() / "data"),
      log_file_(root_.path() / "server.log"),
      settings_(std::move(settings)) {
  init_data_directory();
  if (tls) install_tls(*tls);
  start();
  start_watchdog();
}

PgCluster::~PgCluster() {
  try {
    stop();
  } catch (const std::exception&) {
    // Nothing sensible to do while unwinding; the temp dir goes either way.
  }
}

Endpoint PgCluster::superuser(const std::string& database) const {
  return Endpoint{.host = "127.0.0.1", .port = port_, .user = kSuperuser, .password = kSuperuserPassword,
                  .database = database};
}

void PgCluster::create_role(const std::string& role, const std::string& password) const {
  static_cast<void>(
      run_sql("postgres", "CREATE ROLE " + quoted(role, '"') + " LOGIN PASSWORD " + quoted(password, '\'')));
}

void PgCluster::create_database(const std::string& database, const std::optional<std::string>& owner) const {
  const auto owner_clause = owner ? " OWNER " + quoted(*owner, '"') : std::string{};
  static_cast<void>(run_sql("postgres", "CREATE DATABASE " + quoted(database, '"') + owner_clause));
}

std::string PgCluster::run_sql(const std::string& database, const std::string& sql) const {
  const auto psql = pg_program("psql");
  const auto result = run({psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql},
                          with_env(superuser(database).libpq_env()), kToolTimeout);
  if (result.exit_code != 0 || result.timed_out) {
    throw std::runtime_error("SQL failed on " + name_ + "/" + database + ": " + sql + "\n" + result.describe());
  }
  return result.out;
}

std::string PgCluster::log() const { return read_file(log_file_); }

void PgCluster::init_data_directory() const {
  const auto password_file = root_.path() / "superuser-password";
  write_file(password_file, kSuperuserPassword, os_user_);
  const auto result = run({pg_program("initdb"), "--pgdata=" + data_dir_.string(),
                           "--username=" + std::string{kSuperuser}, "--pwfile=" + password_file.string(),
                           "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
                           "--no-instructions"},
                          as_server_user(), kToolTimeout);
  if (result.exit_code != 0 || result.timed_out) {
    throw std::runtime_error("initdb for " + name_ + " failed: " + result.describe());
  }
  append_to_file(data_dir_ / "postgresql.conf", "\ninclude 'pgdual_harness.conf'\n");
}

void PgCluster::install_tls(const ServerTls& tls) {
  write_file(root_.path() / kServerCert, read_tls_file(tls.cert_file), os_user_);
  write_file(root_.path() / kServerKey, read_tls_file(tls.key_file), os_user_);
  if (tls.tls_only) write_file(data_dir_ / "pg_hba.conf", kTlsOnlyHba, os_user_);
  ssl_ = true;
}

void PgCluster::write_settings() const {
  // Included last, so these win over initdb's defaults. Durability is pointless for throwaway
  // servers; fixed datestyle/timezone/messages keep transcripts comparable between runs. Logical
  // decoding is on, as on the primaries pgdual mirrors from their WAL.
  std::string settings =
      "listen_addresses = '127.0.0.1'\n"
      "port = " + std::to_string(port_) + "\n"
      "unix_socket_directories = '" + root_.path().string() + "'\n"
      "max_connections = 200\n"
      "fsync = off\n"
      "synchronous_commit = off\n"
      "full_page_writes = off\n"
      "wal_level = logical\n"
      // Clients' two-phase commits (PREPARE TRANSACTION) go through pgdual too.
      "max_prepared_transactions = 10\n"
      "log_connections = on\n"
      "log_disconnections = on\n"
      "log_line_prefix = '%m [%p] %q%u@%d '\n"
      "datestyle = 'iso, mdy'\n"
      "timezone = 'UTC'\n"
      "lc_messages = 'C'\n";
  if (ssl_) {
    settings += "ssl = on\n"
                "ssl_cert_file = '" + (root_.path() / kServerCert).string() + "'\n"
                "ssl_key_file = '" + (root_.path() / kServerKey).string() + "'\n";
  }
  settings += settings_;  // the last line naming a setting wins
  write_file(data_dir_ / "pgdual_harness.conf", settings, os_user_);
}

void PgCluster::start() {
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    port_ = free_loopback_port();
    write_settings();
    if (try_start()) return;
  }
  throw std::runtime_error("could not start PostgreSQL cluster " + name_ + "; server log:\n" + log());
}

bool PgCluster::try_start() const {
  const auto result = run({pg_program("pg_ctl"), "start", "--wait", "--timeout=60",
                           "--pgdata=" + data_dir_.string(), "--log=" + log_file_.string()},
                          as_server_user(), kToolTimeout);
  return result.exit_code == 0 && !result.timed_out;
}

void PgCluster::start_watchdog() {
  auto options = as_server_user();
  options.dies_with_parent = false;
  watchdog_.emplace(std::vector<std::string>{"sh", "-c", kWatchdogScript, "pgdual-cluster-watchdog",
                                             std::to_string(getpid()), pg_program("pg_ctl"), data_dir_.string(),
                                             root_.path().string()},
                    options, "/dev/null", "/dev/null");
}

ProcessOptions PgCluster::as_server_user() const {
  ProcessOptions options;
  options.working_dir = root_.path();  // the server user may not be allowed into ours
  options.run_as = os_user_;
  return options;
}

void PgCluster::stop() const {
  static_cast<void>(run({pg_program("pg_ctl"), "stop", "--wait", "--timeout=60", "--mode=fast",
                         "--pgdata=" + data_dir_.string()},
                        as_server_user(), kToolTimeout));
}

pid_t PgCluster::postmaster_pid() const {
  const auto text = read_file(data_dir_ / "postmaster.pid");
  const auto pid = std::atoi(text.c_str());  // its first line
  if (pid <= 0) throw std::runtime_error("PostgreSQL cluster " + name_ + " is not running (no postmaster.pid)");
  return pid;
}

std::vector<pid_t> PgCluster::stop_processes() const {
  const auto postmaster = postmaster_pid();
  kill(postmaster, SIGSTOP);
  auto processes = children_of(postmaster);
  for (const auto pid : processes) kill(pid, SIGSTOP);
  processes.insert(processes.begin(), postmaster);
  return processes;
}

void PgCluster::crash() const {
  const auto processes = stop_processes();
  for (const auto pid : processes) kill(pid, SIGKILL);
  if (!wait_until_exited(processes, kExitLimit)) {
    throw std::runtime_error("PostgreSQL cluster " + name_ + " still runs 10 s after kill -9");
  }
  // An orphaned postmaster may stay a zombie for a while (PID 1 reaps when it gets to it), and the
  // next one would take the PID in its lock files for a server still running. The lock files of a
  // dead server are what a reboot leaves behind: stale.
  std::filesystem::remove(data_dir_ / "postmaster.pid");
  std::filesystem::remove(root_.path() / (".s.PGSQL." + std::to_string(port_) + ".lock"));
}

void PgCluster::restart() const {
  if (!try_start()) {
    throw std::runtime_error("could not restart PostgreSQL cluster " + name_ + "; server log:\n" + log());
  }
}

void PgCluster::freeze() const { static_cast<void>(stop_processes()); }

void PgCluster::thaw() const {
  const auto postmaster = postmaster_pid();
  for (const auto pid : children_of(postmaster)) kill(pid, SIGCONT);
  kill(postmaster, SIGCONT);
}

FrozenServer::FrozenServer(const PgCluster& server) : server_{server} { server_.freeze(); }

FrozenServer::~FrozenServer() {
  try {
    thaw();
  } catch (const std::exception&) {
    // The server is gone (its postmaster.pid with it): there is nothing left to thaw.
  }
}

void FrozenServer::thaw() {
  if (!frozen_) return;
  frozen_ = false;
  server_.thaw();
}

}  // namespace pgdual::test
