#include "proxy/pg_client.h"

#include <array>

namespace pgdual::proxy {
namespace {

struct Clear {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, Clear>;

std::string trimmed(const char* message) {
  std::string text{message};
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

PgClient::PgClient(const config::BackendConfig& backend, const config::UserConfig& user, const std::string& database)
    : backend_name_{backend.name} {
  const auto port = std::to_string(backend.port);
  const auto timeout = std::to_string(std::max<long long>(1, backend.connect_timeout.count() / 1000));
  const std::array keywords{"host", "port", "user", "password", "dbname", "connect_timeout", "sslmode",
                            "application_name", static_cast<const char*>(nullptr)};
  const std::array values{backend.host.c_str(), port.c_str(), user.name.c_str(), user.password.c_str(),
                          database.c_str(), timeout.c_str(), "disable", "pgdual",
                          static_cast<const char*>(nullptr)};
  connection_.reset(PQconnectdbParams(keywords.data(), values.data(), 0));
  if (PQstatus(connection_.get()) != CONNECTION_OK) {
    throw PgClientError{"backend \"" + backend_name_ + "\": " + trimmed(PQerrorMessage(connection_.get()))};
  }
}

void PgClient::execute(const std::string& sql) {
  Result result{PQexec(connection_.get(), sql.c_str())};
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw PgClientError{"backend \"" + backend_name_ + "\": " + trimmed(PQerrorMessage(connection_.get()))};
  }
}

std::string PgClient::query_value(const std::string& sql) {
  Result result{PQexec(connection_.get(), sql.c_str())};
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    throw PgClientError{"backend \"" + backend_name_ + "\": " + trimmed(PQerrorMessage(connection_.get()))};
  }
  if (PQntuples(result.get()) == 0) return {};
  return PQgetvalue(result.get(), 0, 0);
}

}  // namespace pgdual::proxy
