#pragma once

// Two servers made distinguishable for the read steering tests: a table created directly on
// each holds the server's own name, so which server answered a read is in its answer.

#include <chrono>
#include <string>
#include <string_view>

#include "conflict/jobs/pg_client.h"
#include "tests/integration/harness/fixture.h"

namespace pgdual::test {

inline constexpr const char* kWhereAmI = "SELECT v FROM whereami";

/// A fresh database whose table whereami says, on each shared server, which server it is.
inline std::string distinguishable_database(IntegrationTest& test, std::string_view label) {
  const auto database = test.fresh_database(label);
  for (auto* server : {&backends().onprem, &backends().cloud}) {
    static_cast<void>(server->run_sql(database, "CREATE TABLE whereami (v text); INSERT INTO whereami VALUES ('" +
                                                     server->name() + "'); GRANT SELECT ON whereami TO app"));
  }
  return database;
}

/// A libpq connection to `proxy` as the app user.
inline jobs::PgClient client_of(const ProxyProcess& proxy, const std::string& database) {
  const config::BackendConfig pgdual{.name = "pgdual", .host = "127.0.0.1", .port = proxy.port(),
                                     .connect_timeout = std::chrono::milliseconds{5000}};
  return jobs::PgClient{pgdual, config::UserConfig{kAppUser, kAppPassword}, database};
}

}  // namespace pgdual::test
