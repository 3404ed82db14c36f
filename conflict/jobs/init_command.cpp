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
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

constexpr int kUsageError = 2;

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

/// Version 5: where a pgdual.ddl message comes from. Any role may call pg_logical_emit_message, and
/// the mirror's apply runs a carried DDL as the role the message names: a message written by hand
/// could run anything there as anyone. So pgdual's sessions carry DDL through pgdual.emit_ddl,
/// which refuses a role the session's login may not become (SET ROLE's rule, so nothing is gained
/// by naming one), and, in the same transaction just before the message, inserts the digest of its
/// content into pgdual.ddl_origin and deletes it again. That table only the function's owner may
/// write; the apply runs a message only after such an insert in its transaction (docs/wal-mirror.md).
/// The function is SECURITY DEFINER for that insert, its search_path pinned.
constexpr std::string_view kSchemaV5Sql = R"sql(
BEGIN;
CREATE TABLE IF NOT EXISTS pgdual.ddl_origin (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  digest text NOT NULL
);
COMMENT ON TABLE pgdual.ddl_origin IS
  'WAL mirror: the digest of each pgdual.ddl message, inserted and deleted by pgdual.emit_ddl in the '
  'message''s transaction: the mirror''s apply runs no DDL message without it. Always empty.';
REVOKE ALL ON pgdual.ddl_origin FROM PUBLIC;
CREATE OR REPLACE FUNCTION pgdual.emit_ddl(role name, search_path text, statement text) RETURNS pg_lsn
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $function$
DECLARE
  content text := role || E'\n' || search_path || E'\n' || statement;
  origin bigint;
BEGIN
  IF NOT pg_has_role(session_user, role, 'MEMBER') THEN
    RAISE EXCEPTION 'pgdual: login % may not carry DDL as role %', session_user, role USING ERRCODE = '42501';
  END IF;
  INSERT INTO pgdual.ddl_origin (digest)
    VALUES (encode(sha256(convert_to(content, current_setting('server_encoding'))), 'hex'))
    RETURNING id INTO origin;
  DELETE FROM pgdual.ddl_origin WHERE id = origin;
  RETURN pg_logical_emit_message(true, 'pgdual.ddl', content);
END;
$function$;
ALTER FUNCTION pgdual.emit_ddl(name, text, text) OWNER TO CURRENT_USER;
GRANT USAGE ON SCHEMA pgdual TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgdual.emit_ddl(name, text, text) TO PUBLIC;
INSERT INTO pgdual.schema_version (version) VALUES (5) ON CONFLICT DO NOTHING;
COMMIT;
)sql";

/// Versions 3 and 4: no table is left without a replica identity. Once a table is in a publication
/// that publishes updates and deletes (the WAL mirror's is FOR ALL TABLES), the primary refuses its
/// UPDATE and DELETE unless it has one, and a client's write must never fail because of pgdual. So a
/// table without a primary key whose replica identity is DEFAULT gets REPLICA IDENTITY FULL: the
/// existing ones from init itself (kTablesWithoutIdentitySql), the ones created or altered later from
/// the event trigger below, whoever runs the DDL. Both backends get it: either may be the primary
/// after a swap.
///
/// Version 4: FULL is pgdual's stopgap, and a costly one: the mirror can match such a row by all its
/// columns only, with a scan of the table per UPDATE or DELETE. A table that gets its primary key
/// later (CREATE TABLE, load, ADD PRIMARY KEY: how pgbench -i and every pg_restore build tables) goes
/// back to DEFAULT. pgdual.identity_full remembers the tables pgdual switched, so that a table its
/// owner made FULL on purpose (for another consumer of the WAL) keeps it.
///
/// The trigger never makes the client's DDL fail: a table it cannot switch is a WARNING. It is ENABLE
/// ALWAYS so that it also fires for the DDL the WAL apply runs on the mirror (session_replication_role
/// = replica there). It runs as its owner, a superuser (SECURITY DEFINER): the role running the DDL
/// may not write pgdual's table. search_path is pinned, as for any such function.
constexpr std::string_view kEventTriggerName = conflict::kReplicaIdentityTrigger;

constexpr std::string_view kIdentityTableSql = R"sql(
CREATE TABLE IF NOT EXISTS pgdual.identity_full (
  relation oid PRIMARY KEY,
  set_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pgdual.identity_full IS
  'Tables pgdual gave REPLICA IDENTITY FULL because they had no primary key; back to DEFAULT once they have one.';
)sql";

constexpr std::string_view kIdentityFunctionSql = R"sql(
CREATE OR REPLACE FUNCTION pgdual.replica_identity_full() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $function$
DECLARE
  target record;
BEGIN
  FOR target IN
    SELECT DISTINCT c.oid, format('%I.%I', n.nspname, c.relname) AS name,
           EXISTS (SELECT FROM pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary) AS keyed
    FROM pg_event_trigger_ddl_commands() AS command
    -- A primary key dropped from a partitioned table is dropped from its partitions too.
    CROSS JOIN LATERAL (SELECT command.objid AS relid
                        UNION SELECT tree.relid FROM pg_partition_tree(command.objid) AS tree) AS member
    JOIN pg_class AS c ON c.oid = member.relid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE command.classid = 'pg_class'::regclass
      AND c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdual')
  LOOP
    BEGIN
      IF NOT target.keyed AND (SELECT relreplident FROM pg_class WHERE oid = target.oid) = 'd' THEN
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', target.name);
        INSERT INTO pgdual.identity_full (relation) VALUES (target.oid) ON CONFLICT DO NOTHING;
        RAISE LOG 'pgdual: REPLICA IDENTITY FULL on table %, which has no primary key, so that a publication '
                  'does not make UPDATE and DELETE on it fail', target.name;
      ELSIF target.keyed AND EXISTS (SELECT FROM pgdual.identity_full WHERE relation = target.oid) THEN
        DELETE FROM pgdual.identity_full WHERE relation = target.oid;
        IF (SELECT relreplident FROM pg_class WHERE oid = target.oid) = 'f' THEN
          EXECUTE format('ALTER TABLE %s REPLICA IDENTITY DEFAULT', target.name);
          RAISE LOG 'pgdual: REPLICA IDENTITY DEFAULT again on table %, which has a primary key now', target.name;
        END IF;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgdual: could not adjust the replica identity of table %: %; without a primary key or a '
                    'replica identity, UPDATE and DELETE on it fail once it is published', target.name, SQLERRM;
    END;
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'pgdual: replica identity check failed: %', SQLERRM;
END;
$function$;
-- CREATE OR REPLACE keeps the owner of a function someone else made; its rights are the trigger's.
ALTER FUNCTION pgdual.replica_identity_full() OWNER TO CURRENT_USER;
REVOKE ALL ON FUNCTION pgdual.replica_identity_full() FROM PUBLIC;
COMMENT ON FUNCTION pgdual.replica_identity_full() IS
  'Event trigger pgdual_replica_identity: REPLICA IDENTITY FULL for each table created or altered without '
  'a primary key, so that a publication never makes UPDATE or DELETE on it fail; DEFAULT again once it has one.';
DO $do$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_event_trigger WHERE evtname = 'pgdual_replica_identity') THEN
    CREATE EVENT TRIGGER pgdual_replica_identity ON ddl_command_end
      WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
      EXECUTE FUNCTION pgdual.replica_identity_full();
  END IF;
END;
$do$;
ALTER EVENT TRIGGER pgdual_replica_identity ENABLE ALWAYS;
)sql";

/// The user tables that would refuse UPDATE and DELETE once published, as quoted qualified names.
/// Temporary tables are never published (and other sessions' cannot be altered).
constexpr std::string_view kTablesWithoutIdentitySql = R"sql(
SELECT format('%I.%I', n.nspname, c.relname), c.oid::text
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND c.relreplident = 'd'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdual')
  AND NOT EXISTS (SELECT FROM pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)
ORDER BY 1
)sql";

/// Schema versions 3 and 4 in one transaction: the existing tables, then the event trigger when the role
/// may create one. Neither a table that cannot be switched nor a missing superuser fails init: each
/// is a warning naming what was skipped.
void install_replica_identity(PgClient& client, const config::BackendConfig& backend, const std::string& database) {
  const char* name = backend.name.c_str();
  client.execute("BEGIN");
  // An ALTER waits for the table's lock; it must not stall init, nor queue clients behind it, for long.
  client.execute("SET LOCAL lock_timeout = '5s'");
  client.execute(std::string{kIdentityTableSql});
  for (const auto& row : client.query(std::string{kTablesWithoutIdentitySql})) {
    const std::string table = row.at(0).value_or("");
    client.execute("SAVEPOINT pgdual_identity");
    try {
      client.execute("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
      client.execute("INSERT INTO pgdual.identity_full (relation) VALUES ($1::oid) ON CONFLICT DO NOTHING",
                     PgClient::Row{row.at(1).value_or("")});
      client.execute("RELEASE SAVEPOINT pgdual_identity");
      std::printf("%s: REPLICA IDENTITY FULL on table %s, which has no primary key\n", name, table.c_str());
    } catch (const PgClientError& error) {
      client.execute("ROLLBACK TO SAVEPOINT pgdual_identity");
      std::fprintf(stderr,
                   "pgdual init: warning: %s: table %s has no primary key and was left without a replica identity "
                   "(%s); once it is published, UPDATE and DELETE on it fail: run init as its owner or a "
                   "superuser, or give it a primary key\n",
                   name, table.c_str(), error.what());
    }
  }
  if (client.query_value("SELECT current_setting('is_superuser')") == "on") {
    client.execute(std::string{kIdentityFunctionSql});
  } else if (client.query_value("SELECT count(*) FROM pg_event_trigger WHERE evtname = '" +
                                std::string{kEventTriggerName} + "'") == "0") {
    std::fprintf(stderr,
                 "pgdual init: warning: %s: event trigger %s not installed in database \"%s\": role \"%s\" is not a "
                 "superuser, and only a superuser may create one. A table created later without a primary key "
                 "gets no replica identity, so once it is published UPDATE and DELETE on it fail: run init with "
                 "--user naming a superuser\n",
                 name, kEventTriggerName.data(), database.c_str(), client.query_value("SELECT current_user").c_str());
  }
  client.execute("INSERT INTO pgdual.schema_version (version) VALUES (3), (4) ON CONFLICT DO NOTHING");
  client.execute("COMMIT");
}

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
                    const std::string& database) {
  try {
    PgClient client{backend, user, database};
    client.execute(std::string{kSchemaSql});
    client.execute(std::string{kSchemaV2Sql});
    install_replica_identity(client, backend, database);
    client.execute(std::string{kSchemaV5Sql});
    const auto version = client.query_value("SELECT max(version) FROM pgdual.schema_version");
    std::printf("%s: pgdual schema version %s ready in database \"%s\"\n", backend.name.c_str(), version.c_str(),
                database.c_str());
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
  const auto act = options->drop ? drop_wal_stream : install_schema;
  const bool onprem_done = act(config->onprem, *user, options->database);
  const bool cloud_done = act(config->cloud, *user, options->database);
  return onprem_done && cloud_done ? 0 : 1;
}

}  // namespace pgdual::jobs
