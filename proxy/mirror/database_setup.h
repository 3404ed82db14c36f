#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// pgdual's schema and rights in each database clients use, set up by the first session that uses
/// the database, so that nobody has to remember `pgdual init`: the schema on both servers, the
/// ledger's rights for every configured login and the apply login's on pgdual.applied. Where the
/// logins pgdual uses for itself (mirror.replication_user on the primary, mirror.apply_user on the
/// mirror) may not do that, sessions in that database have their writes refused, naming the
/// command that fixes it: a write is never acknowledged while its mirror copy cannot happen.
///
/// The libpq work runs on a thread of its own, never on a session's. A server that cannot be
/// reached refuses nothing (that is the mirror being down, which pgdual rides out as before); the
/// next session after kRetryAfter checks again, as it does after a refusal, so an operator who runs
/// `pgdual init` needs no restart (sessions already refused keep their verdict until they reconnect).
class DatabaseSetup {
 public:
  using Clock = std::chrono::steady_clock;

  /// What a session may do in its database.
  struct Verdict {
    bool writes_allowed = true;
    std::string refusal;  ///< when writes are not allowed: why, and the command that fixes it
  };

  DatabaseSetup(std::shared_ptr<const config::ProxyConfig> config, std::filesystem::path config_file,
                std::shared_ptr<spdlog::logger> log);
  ~DatabaseSetup();

  DatabaseSetup(const DatabaseSetup&) = delete;
  DatabaseSetup& operator=(const DatabaseSetup&) = delete;

  /// The verdict for a session of `role` in `database`, once the database is set up or found
  /// impossible to set up; a set-up still running at `deadline` refuses writes for this session.
  Awaitable<Verdict> verdict(const std::string& database, const std::string& role, Clock::time_point deadline);

 private:
  enum class Phase : std::uint8_t { running, ready, refused, unverified };

  struct State {
    Phase phase = Phase::running;
    std::string refusal;                           ///< Phase::refused: for every role
    std::vector<std::string> roles_without_rights;  ///< Phase::ready: roles whose writes the mirror refuses
    Clock::time_point settled_at{};
    /// The logins the set-up gave the ledger to: the configured ones, and each other role a session
    /// came as (a role looked up through [auth], or added to the file by a reload).
    std::set<std::string> roles;
  };

  /// Starts a set-up of `database` unless one runs or its last verdict holds for `role`. Under mutex_.
  void start_if_due(const std::string& database, const std::string& role);
  /// The whole set-up of `database`, the ledger granted to `roles`, on pool_. Blocking.
  State set_up(const std::string& database, std::set<std::string> roles) const;
  [[nodiscard]] Verdict verdict_for(const std::string& database, const State& state, const std::string& role) const;

  std::shared_ptr<const config::ProxyConfig> config_;
  std::filesystem::path config_file_;
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mutex_;
  std::map<std::string, State> databases_;  ///< under mutex_
  boost::asio::thread_pool pool_{1};
};

}  // namespace pgdual::proxy
