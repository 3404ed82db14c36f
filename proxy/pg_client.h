#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include <libpq-fe.h>

#include "config/proxy_config.h"

namespace pgdual::proxy {

/// A failed libpq call; the message is libpq's, with the backend named.
class PgClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A blocking libpq connection for pgdual's out-of-band work (schema set-up,
/// checks), never for client traffic.
class PgClient {
 public:
  /// Connects to `database` on `backend` as `user`. Throws PgClientError.
  PgClient(const config::BackendConfig& backend, const config::UserConfig& user, const std::string& database);

  /// Runs `sql` (one or more statements, no parameters). Throws PgClientError
  /// with the server's message.
  void execute(const std::string& sql);

  /// The first column of the first row of `sql`'s result, or "" when there is
  /// no row. Throws PgClientError.
  [[nodiscard]] std::string query_value(const std::string& sql);

 private:
  struct Finish {
    void operator()(PGconn* connection) const noexcept { PQfinish(connection); }
  };
  std::string backend_name_;
  std::unique_ptr<PGconn, Finish> connection_;
};

}  // namespace pgdual::proxy
