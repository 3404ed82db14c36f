#include "conflict/jobs/wal_preflight.h"

#include <functional>
#include <optional>
#include <string_view>

#include "conflict/jobs/pg_client.h"
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

using Problems = std::vector<PreflightProblem>;

constexpr std::string_view kOrStatementMode = ", or set mirror.mode = \"statement\"";

/// What the primary's checks need, in one row: settings, counts and role attributes, never rows.
/// $1 is pgdual's slot name, which its publication shares. pg_stat_replication rather than
/// pg_stat_activity, whose backend_type a role without pg_read_all_stats sees as NULL.
constexpr std::string_view kPrimaryFactsSql = R"sql(
SELECT current_setting('wal_level'),
       current_setting('max_replication_slots'),
       (SELECT count(*) FROM pg_catalog.pg_replication_slots),
       EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = $1),
       current_setting('max_wal_senders'),
       (SELECT count(*) FROM pg_catalog.pg_stat_replication),
       r.rolsuper OR r.rolreplication,
       r.rolsuper,
       EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = $1),
       EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
               WHERE n.nspname = 'pgdual' AND p.proname = 'emit_ddl')
FROM pg_catalog.pg_roles AS r
WHERE r.rolname = current_user
)sql";

/// The mirror's, likewise. has_parameter_privilege is true for a superuser as well. The catalogs
/// rather than to_regclass, which fails outright when the login may not use the schema.
constexpr std::string_view kMirrorFactsSql = R"sql(
SELECT has_parameter_privilege('session_replication_role', 'SET'),
       EXISTS (SELECT FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
               WHERE n.nspname = 'pgdual' AND c.relname = 'applied')
)sql";

struct PrimaryFacts {
  std::string wal_level;
  long long max_slots = 0;
  long long slots_in_use = 0;
  bool slot_exists = false;
  long long max_senders = 0;
  long long senders_in_use = 0;
  bool may_replicate = false;
  bool superuser = false;
  bool publication_exists = false;
  bool has_emit_ddl = false;  ///< pgdual.emit_ddl, through which sessions carry DDL (schema version 5)
};

struct MirrorFacts {
  bool may_set_replication_role = false;
  bool has_applied_table = false;
};

std::string text_at(const PgClient::Row& row, std::size_t column) { return row.at(column).value_or(""); }
bool flag_at(const PgClient::Row& row, std::size_t column) { return text_at(row, column) == "t"; }
long long number_at(const PgClient::Row& row, std::size_t column) { return std::stoll(text_at(row, column)); }

PrimaryFacts primary_facts(PgClient& client, const std::string& slot) {
  const auto row = client.query(std::string{kPrimaryFactsSql}, {slot}).at(0);
  return PrimaryFacts{.wal_level = text_at(row, 0),
                      .max_slots = number_at(row, 1),
                      .slots_in_use = number_at(row, 2),
                      .slot_exists = flag_at(row, 3),
                      .max_senders = number_at(row, 4),
                      .senders_in_use = number_at(row, 5),
                      .may_replicate = flag_at(row, 6),
                      .superuser = flag_at(row, 7),
                      .publication_exists = flag_at(row, 8),
                      .has_emit_ddl = flag_at(row, 9)};
}

MirrorFacts mirror_facts(PgClient& client) {
  const auto row = client.query(std::string{kMirrorFactsSql}).at(0);
  return MirrorFacts{.may_set_replication_role = flag_at(row, 0), .has_applied_table = flag_at(row, 1)};
}

std::string in_quotes(std::string_view text) { return std::string{"\""}.append(text).append("\""); }

// A server setting that only a restart changes, raised to one more than is in use.
std::string raise_and_restart(std::string_view setting, long long in_use) {
  return "raise " + std::string{setting} + " to " + std::to_string(in_use + 1) +
         " or more in postgresql.conf and restart the server" + std::string{kOrStatementMode};
}

using AddProblem = std::function<void(std::string problem, std::string fix)>;

// What only postgresql.conf and a restart change.
void check_primary_settings(const PrimaryFacts& facts, const std::string& slot, const AddProblem& add) {
  if (facts.wal_level != "logical") {
    add("wal_level is " + in_quotes(facts.wal_level) + "; the WAL mirror decodes the WAL, which needs \"logical\"",
        "set wal_level = logical in postgresql.conf and restart the server" + std::string{kOrStatementMode});
  }
  if (!facts.slot_exists && facts.max_slots - facts.slots_in_use < 1) {
    add("no replication slot is free for pgdual's slot " + in_quotes(slot) + ": max_replication_slots is " +
            std::to_string(facts.max_slots) + " and " + std::to_string(facts.slots_in_use) + " are in use",
        raise_and_restart("max_replication_slots", facts.slots_in_use));
  }
  if (facts.max_senders - facts.senders_in_use < 1) {
    add("no WAL sender is free for pgdual's replication connection: max_wal_senders is " +
            std::to_string(facts.max_senders) + " and " + std::to_string(facts.senders_in_use) + " are in use",
        raise_and_restart("max_wal_senders", facts.senders_in_use));
  }
}

void check_replication_rights(const PreflightTarget& primary, const PrimaryFacts& facts, const std::string& slot,
                              const AddProblem& add) {
  const auto role = conflict::quote_identifier(primary.user.name);
  if (!facts.may_replicate) {
    add("role " + role + " has neither the REPLICATION attribute nor superuser, so it may not create the slot "
            "or open the replication connection",
        "run ALTER ROLE " + role + " REPLICATION as a superuser, or set mirror.replication_user to a role that "
            "has it" + std::string{kOrStatementMode});
  }
  if (!facts.superuser && !facts.publication_exists) {
    const auto publication = conflict::quote_identifier(slot);
    add("role " + role + " may not create the publication " + publication +
            " FOR ALL TABLES: PostgreSQL 15 allows that to superusers only",
        "run CREATE PUBLICATION " + publication + " FOR ALL TABLES as a superuser in database " +
            in_quotes(primary.database) + ", or set mirror.replication_user to a superuser" +
            std::string{kOrStatementMode});
  }
}

void check_primary(const PreflightTarget& primary, const PrimaryFacts& facts, const std::string& slot,
                   Problems& problems) {
  const AddProblem add = [&](std::string problem, std::string fix) {
    problems.push_back({primary.backend.name, std::move(problem), std::move(fix)});
  };
  check_primary_settings(facts, slot, add);
  check_replication_rights(primary, facts, slot, add);
  if (!facts.has_emit_ddl) {
    add("database " + in_quotes(primary.database) + " has no function pgdual.emit_ddl, through which sessions carry "
            "DDL to the mirror",
        "run pgdual init --config <your pgdual.toml> --database " + primary.database);
  }
}

void check_mirror(const PreflightTarget& mirror, const MirrorFacts& facts, Problems& problems) {
  const auto add = [&](std::string problem, std::string fix) {
    problems.push_back({mirror.backend.name, std::move(problem), std::move(fix)});
  };
  const auto role = conflict::quote_identifier(mirror.user.name);
  if (!facts.may_set_replication_role) {
    add("role " + role + " may not set session_replication_role, which the apply sets to replica so that the "
            "mirror's own triggers and foreign-key checks do not fire a second time",
        "run GRANT SET ON PARAMETER session_replication_role TO " + role +
            " as a superuser, or set mirror.apply_user to a role that may" + std::string{kOrStatementMode});
  }
  if (!facts.has_applied_table) {
    add("database " + in_quotes(mirror.database) + " has no table pgdual.applied, where the apply records each "
            "transaction it applied",
        "run pgdual init --config <your pgdual.toml> --database " + mirror.database);
  }
}

/// How a database stores text: its encoding, then the collation and character type that
/// CREATE DATABASE would need to make another like it.
constexpr std::string_view kDatabaseEncodingSql = R"sql(
SELECT pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype
FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()
)sql";

struct TextEncoding {
  std::string encoding;
  std::string collate;
  std::string ctype;
};

TextEncoding text_encoding(PgClient& client) {
  const auto rows = client.query(std::string{kDatabaseEncodingSql});
  if (rows.empty()) return {};
  return {rows[0].at(0).value_or(""), rows[0].at(1).value_or(""), rows[0].at(2).value_or("")};
}

// The apply reads the text in the primary's encoding and the mirror stores it in its own: another
// encoding changes the bytes, or refuses text it has no form for (22021, 22P05). Identical means
// the same encoding.
void check_encodings(const PreflightTarget& mirror, const TextEncoding& on_primary, const TextEncoding& on_mirror,
                     Problems& problems) {
  if (on_primary.encoding.empty() || on_mirror.encoding.empty() || on_primary.encoding == on_mirror.encoding) return;
  const auto database = in_quotes(mirror.database);
  problems.push_back({mirror.backend.name,
                      "database " + database + " is encoded in " + on_mirror.encoding + " where the primary's is " +
                          on_primary.encoding + ": the mirror would store the primary's text in other bytes, or "
                          "refuse what " + on_mirror.encoding + " cannot hold (22021 invalid byte sequence)",
                      "create the mirror's database as the primary's is, before copying the data: CREATE DATABASE " +
                          conflict::quote_identifier(mirror.database) + " TEMPLATE template0 ENCODING " +
                          conflict::quote_literal(on_primary.encoding) + " LC_COLLATE " +
                          conflict::quote_literal(on_primary.collate) + " LC_CTYPE " +
                          conflict::quote_literal(on_primary.ctype)});
}

// libpq's message, on one line so that describe() keeps one line per problem. PgClientError starts
// it with the backend's name, which PreflightProblem carries already.
std::string libpq_message(const PgClientError& error, const std::string& backend) {
  const std::string prefix = "backend " + in_quotes(backend) + ": ";
  std::string_view message = error.what();
  if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
  std::string line;
  for (std::size_t at = 0; at < message.size(); ++at) {
    if (message[at] != '\n') {
      line += message[at];
      continue;
    }
    while (at + 1 < message.size() && (message[at + 1] == '\t' || message[at + 1] == ' ')) ++at;
    line += "; ";
  }
  return line;
}

// Runs `check` on a connection to `target`; a failure to connect or to query becomes a problem.
template <class Check>
void check_on(const PreflightTarget& target, Problems& problems, Check check) {
  const auto& name = target.backend.name;
  std::optional<PgClient> client;
  try {
    client.emplace(target.backend, target.user, target.database);
  } catch (const PgClientError& error) {
    problems.push_back({name,
                        "cannot connect as role " + conflict::quote_identifier(target.user.name) +
                            " to database " + in_quotes(target.database) + ": " + libpq_message(error, name),
                        "check that the server runs at " + target.backend.host + ":" +
                            std::to_string(target.backend.port) + " ([backends." + name + "]) and lets that role "
                            "log in to the database with the password in the configuration"});
    return;
  }
  try {
    check(*client);
  } catch (const PgClientError& error) {
    problems.push_back({name, "cannot read the settings and role attributes to check: " +
                                  libpq_message(error, name),
                        "the WAL mirror needs PostgreSQL 15 or later, where every role may read them" +
                            std::string{kOrStatementMode}});
  }
}

}  // namespace

std::vector<PreflightProblem> check_wal_prerequisites(const PreflightTarget& primary, const PreflightTarget& mirror) {
  Problems problems;
  const auto slot = conflict::slot_name_for(primary.database);
  TextEncoding on_primary;
  TextEncoding on_mirror;
  check_on(primary, problems, [&](PgClient& client) {
    check_primary(primary, primary_facts(client, slot), slot, problems);
    on_primary = text_encoding(client);
  });
  check_on(mirror, problems, [&](PgClient& client) {
    check_mirror(mirror, mirror_facts(client), problems);
    on_mirror = text_encoding(client);
  });
  check_encodings(mirror, on_primary, on_mirror, problems);
  return problems;
}

std::string describe(const std::vector<PreflightProblem>& problems) {
  if (problems.empty()) return {};
  std::string text = "mirror.mode = \"wal\" needs " + std::to_string(problems.size()) +
                     (problems.size() == 1 ? " change" : " changes") + " on the servers:";
  for (const auto& each : problems) {
    text.append("\n- ").append(each.backend).append(": ").append(each.problem);
    text.append("\n  fix: ").append(each.fix);
  }
  return text;
}

bool has_replica_identity_trigger(const PreflightTarget& primary) {
  PgClient client{primary.backend, primary.user, primary.database};
  return !client
              .query("SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1 AND evtenabled <> 'D'",
                     {std::string{conflict::kReplicaIdentityTrigger}})
              .empty();
}

}  // namespace pgdual::jobs
