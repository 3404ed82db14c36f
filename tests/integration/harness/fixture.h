#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/conflict_record.h"

#include "tests/integration/harness/endpoint.h"
#include "tests/integration/harness/pg_cluster.h"
#include "tests/integration/harness/proxy_process.h"
#include "tests/integration/harness/subprocess.h"

namespace pgdual::test {

/// The login every test uses, directly and through pgdual. Not a superuser, like a real app.
inline constexpr const char* kAppUser = "app";
inline constexpr const char* kAppPassword = "app-secret";

/// The two servers all tests in this binary share: started on first use, stopped at exit.
/// Both have the login role kAppUser.
struct Backends {
  Backends();

  PgCluster onprem{"onprem"};
  PgCluster cloud{"cloud"};
};

/// The shared backends, started on the first call. Throws std::runtime_error when they cannot start.
[[nodiscard]] Backends& backends();

/// One test's world (use with TEST_CASE_METHOD): fresh databases on both backends, and pgdual in
/// front of them. pgdual's log joins the failure report when the test fails.
class IntegrationTest {
 public:
  IntegrationTest();
  ~IntegrationTest();

  IntegrationTest(const IntegrationTest&) = delete;
  IntegrationTest& operator=(const IntegrationTest&) = delete;

  /// The backend pgdual forwards to (onprem).
  [[nodiscard]] PgCluster& primary();

  /// Creates a database with a new name on both backends, owned by kAppUser, with pgdual's ledger
  /// (`pgdual init`), and returns its name. `label` makes the name readable in server logs.
  [[nodiscard]] std::string fresh_database(std::string_view label);
  /// A database with a new name on both backends, owned by `owner`, without pgdual's schema: as an
  /// operator who never ran `pgdual init` has it.
  [[nodiscard]] std::string database_without_init(std::string_view label, const std::string& owner = kAppUser);

  /// kAppUser on the primary itself.
  [[nodiscard]] Endpoint direct(const std::string& database);

  /// Starts pgdual (onprem primary, kAppUser configured, `limits`). Throws as ProxyProcess does.
  ProxyProcess& start_proxy(const ProxyLimits& limits = {});
  /// Starts pgdual with `settings`, which start from default_settings().
  ProxyProcess& start_proxy(const ProxySettings& settings);
  /// The shared backends, onprem primary, kAppUser configured.
  [[nodiscard]] static ProxySettings default_settings();

  /// The conflict records pgdual has written so far.
  [[nodiscard]] std::vector<conflict::ConflictRecord> conflicts();
  /// conflicts(), once it holds at least `count` records or `limit` has passed.
  [[nodiscard]] std::vector<conflict::ConflictRecord> wait_for_conflicts(std::size_t count,
                                                                         std::chrono::milliseconds limit);

  /// kAppUser through the pgdual started by start_proxy().
  [[nodiscard]] Endpoint through_proxy(const std::string& database);

  /// The pgdual started by start_proxy(). Precondition: it was started.
  [[nodiscard]] ProxyProcess& proxy();

 private:
  std::optional<ProxyProcess> proxy_;
};

/// `pgdual init` for `database` on the backends `settings` names (pgdual's schema and ledger), as
/// `user` (one of settings.users) or, when empty, the first of them. Throws std::runtime_error with
/// its output when it fails.
void run_pgdual_init(const std::string& database, const ProxySettings& settings, const std::string& user = {});

/// Every table of `database`'s public schema, as the primary has them, whose rows differ between
/// the two backends (count, or md5 of the rows in order), each with both summaries.
[[nodiscard]] std::vector<std::string> differing_tables(const std::string& database, const PgCluster& onprem,
                                                        const PgCluster& cloud);
[[nodiscard]] std::vector<std::string> differing_tables(const std::string& database);

/// What else must be identical on both backends and differs: each sequence's state (last_value,
/// is_called) and the large objects (OIDs and an md5 of each one's contents), as one line each.
[[nodiscard]] std::vector<std::string> differing_sequences_and_large_objects(const std::string& database,
                                                                           const PgCluster& onprem,
                                                                           const PgCluster& cloud);

/// Requires that the command `result` describes ran to its end and exited 0, showing its output if not.
void check_succeeded(const RunResult& result);

/// A psql on `server` that holds an exclusive lock on `table` for 4 s, started 500 ms ago: a write to
/// the table through pgdual then waits on that server alone. Its output goes to `dir`.
[[nodiscard]] Subprocess lock_table_on(const PgCluster& server, const std::string& database, const std::string& table,
                                       const std::filesystem::path& dir);

/// Runs `argv` as a client of `endpoint` (its libpq variables set), bounded by `timeout`.
[[nodiscard]] RunResult run_client(const std::vector<std::string>& argv, const Endpoint& endpoint,
                                   std::chrono::milliseconds timeout);

/// GET `path` from pgdual's HTTP endpoint on 127.0.0.1:`port` with Python's urllib: the status
/// line, then the body.
[[nodiscard]] RunResult http_get(std::uint16_t port, const std::string& path);

/// Checks (Catch CHECK) that the proxied run ended and printed exactly as the direct one did.
void check_same_output(const RunResult& direct, const RunResult& proxied);

/// Starts a new failure report: remembers how long each server log is now and forgets kept logs.
void begin_failure_report();

/// Adds a log that belongs in the report if the current test fails.
void keep_for_failure_report(const std::string& title, const std::string& text);

/// The server logs written since begin_failure_report() and the kept logs, titled.
[[nodiscard]] std::string failure_report();

}  // namespace pgdual::test
