#include "conflict/jobs/pgdual_schema.h"

#include <string_view>

#include "conflict/sql_text.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

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

/// Versions 5 and 6: where a pgdual.ddl message comes from. Any role may call
/// pg_logical_emit_message, and the mirror's apply runs a carried DDL as the role the message names:
/// a message written by hand could run anything there as anyone. So pgdual's sessions carry DDL
/// through pgdual.emit_ddl, which refuses a role the session's login may not become (SET ROLE's
/// rule, so nothing is gained by naming one), and, in the same transaction just before the message,
/// inserts the digest of its content into pgdual.ddl_proof and deletes it again. That table only the
/// function's owner may write; the apply runs a message only after such an insert in its
/// transaction (docs/wal-mirror.md). The function is SECURITY DEFINER for that insert, its
/// search_path pinned.
///
/// Version 6 keeps the client from telling that the function ran, which version 5's
/// pgdual.ddl_origin did not: that table's IDENTITY column moved the session's lastval(), its
/// delete by key took predicate locks that failed two SERIALIZABLE transactions carrying DDL at the
/// same time (40001), and its insert failed a DDL in a read-only transaction with an error about
/// pgdual's INSERT instead of the DDL's own. pgdual.ddl_proof has no sequence and no index; the row
/// is deleted by the ctid its insert returned (a TID scan of the transaction's own row takes no
/// predicate lock), so it has REPLICA IDENTITY FULL, which the publication wants of a table it
/// deletes from. In a read-only transaction the function does nothing: the DDL fails on its own.
/// A pgdual.ddl_origin of version 5 is dropped; the apply still takes its inserts as proof of the
/// messages written before the upgrade.
constexpr std::string_view kSchemaV6Sql = R"sql(
BEGIN;
CREATE TABLE IF NOT EXISTS pgdual.ddl_proof (digest text NOT NULL);
ALTER TABLE pgdual.ddl_proof REPLICA IDENTITY FULL;
COMMENT ON TABLE pgdual.ddl_proof IS
  'WAL mirror: the digest of each pgdual.ddl message, inserted and deleted by pgdual.emit_ddl in the '
  'message''s transaction: the mirror''s apply runs no DDL message without it. Always empty.';
REVOKE ALL ON pgdual.ddl_proof FROM PUBLIC;
CREATE OR REPLACE FUNCTION pgdual.emit_ddl(role name, search_path text, statement text) RETURNS pg_lsn
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $function$
DECLARE
  content text := role || E'\n' || search_path || E'\n' || statement;
  proof tid;
BEGIN
  IF current_setting('transaction_read_only')::boolean THEN
    RETURN NULL;
  END IF;
  IF NOT pg_has_role(session_user, role, 'MEMBER') THEN
    RAISE EXCEPTION 'pgdual: login % may not carry DDL as role %', session_user, role USING ERRCODE = '42501';
  END IF;
  INSERT INTO pgdual.ddl_proof (digest)
    VALUES (encode(sha256(convert_to(content, current_setting('server_encoding'))), 'hex'))
    RETURNING ctid INTO proof;
  DELETE FROM pgdual.ddl_proof WHERE ctid = proof;
  RETURN pg_logical_emit_message(true, 'pgdual.ddl', content);
END;
$function$;
ALTER FUNCTION pgdual.emit_ddl(name, text, text) OWNER TO CURRENT_USER;
GRANT USAGE ON SCHEMA pgdual TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgdual.emit_ddl(name, text, text) TO PUBLIC;
DROP TABLE IF EXISTS pgdual.ddl_origin;
INSERT INTO pgdual.schema_version (version) VALUES (5), (6) ON CONFLICT DO NOTHING;
COMMIT;
)sql";

/// Version 7: `pgdual sync`'s record of the database it copies onto this server (docs/sync.md), one
/// row at most. `pgdual init` writes "waiting" in an empty mirror database whose primary holds
/// tables; the sync writes the rest. pgdual serve's apply reads it before each round, stands still
/// while it says waiting or copying, and marks it in sync once it has caught up. It lives on the mirror, in
/// the database copied, so that it outlasts both processes: a serve started in the middle of a
/// sync never applies onto a half-made copy.
constexpr std::string_view kSchemaV7Sql = R"sql(
BEGIN;
CREATE TABLE IF NOT EXISTS pgdual.sync (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  state text NOT NULL CHECK (state IN ('waiting', 'copying', 'catching up', 'in sync')),
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  slot_lsn pg_lsn NULL,
  catch_up_to pg_lsn NULL,
  tables_total integer NOT NULL DEFAULT 0,
  tables_done integer NOT NULL DEFAULT 0,
  rows_copied bigint NOT NULL DEFAULT 0,
  bytes_copied bigint NOT NULL DEFAULT 0,
  bytes_total bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE pgdual.sync IS
  'pgdual sync: where the copy of this database from the primary stands (waiting, copying, catching up, '
  'in sync), and its progress. pgdual serve applies no change here while it says waiting or copying.';
INSERT INTO pgdual.schema_version (version) VALUES (7) ON CONFLICT DO NOTHING;
COMMIT;
)sql";

/// Version 8: the pgdual serve instances in front of this database (docs/deployment.md), one row
/// each, written by each instance every second. Several instances share the servers, and the one
/// whose apply connection holds the apply lease (an advisory lock on the mirror) applies the WAL
/// stream; the others read here who does, and whether it is still alive. UNLOGGED: never in the
/// WAL stream, so never mirrored, and cheap to rewrite every second; a crash of the server empties
/// it, and the instances write their rows again within a second.
constexpr std::string_view kSchemaV8Sql = R"sql(
BEGIN;
CREATE UNLOGGED TABLE IF NOT EXISTS pgdual.instances (
  instance uuid PRIMARY KEY,
  listen text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  apply_pid integer NULL
);
COMMENT ON TABLE pgdual.instances IS
  'pgdual serve instances using this database: each writes its row every second. apply_pid is the backend '
  'of the instance''s apply connection here when it took the apply lease.';
INSERT INTO pgdual.schema_version (version) VALUES (8) ON CONFLICT DO NOTHING;
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
/// may create one. Neither a table that cannot be switched nor a missing superuser fails the set-up:
/// each is a warning naming what was skipped.
void install_replica_identity(PgClient& client, SchemaSetup& setup) {
  client.execute("BEGIN");
  // An ALTER waits for the table's lock; it must not stall the set-up, nor queue clients behind it, for long.
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
      setup.changes.push_back("REPLICA IDENTITY FULL on table " + table + ", which has no primary key");
    } catch (const PgClientError& error) {
      client.execute("ROLLBACK TO SAVEPOINT pgdual_identity");
      setup.warnings.push_back("table " + table + " has no primary key and was left without a replica identity (" +
                               error.what() +
                               "); once it is published, UPDATE and DELETE on it fail: run init as its owner or a "
                               "superuser, or give it a primary key");
    }
  }
  if (client.query_value("SELECT current_setting('is_superuser')") == "on") {
    client.execute(std::string{kIdentityFunctionSql});
  } else if (client.query_value("SELECT count(*) FROM pg_event_trigger WHERE evtname = " +
                                conflict::quote_literal(kEventTriggerName)) == "0") {
    setup.warnings.push_back(
        "event trigger " + std::string{kEventTriggerName} + " not installed: role \"" +
        client.query_value("SELECT current_user") +
        "\" is not a superuser, and only a superuser may create one. A table created later without a primary key "
        "gets no replica identity, so once it is published UPDATE and DELETE on it fail: run init with --user "
        "naming a superuser");
  }
  client.execute("INSERT INTO pgdual.schema_version (version) VALUES (3), (4) ON CONFLICT DO NOTHING");
  client.execute("COMMIT");
}

/// Each role of `rights` with the table and the privileges it needs there.
struct Grant {
  std::string role;
  std::string_view table;
  std::string_view privileges;
};

std::vector<Grant> grants_of(const SchemaRights& rights) {
  std::vector<Grant> grants;
  for (const auto& role : rights.ledger_roles) grants.push_back({role, "pgdual.ledger", "SELECT, INSERT, DELETE"});
  if (!rights.apply_role.empty()) {
    grants.push_back({rights.apply_role, "pgdual.applied", "SELECT, INSERT"});
    grants.push_back({rights.apply_role, "pgdual.sync", "SELECT, UPDATE"});
    grants.push_back({rights.apply_role, "pgdual.instances", "SELECT, INSERT, UPDATE, DELETE"});
  }
  return grants;
}

/// The grants whose role exists and lacks one of its privileges. has_table_privilege takes one
/// privilege or a comma-separated list, any of which suffices: hence one call per privilege.
std::vector<Grant> missing_grants(PgClient& client, const SchemaRights& rights) {
  std::vector<Grant> missing;
  for (auto& grant : grants_of(rights)) {
    const auto rows = client.query(
        "SELECT bool_and(has_table_privilege(r.oid, $2::regclass, privilege)) "
        "FROM pg_catalog.pg_roles AS r, unnest(string_to_array($3, ', ')) AS privilege WHERE r.rolname = $1",
        {grant.role, std::string{grant.table}, std::string{grant.privileges}});
    if (!rows.empty() && rows.front().front() == "f") missing.push_back(std::move(grant));
  }
  return missing;
}

}  // namespace

SchemaRights schema_rights(const config::ProxyConfig& config) {
  SchemaRights rights{.ledger_roles = {}, .apply_role = config.mirror.apply_user};
  for (const auto& user : config.users) rights.ledger_roles.push_back(user.name);
  return rights;
}

SchemaSetup install_schema(PgClient& client, const SchemaRights& rights) {
  SchemaSetup setup;
  client.execute(std::string{kSchemaSql});
  client.execute(std::string{kSchemaV2Sql});
  install_replica_identity(client, setup);
  client.execute(std::string{kSchemaV6Sql});
  client.execute(std::string{kSchemaV7Sql});
  client.execute(std::string{kSchemaV8Sql});
  // Which version is installed is no secret: any login may read it, and so learn whether a
  // database is set up (DatabaseSetup, as the logins pgdual uses for itself).
  client.execute("GRANT SELECT ON pgdual.schema_version TO PUBLIC");
  grant_rights(client, rights, setup);
  setup.version = installed_schema_version(client);
  return setup;
}

// Two statements: a query naming a table that does not exist fails as it is parsed.
int installed_schema_version(PgClient& client) {
  if (client.query_value("SELECT to_regclass('pgdual.schema_version') IS NOT NULL") != "t") return 0;
  const auto version = client.query_value("SELECT coalesce(max(version), 0) FROM pgdual.schema_version");
  return version.empty() ? 0 : std::stoi(version);
}

std::vector<std::string> roles_without_rights(PgClient& client, const SchemaRights& rights) {
  std::vector<std::string> roles;
  for (const auto& grant : missing_grants(client, rights)) {
    if (roles.empty() || roles.back() != grant.role) roles.push_back(grant.role);
  }
  return roles;
}

void grant_rights(PgClient& client, const SchemaRights& rights, SchemaSetup& setup) {
  for (const auto& grant : missing_grants(client, rights)) {
    const auto statement = "GRANT " + std::string{grant.privileges} + " ON " + std::string{grant.table} + " TO " +
                           conflict::quote_identifier(grant.role);
    try {
      client.execute(statement);
      setup.changes.push_back("granted " + std::string{grant.privileges} + " on " + std::string{grant.table} +
                              " to " + grant.role);
    } catch (const PgClientError& error) {
      setup.warnings.push_back("could not grant " + std::string{grant.privileges} + " on " +
                               std::string{grant.table} + " to " + grant.role + " (" + error.what() +
                               "): run `" + statement + "` as the owner of pgdual's tables");
    }
  }
}

}  // namespace pgdual::jobs
