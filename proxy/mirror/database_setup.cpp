#include "proxy/mirror/database_setup.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/pgdual_schema.h"

namespace pgdual::proxy {
namespace {

/// How soon after a refusal, or a server that could not be reached, the next session checks again.
constexpr auto kRetryAfter = std::chrono::seconds{5};
/// How often a waiting session looks at the set-up's state.
constexpr auto kPoll = std::chrono::milliseconds{10};

/// One server's part of a database's set-up.
struct ServerSetup {
  bool reached = false;
  std::string failure;                           ///< the schema could not be installed: why
  std::vector<std::string> roles_without_rights;  ///< of the rights checked, once installed
};

const config::UserConfig& user_named(const config::ProxyConfig& config, const std::string& name) {
  const auto* user = config.find_user(name);
  // The configuration was validated: mirror.replication_user and apply_user are [[users]] entries.
  if (user == nullptr) throw std::logic_error{"mirror user " + name + " is not in [[users]]"};
  return *user;
}

/// The rights without which a session's writes cannot reach the mirror: in wal mode the apply's,
/// for every session at once; in statement mode each login's own ledger rights.
jobs::SchemaRights rights_needed(const config::ProxyConfig& config, const jobs::SchemaRights& all) {
  if (config.mirror.mode == config::MirrorMode::wal) return {.ledger_roles = {}, .apply_role = all.apply_role};
  return {.ledger_roles = all.ledger_roles, .apply_role = {}};
}

/// Installs or completes pgdual's schema on one server and grants what it may; then reads which of
/// `needed` still lack their rights. Names only in the log: tables, roles, the server's message.
ServerSetup set_up_server(const config::BackendConfig& backend, const config::UserConfig& user,
                          const std::string& database, const jobs::SchemaRights& rights,
                          const jobs::SchemaRights& needed, spdlog::logger& log) {
  ServerSetup result;
  try {
    jobs::PgClient client{backend, user, database};
    result.reached = true;
    jobs::SchemaSetup setup;
    if (jobs::installed_schema_version(client) < jobs::kSchemaVersion) {
      setup = jobs::install_schema(client, rights);
      log.info("database {}: pgdual schema version {} installed on {} as role {}, for its first session", database,
               setup.version, backend.name, user.name);
    } else {
      jobs::grant_rights(client, rights, setup);
    }
    for (const auto& change : setup.changes) log.info("database {} on {}: {}", database, backend.name, change);
    for (const auto& warning : setup.warnings) log.warn("database {} on {}: {}", database, backend.name, warning);
    result.roles_without_rights = jobs::roles_without_rights(client, needed);
  } catch (const jobs::PgClientError& error) {
    // No SQLSTATE: the server was not reached, or the connection was lost.
    if (error.sqlstate().empty()) {
      log.warn("database {}: could not check pgdual's schema on {}: {}", database, backend.name, error.what());
      result.reached = false;
    } else {
      result.failure = "pgdual's schema could not be set up on " + backend.name + " as role \"" + user.name +
                       "\" (" + error.sqlstate() + ": " + error.what() + ")";
    }
  }
  return result;
}

}  // namespace

DatabaseSetup::DatabaseSetup(std::shared_ptr<const config::ProxyConfig> config, std::filesystem::path config_file,
                             std::shared_ptr<spdlog::logger> log)
    : config_{std::move(config)}, config_file_{std::move(config_file)}, log_{std::move(log)} {}

// A set-up under way finishes (its connections are bounded by connect_timeout_ms); none queued starts.
DatabaseSetup::~DatabaseSetup() {
  pool_.stop();
  pool_.join();
}

Awaitable<DatabaseSetup::Verdict> DatabaseSetup::verdict(const std::string& database, const std::string& role,
                                                         Clock::time_point deadline) {
  {
    const std::lock_guard lock{mutex_};
    start_if_due(database, role);
  }
  asio::steady_timer timer{co_await asio::this_coro::executor};
  for (;;) {
    {
      const std::lock_guard lock{mutex_};
      const auto& state = databases_.at(database);
      if (state.phase != Phase::running) co_return verdict_for(database, state, role);
    }
    if (Clock::now() >= deadline) {
      co_return Verdict{.writes_allowed = false,
                        .refusal = "pgdual is still setting up database \"" + database +
                                   "\" for mirroring (its servers are slow to answer); the write was not run: "
                                   "try again"};
    }
    timer.expires_after(kPoll);
    co_await timer.async_wait(use_awaitable);
  }
}

// In statement mode a session's own login writes the ledger on the mirror: a role the last set-up
// did not cover sets the database up again, for it too, and so does a role refused then (once the
// retry pause is over), which an operator may have granted the ledger since.
void DatabaseSetup::start_if_due(const std::string& database, const std::string& role) {
  auto [entry, added] = databases_.try_emplace(database);
  auto& state = entry->second;
  const bool statement_mode = config_->mirror.mode == config::MirrorMode::statement;
  const bool paused = Clock::now() - state.settled_at < kRetryAfter;
  if (added) {
    for (const auto& user : config_->users) state.roles.insert(user.name);
  } else if (state.phase == Phase::running) {
    return;
  } else if (state.phase == Phase::ready) {
    const bool refused_role = std::ranges::find(state.roles_without_rights, role) != state.roles_without_rights.end();
    if (!statement_mode || (state.roles.contains(role) && (!refused_role || paused))) return;
  } else if (paused) {
    return;
  }
  state.roles.insert(role);
  state.phase = Phase::running;
  asio::post(pool_, [this, database, roles = state.roles] {
    auto next = set_up(database, roles);
    const std::lock_guard lock{mutex_};
    databases_[database] = std::move(next);
  });
}

DatabaseSetup::Verdict DatabaseSetup::verdict_for(const std::string& database, const State& state,
                                                  const std::string& role) const {
  if (state.phase == Phase::refused) return {.writes_allowed = false, .refusal = state.refusal};
  if (std::ranges::find(state.roles_without_rights, role) == state.roles_without_rights.end()) return {};
  return {.writes_allowed = false,
          .refusal = "role \"" + role + "\" may not write pgdual.ledger on the mirror in database \"" + database +
                     "\", so its writes cannot be mirrored; the write was not run. Run `GRANT SELECT, INSERT, DELETE "
                     "ON pgdual.ledger TO " + role + "` there as the owner of pgdual's tables (`pgdual init --config " +
                     config_file_.string() + " --database " + database +
                     "` grants it to every configured user), then reconnect"};
}

DatabaseSetup::State DatabaseSetup::set_up(const std::string& database, std::set<std::string> roles) const {
  const jobs::SchemaRights rights{.ledger_roles = {roles.begin(), roles.end()}, .apply_role = config_->mirror.apply_user};
  const auto needed = rights_needed(*config_, rights);
  const auto primary = set_up_server(config_->primary_backend(), user_named(*config_, config_->mirror.replication_user),
                                     database, rights, {}, *log_);
  const auto mirror = set_up_server(config_->mirror_backend(), user_named(*config_, config_->mirror.apply_user),
                                    database, rights, needed, *log_);
  State state{.phase = Phase::ready,
              .refusal = {},
              .roles_without_rights = {},
              .settled_at = Clock::now(),
              .roles = std::move(roles)};
  std::string failures = primary.failure;
  if (!mirror.failure.empty()) failures += (failures.empty() ? "" : "; ") + mirror.failure;
  const bool apply_refused = !needed.apply_role.empty() && !mirror.roles_without_rights.empty();
  if (apply_refused) {
    failures += (failures.empty() ? "" : "; ") + std::string{"the WAL mirror's apply user \""} + needed.apply_role +
                "\" may not write pgdual.applied on the mirror";
  }
  if (!failures.empty()) {
    state.phase = Phase::refused;
    state.refusal = "database \"" + database + "\" is not set up for mirroring: " + failures +
                    "; the write was not run. Run `pgdual init --config " + config_file_.string() + " --database " +
                    database + " --user <a superuser>`, then reconnect";
    log_->error("database {}: writes refused until it is set up: {}", database, failures);
  } else if (!primary.reached || !mirror.reached) {
    state.phase = Phase::unverified;
  } else if (needed.apply_role.empty()) {
    state.roles_without_rights = mirror.roles_without_rights;
    for (const auto& role : state.roles_without_rights) {
      log_->error("database {}: writes of role {} refused: it may not write pgdual.ledger on the mirror", database,
                  role);
    }
  }
  return state;
}

}  // namespace pgdual::proxy
