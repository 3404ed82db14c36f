#pragma once

#include <functional>
#include <string>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"

namespace pgdual::jobs {

/// The session reconcile changes the mirror in: its own, since the comparison's stays in its
/// read-only snapshot. Only the repair's own statements run in it: no user trigger or rule fires
/// and no foreign key is checked row by row (session_replication_role = replica), as when the WAL
/// mirror applies, and an unqualified name resolves to nothing but pg_catalog (an empty
/// search_path). A row lock not obtained within a few seconds fails the statement instead of
/// stalling the writes that hold it.
class MirrorWriter {
 public:
  /// Throws PgClientError, naming what the role lacks when it may not set
  /// session_replication_role.
  MirrorWriter(const config::BackendConfig& mirror, const config::UserConfig& user, const std::string& database);

  /// Runs `work` in one transaction, rolled back when it throws.
  void transaction(const std::function<void(PgClient&)>& work);

 private:
  PgClient client_;
};

}  // namespace pgdual::jobs
