#include "conflict/jobs/init_command.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/pgdual_schema.h"
#include "conflict/jobs/sync_mirror.h"
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

constexpr int kUsageError = 2;

struct InitOptions {
  std::string config_file;
  std::string database;
  std::string user;
  bool drop = false;  ///< remove the WAL mirror's slot and publication instead
};

std::string quoted(std::string_view text) { return "\"" + std::string{text} + "\""; }

constexpr std::array<std::string_view, 3> kValuedOptions{"--config", "--database", "--user"};

Expected<InitOptions, std::string> parse_arguments(std::span<char*> args) {
  InitOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag == "--drop") {
      options.drop = true;
      continue;
    }
    if (!flag.starts_with("--")) return unexpected{"unexpected argument " + quoted(flag)};
    if (std::ranges::find(kValuedOptions, flag) == kValuedOptions.end()) {
      return unexpected{"unknown option " + quoted(flag)};
    }
    if (i + 1 == args.size() || std::string_view{args[i + 1]}.starts_with("--")) {
      return unexpected{std::string{flag} + " needs a value"};
    }
    (flag == "--config" ? options.config_file : flag == "--database" ? options.database : options.user) = args[++i];
  }
  if (options.config_file.empty()) return unexpected{std::string{"--config is required"}};
  if (options.database.empty()) return unexpected{std::string{"--database is required"}};
  return options;
}

bool install_schema(const config::BackendConfig& backend, const config::UserConfig& user,
                    const std::string& database, const SchemaRights& rights) {
  const char* name = backend.name.c_str();
  try {
    PgClient client{backend, user, database};
    const auto setup = jobs::install_schema(client, rights);
    for (const auto& change : setup.changes) std::printf("%s: %s\n", name, change.c_str());
    for (const auto& warning : setup.warnings) {
      std::fprintf(stderr, "pgdual init: warning: %s: %s\n", name, warning.c_str());
    }
    std::printf("%s: pgdual schema version %d ready in database \"%s\"\n", name, setup.version, database.c_str());
    return true;
  } catch (const PgClientError& error) {
    std::fprintf(stderr, "pgdual init: %s\n", error.what());
    return false;
  }
}

// The slot keeps WAL on the server for as long as it exists: dropping it is what frees the disk.
// One a walsender still reads (a running `pgdual serve`) is left alone, with its PID named, rather
// than the stream broken under it. pgdual's schema stays: its ledgers are the mirror's history.
bool drop_wal_stream(const config::BackendConfig& backend, const config::UserConfig& user,
                     const std::string& database) {
  const auto name = conflict::slot_name_for(database);
  try {
    PgClient client{backend, user, database};
    const auto slots = client.query(
        "SELECT coalesce(active_pid::text, '') FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", {name});
    if (!slots.empty() && slots.front().front().value_or("") != "") {
      std::fprintf(stderr,
                   "pgdual init: %s: replication slot \"%s\" is in use (walsender PID %s): stop pgdual serve first\n",
                   backend.name.c_str(), name.c_str(), slots.front().front()->c_str());
      return false;
    }
    if (!slots.empty()) client.execute("SELECT pg_catalog.pg_drop_replication_slot($1)", PgClient::Row{name});
    const bool published = !client.query("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1", {name}).empty();
    if (published) client.execute("DROP PUBLICATION " + conflict::quote_identifier(name));
    std::printf("%s: %s replication slot \"%s\", %s publication \"%s\" in database \"%s\"\n", backend.name.c_str(),
                slots.empty() ? "no" : "dropped", name.c_str(), published ? "dropped" : "no", name.c_str(),
                database.c_str());
    return true;
  } catch (const PgClientError& error) {
    std::fprintf(stderr, "pgdual init: %s\n", error.what());
    return false;
  }
}

// An empty cloud database is the usual start (docs/sync.md): until pgdual sync copies it, pgdual
// serve must not apply the primary's changes there, each of which would fail and be recorded.
bool note_empty_mirror(const config::ProxyConfig& config, const config::UserConfig& user,
                       const std::string& database) {
  try {
    PgClient primary{config.primary_backend(), user, database};
    PgClient mirror{config.mirror_backend(), user, database};
    const auto tables = tables_to_copy(primary);
    if (!record_waiting_if_empty(mirror, tables)) return true;
    std::printf("%s: database \"%s\" is empty while %s's holds %zu tables: pgdual serve applies nothing there until "
                "`pgdual sync --database %s` has copied it (docs/sync.md)\n",
                config.mirror_backend().name.c_str(), database.c_str(), config.primary_backend().name.c_str(),
                tables.size(), database.c_str());
    return true;
  } catch (const PgClientError& error) {
    std::fprintf(stderr, "pgdual init: %s\n", error.what());
    return false;
  }
}

}  // namespace

CommandHelp init_help() {
  return {.name = "init",
          .synopsis = "usage: pgdual init --config FILE --database NAME [--user NAME] [--drop]\n",
          .details = "Creates pgdual's schema, with its ledgers, in database NAME on both backends. Idempotent.\n"
                     "  --config FILE      pgdual's configuration, which names both backends\n"
                     "  --database NAME    the application database (required; run init for each one)\n"
                     "  --user NAME        the configured user to log in as (default: the first one)\n"
                     "  --drop             remove the WAL mirror's replication slot and publication instead\n"};
}

int run_init_command(std::span<char*> args) {
  if (asks_for_help(args)) return print_help(init_help());
  const auto options = parse_arguments(args);
  if (!options) return usage_error(init_help(), options.error());
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
  // Both backends, even when the first fails: the operator sees every problem at once. Either may
  // be the primary (after a swap of roles), so both may hold a slot.
  const auto rights = schema_rights(*config);
  const auto act = [&](const config::BackendConfig& backend) {
    if (options->drop) return drop_wal_stream(backend, *user, options->database);
    return install_schema(backend, *user, options->database, rights);
  };
  const bool onprem_done = act(config->onprem);
  const bool cloud_done = act(config->cloud);
  if (!onprem_done || !cloud_done) return 1;
  if (options->drop || config->mirror.mode != config::MirrorMode::wal) return 0;
  return note_empty_mirror(*config, *user, options->database) ? 0 : 1;
}

}  // namespace pgdual::jobs
