#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/readiness.h"
#include "conflict/jobs/readiness_checks.h"

// The part of check_readiness() that concerns one database, and what the checks share.
namespace pgdual::jobs {

/// Whether a login is itself a check in the report, or only the way to another check.
enum class LoginCheck { reported, silent };

/// One run of the checks: the configuration, what to check, what was found so far.
struct ReadinessRun {
  const config::ProxyConfig& config;
  const ReadinessScope& scope;
  std::vector<ReadinessCheck> checks;

  void add(Verdict verdict, std::string subject, std::string_view name, std::string found, std::string fix = {});
  /// A connection to `database` on `backend` as `user`, with a statement_timeout so that no check
  /// waits long on a lock; std::nullopt when the login fails, which is a failed check naming the
  /// server, the role and the server's message, unless `login` is silent. A reported login that
  /// succeeds is an ok check.
  [[nodiscard]] std::optional<PgClient> log_in(const config::BackendConfig& backend, const config::UserConfig& user,
                                               const std::string& database, LoginCheck login = LoginCheck::reported);
};

/// Every check of `database` on both servers, and, in mirror.mode wal, check_wal_prerequisites().
void check_database(ReadinessRun& run, const std::string& database);

/// "server onprem (127.0.0.1:5432)".
[[nodiscard]] std::string server_subject(const config::BackendConfig& backend);
/// `names`, each double-quoted, comma separated; past ten, "and N more".
[[nodiscard]] std::string names_list(const std::vector<std::string>& names);
/// libpq's message on one line, without the backend's name that PgClientError starts it with.
[[nodiscard]] std::string one_line(const PgClientError& error, const config::BackendConfig& backend);
/// The [[users]] entry called `name`: mirror.replication_user and apply_user always name one.
[[nodiscard]] const config::UserConfig& user_named(const config::ProxyConfig& config, std::string_view name);
/// "16.0 GiB", "12.3 MB"...: binary units above 1 KiB.
[[nodiscard]] std::string byte_text(std::uint64_t bytes);

}  // namespace pgdual::jobs
