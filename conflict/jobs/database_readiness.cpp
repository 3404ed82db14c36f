#include "conflict/jobs/database_readiness.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "conflict/jobs/pgdual_schema.h"
#include "conflict/jobs/unlogged_tables.h"
#include "conflict/jobs/wal_preflight.h"
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

/// What each version of pgdual's schema (kSchemaVersion) adds that the catalogs show to any role:
/// the version is read from them rather than from pgdual.schema_version, which a role other than
/// init's could not read before version 5's set-up granted it.
struct SchemaObject {
  int version;
  std::string_view name;  ///< a relation, or a function with "()"
};
constexpr std::array<SchemaObject, 8> kSchemaObjects{{{1, "ledger"},
                                                      {1, "schema_version"},
                                                      {2, "applied"},
                                                      {4, "identity_full"},
                                                      {5, "emit_ddl()"},
                                                      {6, "ddl_proof"},
                                                      {7, "sync"},
                                                      {8, "instances"}}};

constexpr std::string_view kSchemaObjectsSql = R"sql(
SELECT c.relname::text FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgdual'
UNION ALL
SELECT p.proname || '()' FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = 'pgdual'
)sql";

/// A privilege on one of pgdual's objects.
struct Privilege {
  std::string_view privilege;
  std::string_view catalog;  ///< where the object is: pg_namespace, pg_class or pg_proc
  std::string_view name;     ///< its name there
  std::string_view object;   ///< as GRANT names it
};
enum PrivilegeIndex : std::size_t { usage, ledger_insert, ledger_select, ledger_delete, applied_insert,
                                    applied_select, emit_ddl_execute, privilege_count };
constexpr std::array<Privilege, privilege_count> kPrivileges{{
    {"USAGE", "pg_namespace", "pgdual", "SCHEMA pgdual"},
    {"INSERT", "pg_class", "ledger", "pgdual.ledger"},
    {"SELECT", "pg_class", "ledger", "pgdual.ledger"},
    {"DELETE", "pg_class", "ledger", "pgdual.ledger"},
    {"INSERT", "pg_class", "applied", "pgdual.applied"},
    {"SELECT", "pg_class", "applied", "pgdual.applied"},
    {"EXECUTE", "pg_proc", "emit_ddl", "FUNCTION pgdual.emit_ddl(name, text, text)"},
}};

/// Whether the login has `privilege`: NULL when the object is missing (the schema check names
/// that). By OID from the catalogs, so that a login without USAGE on the schema still gets an answer.
std::string privilege_sql(const Privilege& privilege) {
  const auto asked = conflict::quote_literal(privilege.privilege);
  const auto name = conflict::quote_literal(privilege.name);
  if (privilege.catalog == "pg_namespace") {
    return "(SELECT pg_catalog.has_schema_privilege(oid, " + asked +
           ") FROM pg_catalog.pg_namespace WHERE nspname = " + name + ")";
  }
  const bool relation = privilege.catalog == "pg_class";
  const std::string alias = relation ? "c" : "p";
  return "(SELECT pg_catalog." + std::string{relation ? "has_table_privilege" : "has_function_privilege"} + "(" +
         alias + ".oid, " + asked + ") FROM pg_catalog." + std::string{privilege.catalog} + " AS " + alias +
         " JOIN pg_catalog.pg_namespace AS n ON n.oid = " + alias + (relation ? ".relnamespace" : ".pronamespace") +
         " WHERE n.nspname = 'pgdual' AND " + alias + (relation ? ".relname = " : ".proname = ") + name +
         " LIMIT 1)";
}

/// Tables that publication would refuse UPDATE and DELETE on (no primary key, replica identity
/// DEFAULT or NOTHING), and those the mirror can match by all columns only (FULL): init's list,
/// with its schemas left out. Unlogged and temporary tables are never published.
constexpr std::string_view kTablesWithoutKeySql = R"sql(
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), c.relreplident::text
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND c.relreplident IN ('d', 'n', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdual') AND n.nspname NOT LIKE 'pg\_toast%'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)
ORDER BY 1
)sql";

std::string in_quotes(std::string_view text) { return std::string{"\""}.append(text).append("\""); }

std::string database_subject(const std::string& database, const config::BackendConfig& backend) {
  return "database " + in_quotes(database) + " on " + backend.name;
}

std::string role_subject(const config::UserConfig& user, const config::BackendConfig& backend) {
  return "role " + conflict::quote_identifier(user.name) + " on " + backend.name;
}

std::string init_fix(const ReadinessRun& run, const std::string& database, std::string_view why = {}) {
  return "run pgdual init --config " + run.scope.config_file + " --database " + database + std::string{why};
}

/// The per-database facts the later checks need, as the schema check found them.
struct ServerFacts {
  bool reached = false;       ///< the server's checking login got in
  bool schema_ready = false;  ///< pgdual's schema at kSchemaVersion
};

ServerFacts check_schema(ReadinessRun& run, PgClient& client, const config::BackendConfig& backend,
                         const std::string& database) {
  std::vector<std::string> present;
  for (const auto& row : client.query(std::string{kSchemaObjectsSql})) present.push_back(row.at(0).value_or(""));
  int version = kSchemaVersion;
  std::vector<std::string> missing;
  for (const auto& object : kSchemaObjects) {
    if (std::ranges::find(present, object.name) != present.end()) continue;
    missing.push_back("pgdual." + std::string{object.name});
    version = std::min(version, object.version - 1);
  }
  const auto subject = database_subject(database, backend);
  if (missing.empty()) {
    run.add(Verdict::ok, subject, "pgdual schema", "version " + std::to_string(kSchemaVersion) + ", the current one");
    return {.reached = true, .schema_ready = true};
  }
  const auto found = version == 0 ? "not installed: no " + names_list(missing)
                                  : "at version " + std::to_string(version) + ", pgdual needs " +
                                        std::to_string(kSchemaVersion) + ": no " + names_list(missing);
  run.add(Verdict::failed, subject, "pgdual schema", found, init_fix(run, database));
  return {.reached = true, .schema_ready = false};
}

/// Which privileges `user` needs on `backend`: failed without the first set, warned without the second.
std::pair<std::vector<PrivilegeIndex>, std::vector<PrivilegeIndex>> privileges_needed(
    const ReadinessRun& run, const config::BackendConfig& backend, const config::UserConfig& user) {
  const bool on_primary = backend.name == run.config.primary;
  if (run.config.mirror.mode == config::MirrorMode::statement) {
    // The mirror records each write unit's key; the pruner deletes old keys on both servers.
    if (on_primary) return {{}, {usage, ledger_delete}};
    return {{usage, ledger_insert, ledger_select}, {ledger_delete}};
  }
  if (on_primary) return {{usage, emit_ddl_execute}, {}};  // sessions carry DDL through pgdual.emit_ddl
  if (user.name == run.config.mirror.apply_user) return {{usage, applied_insert, applied_select}, {}};
  return {};
}

/// The GRANTs that give `user` the `missing` privileges, one per object, "; " between them.
std::string grant_statements(const std::vector<PrivilegeIndex>& missing, const config::UserConfig& user) {
  std::vector<std::string_view> objects;
  for (const auto index : missing) {
    const auto object = kPrivileges[index].object;
    if (std::ranges::find(objects, object) == objects.end()) objects.push_back(object);
  }
  std::string statements;
  for (const auto object : objects) {
    std::string granted;
    for (const auto index : missing) {
      if (kPrivileges[index].object != object) continue;
      granted += (granted.empty() ? "" : ", ") + std::string{kPrivileges[index].privilege};
    }
    statements += (statements.empty() ? "GRANT " : "; GRANT ") + granted + " ON " + std::string{object} + " TO " +
                  conflict::quote_identifier(user.name);
  }
  return statements;
}

void check_grants(ReadinessRun& run, PgClient& client, const config::BackendConfig& backend,
                  const config::UserConfig& user, const std::string& database) {
  const auto [required, wanted] = privileges_needed(run, backend, user);
  if (required.empty() && wanted.empty()) return;
  std::string columns;
  for (const auto& privilege : kPrivileges) columns += (columns.empty() ? "" : ", ") + privilege_sql(privilege);
  const auto row = client.query("SELECT " + columns).at(0);
  // An object that is missing has no privileges to judge: the schema check names it.
  const auto missing_object = [&](PrivilegeIndex index) { return !row.at(index).has_value(); };
  if (std::ranges::any_of(required, missing_object) || std::ranges::any_of(wanted, missing_object)) return;
  const auto lacking = [&](const std::vector<PrivilegeIndex>& indices) {
    std::vector<PrivilegeIndex> missing;
    for (const auto index : indices) {
      if (row.at(index) == "f") missing.push_back(index);
    }
    return missing;
  };
  const auto describe = [](const std::vector<PrivilegeIndex>& missing) {
    std::vector<std::string> names;
    for (const auto index : missing) {
      names.push_back(std::string{kPrivileges[index].privilege} + " on " + std::string{kPrivileges[index].object});
    }
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
    return text;
  };
  const auto subject = role_subject(user, backend);
  const auto where = " in database " + in_quotes(database) + " as the objects' owner or a superuser";
  auto missing = lacking(required);
  const auto unwanted = lacking(wanted);
  if (!missing.empty()) {
    missing.insert(missing.end(), unwanted.begin(), unwanted.end());
    run.add(Verdict::failed, subject, "grants", "lacks " + describe(missing) + " in database " + in_quotes(database),
            "run " + grant_statements(missing, user) + where);
  } else if (!unwanted.empty()) {
    run.add(Verdict::warning, subject, "grants",
            "lacks " + describe(unwanted) + " in database " + in_quotes(database) +
                ": pgdual cannot prune the ledger's old keys here, so it grows",
            "run " + grant_statements(unwanted, user) + where);
  } else {
    run.add(Verdict::ok, subject, "grants", "has what pgdual needs on its objects in database " + in_quotes(database));
  }
}

void check_tables_without_key(ReadinessRun& run, PgClient& client, const config::BackendConfig& backend,
                              const std::string& database) {
  std::vector<std::string> without_identity;
  std::vector<std::string> full;
  for (const auto& row : client.query(std::string{kTablesWithoutKeySql})) {
    (row.at(1) == "f" ? full : without_identity).push_back(row.at(0).value_or(""));
  }
  const auto subject = database_subject(database, backend);
  if (!without_identity.empty()) {
    run.add(Verdict::failed, subject, "replica identity",
            "tables without a primary key or replica identity, whose UPDATE and DELETE the primary refuses once "
            "published: " + names_list(without_identity),
            "give each a primary key, or " + init_fix(run, database, " --user <a superuser>") +
                ", which gives them REPLICA IDENTITY FULL");
  } else {
    run.add(Verdict::ok, subject, "replica identity", "every table has a primary key or a replica identity");
  }
  if (!full.empty()) {
    run.add(Verdict::warning, subject, "primary keys",
            "tables without a primary key, which the mirror matches by all their columns, scanning the table for "
            "each UPDATE and DELETE: " + names_list(full),
            "give each a primary key");
  }
}

void check_event_trigger(ReadinessRun& run, PgClient& client, const config::BackendConfig& backend,
                         const std::string& database) {
  const auto rows = client.query("SELECT evtenabled::text FROM pg_catalog.pg_event_trigger WHERE evtname = $1",
                                 {std::string{conflict::kReplicaIdentityTrigger}});
  const auto subject = database_subject(database, backend);
  const auto name = in_quotes(conflict::kReplicaIdentityTrigger);
  if (!rows.empty() && rows.front().at(0) != "D") {
    return run.add(Verdict::ok, subject, "event trigger", name + " enabled");
  }
  run.add(Verdict::warning, subject, "event trigger",
          name + (rows.empty() ? " missing" : " disabled") +
              ": a table created later without a primary key gets no replica identity, and its UPDATE and DELETE "
              "fail once published",
          init_fix(run, database, " --user <a superuser>"));
}

void check_unlogged_tables(ReadinessRun& run, const config::BackendConfig& backend, const config::UserConfig& user,
                           const std::string& database) {
  const auto tables = unlogged_tables(PreflightTarget{.backend = backend, .user = user, .database = database});
  const auto subject = database_subject(database, backend);
  if (tables.empty()) return run.add(Verdict::ok, subject, "unlogged tables", "none");
  run.add(Verdict::warning, subject, "unlogged tables",
          "the WAL carries no rows of " + names_list(tables) + ", so the mirror never gets them",
          "ALTER TABLE ... SET LOGGED for each one the mirror needs, or copy them by hand before the switch");
}

void check_disk(ReadinessRun& run, PgClient& mirror_client, std::optional<std::string> primary_size,
                const std::string& database) {
  const auto& mirror = run.config.mirror_backend();
  const bool superuser = mirror_client.query_value("SELECT current_setting('is_superuser')") == "on";
  const auto directory = superuser ? mirror_client.query_value("SELECT current_setting('data_directory')")
                                   : std::string{"its data directory (SHOW data_directory, as a superuser)"};
  const auto size = primary_size ? byte_text(std::stoull(*primary_size)) : std::string{"its size on the primary"};
  run.add(Verdict::warning, database_subject(database, mirror), "disk",
          "not checked: PostgreSQL offers no SQL function that reads a disk's free space; the database is " + size +
              " on " + run.config.primary + " (pg_database_size)",
          "check on " + mirror.name + "'s host that the file system of " + directory + " has more than " + size +
              " free, with room for what the migration adds");
}

void check_wal_mode(ReadinessRun& run, const std::string& database, const ServerFacts& primary,
                    const ServerFacts& mirror) {
  const auto& config = run.config;
  if (!primary.reached || !mirror.reached) {
    return run.add(Verdict::warning, database_subject(database, config.primary_backend()), "mirror.mode wal",
                   "not checked: mirror.replication_user or mirror.apply_user could not log in (above)",
                   "fix the logins, then check again");
  }
  const auto problems =
      check_wal_prerequisites({config.primary_backend(), user_named(config, config.mirror.replication_user), database},
                              {config.mirror_backend(), user_named(config, config.mirror.apply_user), database});
  for (const auto& problem : problems) {
    const bool on_primary = problem.backend == config.primary;
    // The schema check has named a missing schema already, with the same fix.
    if (problem.fix.starts_with("run pgdual init") && !(on_primary ? primary : mirror).schema_ready) continue;
    const auto subject = server_subject(on_primary ? config.primary_backend() : config.mirror_backend());
    const auto same = [&](const ReadinessCheck& check) {
      return check.subject == subject && check.found == problem.problem;
    };
    if (std::ranges::any_of(run.checks, same)) continue;  // a server setting, named for an earlier database
    run.add(Verdict::failed, subject, "mirror.mode wal", problem.problem, problem.fix);
  }
  if (problems.empty()) {
    run.add(Verdict::ok, database_subject(database, config.primary_backend()), "mirror.mode wal",
            "wal_level logical, a replication slot and a WAL sender free, the replication and apply roles' rights");
  }
}

ServerFacts check_on_server(ReadinessRun& run, const config::BackendConfig& backend, const std::string& database,
                            std::optional<std::string>& primary_size) {
  const bool on_primary = backend.name == run.config.primary;
  const bool wal = run.config.mirror.mode == config::MirrorMode::wal;
  const auto& checker = on_primary ? run.config.mirror.replication_user : run.config.mirror.apply_user;
  std::optional<PgClient> checking;
  for (const auto& user : run.config.users) {
    auto client = run.log_in(backend, user, database);
    if (!client) continue;
    try {
      check_grants(run, *client, backend, user, database);
    } catch (const PgClientError& error) {
      run.add(Verdict::failed, role_subject(user, backend), "grants", "cannot read them: " + one_line(error, backend),
              "the server's log says why the statement failed; pgdual needs PostgreSQL 15 or later");
    }
    if (user.name == checker) checking = std::move(client);
  }
  if (!checking) return {};
  try {
    const auto facts = check_schema(run, *checking, backend, database);
    if (on_primary) primary_size = checking->query_value("SELECT pg_catalog.pg_database_size(current_database())");
    if (wal && on_primary) {
      check_tables_without_key(run, *checking, backend, database);
      check_event_trigger(run, *checking, backend, database);
      check_unlogged_tables(run, backend, user_named(run.config, checker), database);
    }
    if (!on_primary) check_disk(run, *checking, primary_size, database);
    return facts;
  } catch (const PgClientError& error) {
    run.add(Verdict::failed, database_subject(database, backend), "catalogs",
            "cannot read them: " + one_line(error, backend),
            "the server's log says why the statement failed; pgdual needs PostgreSQL 15 or later");
    return {.reached = true};
  }
}

}  // namespace

void ReadinessRun::add(Verdict verdict, std::string subject, std::string_view name, std::string found,
                       std::string fix) {
  checks.push_back({std::move(subject), std::string{name}, verdict, std::move(found), std::move(fix)});
}

std::optional<PgClient> ReadinessRun::log_in(const config::BackendConfig& backend, const config::UserConfig& user,
                                             const std::string& database, LoginCheck login) {
  try {
    PgClient client{backend, user, database};
    client.execute("SET statement_timeout = '30s'");
    if (login == LoginCheck::reported) {
      add(Verdict::ok, role_subject(user, backend), "login", "logged in to database " + in_quotes(database));
    }
    return client;
  } catch (const PgClientError& error) {
    if (login == LoginCheck::silent) return std::nullopt;
    add(Verdict::failed, role_subject(user, backend), "login",
        "cannot log in to database " + in_quotes(database) + " at " + backend.host + ":" +
            std::to_string(backend.port) + ": " + one_line(error, backend),
        "check that the server runs there ([backends." + backend.name + "]), that the database exists, and that the "
            "password of [[users]] " + in_quotes(user.name) + " (or its [users.backends." + backend.name +
            "]) is the role's on that server and pg_hba.conf lets it in");
    return std::nullopt;
  }
}

void check_database(ReadinessRun& run, const std::string& database) {
  std::optional<std::string> primary_size;
  const auto primary = check_on_server(run, run.config.primary_backend(), database, primary_size);
  const auto mirror = check_on_server(run, run.config.mirror_backend(), database, primary_size);
  if (run.config.mirror.mode == config::MirrorMode::wal) check_wal_mode(run, database, primary, mirror);
}

std::string server_subject(const config::BackendConfig& backend) {
  return "server " + backend.name + " (" + backend.host + ":" + std::to_string(backend.port) + ")";
}

std::string names_list(const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 10;
  std::string text;
  for (std::size_t i = 0; i < names.size() && i < kShown; ++i) text += (i == 0 ? "" : ", ") + in_quotes(names[i]);
  if (names.size() > kShown) text += " and " + std::to_string(names.size() - kShown) + " more";
  return text;
}

std::string one_line(const PgClientError& error, const config::BackendConfig& backend) {
  const std::string prefix = "backend " + in_quotes(backend.name) + ": ";
  std::string_view message = error.what();
  if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
  std::string line;
  for (const char c : message) {
    if (c != '\n') line += c;
    else if (!line.ends_with("; ")) line += "; ";
  }
  while (line.ends_with("; ")) line.resize(line.size() - 2);
  if (!error.sqlstate().empty()) line += " (SQLSTATE " + error.sqlstate() + ")";
  return line;
}

const config::UserConfig& user_named(const config::ProxyConfig& config, std::string_view name) {
  const auto* user = config.find_user(name);
  return user != nullptr ? *user : config.users.front();
}

std::string byte_text(std::uint64_t bytes) {
  constexpr std::array<const char*, 5> kUnits{"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  auto value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.1f %s", value, kUnits[unit]);
  return text.data();
}

}  // namespace pgdual::jobs
