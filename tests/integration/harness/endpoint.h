#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace pgdual::test {

/// Where and as whom a client connects: a PostgreSQL server directly, or pgdual in front of one.
struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string user;
  std::string password;
  std::string database;

  /// PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and a connect timeout, for libpq-style clients
  /// (psql, pgbench, and the client suites, which read the same variables).
  [[nodiscard]] std::map<std::string, std::string> libpq_env() const;
};

}  // namespace pgdual::test
