#include "conflict/jobs/init_command.h"

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"

namespace pgdual::jobs {
namespace {

constexpr int kUsageError = 2;

constexpr std::string_view kUsage = "usage: pgdual init --config FILE --database NAME [--user NAME]\n";

/// Version 1 of pgdual's schema. Every statement is idempotent, and the whole
/// runs in one transaction, so init can be repeated and never half-applies.
///
/// The ledger sits in the application's own database because a write unit's
/// key must commit in the same transaction as the write itself.
constexpr std::string_view kSchemaSql = R"sql(
BEGIN;
CREATE SCHEMA IF NOT EXISTS pgdual;
COMMENT ON SCHEMA pgdual IS 'pgdual dual-write proxy: bookkeeping, not application data';
CREATE TABLE IF NOT EXISTS pgdual.ledger (
  idempotency_key uuid PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE pgdual.ledger IS
  'One row per write unit applied here, inserted in the same transaction as the write, so a replayed unit '
  'applies at most once and an in-doubt commit can be looked up. Pruned by age.';
CREATE INDEX IF NOT EXISTS ledger_applied_at ON pgdual.ledger (applied_at);
CREATE TABLE IF NOT EXISTS pgdual.schema_version (
  version integer PRIMARY KEY,
  installed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pgdual.schema_version (version) VALUES (1) ON CONFLICT DO NOTHING;
COMMIT;
)sql";

/// Version 2: the WAL mirror's record of the primary's transactions it applied. Idempotent like
/// version 1, and run after it, so a database at version 1 is brought to version 2.
///
/// The row commits in the same mirror transaction as the changes, so after any crash the highest
/// commit_lsn of a source says exactly what is applied: a transaction the slot resends at or below
/// it is skipped. `source` is the slot's name and the primary's system identifier, so a primary
/// replaced by another (a role swap) starts a new source.
constexpr std::string_view kSchemaV2Sql = R"sql(
BEGIN;
CREATE TABLE IF NOT EXISTS pgdual.applied (
  source text NOT NULL,
  commit_lsn pg_lsn NOT NULL,
  xid bigint NOT NULL,
  unit_key uuid NULL,
  applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (source, commit_lsn)
);
COMMENT ON TABLE pgdual.applied IS
  'WAL mirror: one row per primary transaction applied here, inserted in the same transaction as its '
  'changes, so a transaction the slot sends again applies at most once. unit_key is pgdual''s key when the '
  'transaction came through pgdual.';
INSERT INTO pgdual.schema_version (version) VALUES (2) ON CONFLICT DO NOTHING;
COMMIT;
)sql";

struct InitOptions {
  std::string config_file;
  std::string database;
  std::string user;
};

std::optional<InitOptions> parse_arguments(std::span<char*> args) {
  InitOptions options;
  for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::string_view flag = args[i];
    if (flag == "--config") {
      options.config_file = args[i + 1];
    } else if (flag == "--database") {
      options.database = args[i + 1];
    } else if (flag == "--user") {
      options.user = args[i + 1];
    } else {
      return std::nullopt;
    }
  }
  if (args.size() % 2 != 0 || options.config_file.empty() || options.database.empty()) return std::nullopt;
  return options;
}

bool install_schema(const config::BackendConfig& backend, const config::UserConfig& user,
                    const std::string& database) {
  try {
    PgClient client{backend, user, database};
    client.execute(std::string{kSchemaSql});
    client.execute(std::string{kSchemaV2Sql});
    const auto version = client.query_value("SELECT max(version) FROM pgdual.schema_version");
    std::printf("%s: pgdual schema version %s ready in database \"%s\"\n", backend.name.c_str(), version.c_str(),
                database.c_str());
    return true;
  } catch (const PgClientError& error) {
    std::fprintf(stderr, "pgdual init: %s\n", error.what());
    return false;
  }
}

}  // namespace

int run_init_command(std::span<char*> args) {
  const auto options = parse_arguments(args);
  if (!options) {
    std::fputs(kUsage.data(), stderr);
    return kUsageError;
  }
  auto config = config::load_config(options->config_file);
  if (!config) {
    std::fprintf(stderr, "pgdual: %s\n", config.error().to_string().c_str());
    return kUsageError;
  }
  const auto* user = options->user.empty() ? &config->users.front() : config->find_user(options->user);
  if (user == nullptr) {
    std::fprintf(stderr, "pgdual init: user \"%s\" is not in %s\n", options->user.c_str(),
                 options->config_file.c_str());
    return kUsageError;
  }
  // Both backends, even when the first fails: the operator sees every problem at once.
  const bool onprem_ready = install_schema(config->onprem, *user, options->database);
  const bool cloud_ready = install_schema(config->cloud, *user, options->database);
  return onprem_ready && cloud_ready ? 0 : 1;
}

}  // namespace pgdual::jobs
