#include "conflict/jobs/readiness_checks.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>
#include <utility>

#include "conflict/jobs/database_readiness.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/wal_preflight.h"
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

/// The primary's databases a client may use: pg_database rows that allow connections, not
/// templates, not "postgres".
constexpr std::string_view kDatabasesSql = R"sql(
SELECT datname FROM pg_catalog.pg_database
WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres'
ORDER BY 1
)sql";

/// The primary's replication capacity: slots and WAL senders, configured and in use, and every slot
/// with whether a walsender reads it. pg_stat_replication rather than pg_stat_activity, whose
/// backend_type a role without pg_read_all_stats sees as NULL.
constexpr std::string_view kCapacitySql = R"sql(
SELECT current_setting('max_replication_slots'), (SELECT count(*) FROM pg_catalog.pg_replication_slots),
       current_setting('max_wal_senders'), (SELECT count(*) FROM pg_catalog.pg_stat_replication)
)sql";
constexpr std::string_view kSlotsSql = "SELECT slot_name, active::text FROM pg_catalog.pg_replication_slots";

std::vector<std::string> databases_to_check(ReadinessRun& run) {
  const auto& primary = run.config.primary_backend();
  if (!run.scope.databases.empty()) {
    run.add(Verdict::ok, server_subject(primary), "databases", "checking " + names_list(run.scope.databases) +
                                                                   ", as named");
    return run.scope.databases;
  }
  const auto& user = user_named(run.config, run.config.mirror.replication_user);
  auto client = run.log_in(primary, user, "postgres");
  if (!client) {
    run.add(Verdict::failed, server_subject(primary), "databases",
            "cannot list the databases without a login to database \"postgres\"",
            "name the databases clients use: pgdual check --database NAME (repeatable)");
    return {};
  }
  std::vector<std::string> names;
  try {
    for (const auto& row : client->query(std::string{kDatabasesSql})) names.push_back(row.at(0).value_or(""));
  } catch (const PgClientError& error) {
    run.add(Verdict::failed, server_subject(primary), "databases",
            "cannot list the databases: " + one_line(error, primary), "name them: pgdual check --database NAME");
    return {};
  }
  if (names.empty()) {
    run.add(Verdict::warning, server_subject(primary), "databases",
            "no database besides \"postgres\" and the templates: nothing for clients to use",
            "create the application's database, or name one: pgdual check --database NAME");
  } else {
    run.add(Verdict::ok, server_subject(primary), "databases",
            "checking " + names_list(names) + ": every one that allows connections, except \"postgres\"");
  }
  return names;
}

struct Capacity {
  long long max_slots = 0;
  long long slots_in_use = 0;
  long long max_senders = 0;
  long long senders_in_use = 0;
  std::size_t slots_needed = 0;    ///< databases whose slot does not exist yet
  std::size_t senders_needed = 0;  ///< databases whose slot no walsender reads yet
};

Capacity capacity_of(PgClient& client, const std::vector<std::string>& databases) {
  const auto row = client.query(std::string{kCapacitySql}).at(0);
  Capacity capacity{.max_slots = std::stoll(row.at(0).value_or("0")),
                    .slots_in_use = std::stoll(row.at(1).value_or("0")),
                    .max_senders = std::stoll(row.at(2).value_or("0")),
                    .senders_in_use = std::stoll(row.at(3).value_or("0"))};
  const auto slots = client.query(std::string{kSlotsSql});
  for (const auto& database : databases) {
    const auto slot = conflict::slot_name_for(database);
    const auto found = std::ranges::find_if(slots, [&](const auto& each) { return each.at(0) == slot; });
    if (found == slots.end()) ++capacity.slots_needed;
    if (found == slots.end() || found->at(1) != "true") ++capacity.senders_needed;
  }
  return capacity;
}

void add_capacity(ReadinessRun& run, std::string_view what, std::string_view setting, long long configured,
                  long long in_use, std::size_t needed) {
  const auto& primary = run.config.primary_backend();
  const auto free = configured - in_use;
  const auto found = std::string{setting} + " is " + std::to_string(configured) + ", " + std::to_string(in_use) +
                     " in use, " + std::to_string(needed) + " more needed (one per database without its own)";
  if (free >= static_cast<long long>(needed)) return run.add(Verdict::ok, server_subject(primary), what, found);
  run.add(Verdict::failed, server_subject(primary), what, found,
          "raise " + std::string{setting} + " to " + std::to_string(in_use + static_cast<long long>(needed)) +
              " or more in postgresql.conf and restart the server, or set mirror.mode = \"statement\"");
}

// One slot and one walsender per database: the preflight asks for one free of each, this for all.
void check_capacity(ReadinessRun& run, const std::vector<std::string>& databases) {
  const auto& primary = run.config.primary_backend();
  auto client = run.log_in(primary, user_named(run.config, run.config.mirror.replication_user), databases.front(),
                           LoginCheck::silent);
  if (!client) return;
  try {
    const auto capacity = capacity_of(*client, databases);
    add_capacity(run, "replication slots", "max_replication_slots", capacity.max_slots, capacity.slots_in_use,
                 capacity.slots_needed);
    add_capacity(run, "WAL senders", "max_wal_senders", capacity.max_senders, capacity.senders_in_use,
                 capacity.senders_needed);
  } catch (const PgClientError& error) {
    run.add(Verdict::failed, server_subject(primary), "replication slots",
            "cannot read the replication settings: " + one_line(error, primary),
            "the WAL mirror needs PostgreSQL 15 or later, or set mirror.mode = \"statement\"");
  }
}

// The slot keeps WAL on the primary until the mirror has applied it: up to max_lag_bytes per database.
void warn_of_retained_wal(ReadinessRun& run, std::size_t databases) {
  const auto& primary = run.config.primary_backend();
  const auto bytes = run.config.mirror.max_lag_bytes * databases;
  run.add(Verdict::warning, server_subject(primary), "disk",
          "not checked: PostgreSQL offers no SQL function that reads a disk's free space; pgdual's slots may keep up "
          "to " + byte_text(bytes) + " of WAL here (mirror.max_lag_bytes for each of " + std::to_string(databases) +
              (databases == 1 ? " database)" : " databases)"),
          "check on " + primary.name + "'s host that the file system of its pg_wal directory has " + byte_text(bytes) +
              " free, or lower mirror.max_lag_bytes");
}

}  // namespace

std::vector<ReadinessCheck> check_readiness(const config::ProxyConfig& config, const ReadinessScope& scope) {
  ReadinessRun run{config, scope, {}};
  const auto databases = databases_to_check(run);
  for (const auto& database : databases) check_database(run, database);
  if (config.mirror.mode == config::MirrorMode::wal && !databases.empty()) {
    check_capacity(run, databases);
    warn_of_retained_wal(run, databases.size());
  }
  return std::move(run.checks);
}

}  // namespace pgdual::jobs
