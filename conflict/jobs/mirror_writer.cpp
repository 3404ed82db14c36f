#include "conflict/jobs/mirror_writer.h"

#include "conflict/sql_text.h"
#include "conflict/jobs/verifier.h"
#include "protocol/sqlstate.h"

namespace pgdual::jobs {

MirrorWriter::MirrorWriter(const config::BackendConfig& mirror, const config::UserConfig& user,
                           const std::string& database)
    : client_{mirror, user, database} {
  client_.execute(std::string{kComparableSessionSettings});
  try {
    client_.execute("SET session_replication_role = replica");
  } catch (const PgClientError& error) {
    if (error.sqlstate() != protocol::sqlstate::kInsufficientPrivilege) throw;
    throw PgClientError{"reconcile --apply needs a role on the mirror that may set session_replication_role, so "
                        "that repairs fire no trigger: a superuser, or one granted it (GRANT SET ON PARAMETER "
                        "session_replication_role TO " + conflict::quote_identifier(user.name) + "): " + error.what(),
                        error.sqlstate()};
  }
  client_.execute("SET search_path = ''; SET lock_timeout = '10s'");
}

void MirrorWriter::transaction(const std::function<void(PgClient&)>& work) {
  client_.execute("BEGIN");
  try {
    work(client_);
    client_.execute("COMMIT");
  } catch (...) {
    try {
      client_.execute("ROLLBACK");
    } catch (const PgClientError&) {
      // The connection is gone: the error being thrown says why.
    }
    throw;
  }
}

}  // namespace pgdual::jobs
