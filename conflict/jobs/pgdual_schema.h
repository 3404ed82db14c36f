#pragma once

#include <string>
#include <vector>

#include "conflict/jobs/pg_client.h"

namespace pgdual::jobs {

/// The version of pgdual's schema this pgdual installs: `pgdual init`, and a database's first
/// session through `pgdual serve`, bring a database to it.
inline constexpr int kSchemaVersion = 8;

/// Who gets which rights on pgdual's tables.
struct SchemaRights {
  /// The logins that write through pgdual: in statement mode their sessions record each write
  /// unit in pgdual.ledger on the mirror, read it back after a lost COMMIT, and prune it.
  std::vector<std::string> ledger_roles;
  /// The WAL mirror's apply login, which records each applied transaction in pgdual.applied, and
  /// marks pgdual sync's record in sync once caught up, and writes its instance's row in
  /// pgdual.instances.
  std::string apply_role;
};

/// Every configured login writes the ledger; the WAL mirror's apply user records applied transactions.
[[nodiscard]] SchemaRights schema_rights(const config::ProxyConfig& config);

/// What setting up pgdual's schema in one database did, for the caller to print or log: names of
/// tables and roles only.
struct SchemaSetup {
  int version = 0;                    ///< the version installed now
  std::vector<std::string> changes;   ///< each change made, e.g. a table given REPLICA IDENTITY FULL
  std::vector<std::string> warnings;  ///< each thing left undone, why, and how to do it
};

/// Installs pgdual's schema, or brings it to kSchemaVersion, in the database `client` is connected
/// to, and grants `rights`. Idempotent; each version's statements run in one transaction, so it never
/// half-applies. A table or a grant it may not change, or an event trigger only a superuser may
/// create, is a warning. Throws PgClientError when the schema itself cannot be installed.
SchemaSetup install_schema(PgClient& client, const SchemaRights& rights);

/// The version of pgdual's schema installed in `client`'s database; 0 when there is none.
/// Throws PgClientError.
[[nodiscard]] int installed_schema_version(PgClient& client);

/// The roles of `rights` that exist on the server and lack a right it names. Throws PgClientError.
[[nodiscard]] std::vector<std::string> roles_without_rights(PgClient& client, const SchemaRights& rights);

/// Grants `rights` to each role that exists on the server; a grant refused (the login does not own
/// pgdual's tables) is a warning in `setup`. Throws PgClientError for anything else.
void grant_rights(PgClient& client, const SchemaRights& rights, SchemaSetup& setup);

}  // namespace pgdual::jobs
