#include "conflict/jobs/pg_client.h"

#include <poll.h>

#include <algorithm>
#include <array>
#include <cstdlib>

namespace pgdual::jobs {
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

std::vector<PgClient::Row> rows_of(const PGresult* result) {
  const int row_count = PQntuples(result);
  const int column_count = PQnfields(result);
  std::vector<PgClient::Row> rows(static_cast<std::size_t>(row_count));
  for (int row = 0; row < row_count; ++row) {
    auto& values = rows[static_cast<std::size_t>(row)];
    values.reserve(static_cast<std::size_t>(column_count));
    for (int column = 0; column < column_count; ++column) {
      if (PQgetisnull(result, row, column) != 0) {
        values.emplace_back(std::nullopt);
      } else {
        values.emplace_back(
            std::string{PQgetvalue(result, row, column), static_cast<std::size_t>(PQgetlength(result, row, column))});
      }
    }
  }
  return rows;
}

// libpq's names for the modes: https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNECT-SSLMODE
const char* libpq_sslmode(config::SslMode mode) {
  switch (mode) {
    case config::SslMode::require: return "require";
    case config::SslMode::verify_ca: return "verify-ca";
    case config::SslMode::verify_full: return "verify-full";
    case config::SslMode::disable: break;
  }
  return "disable";
}

/// A value as a connection string takes it: in single quotes, its quotes and backslashes escaped.
std::string quoted_value(const std::string& value) {
  std::string quoted = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  return quoted + "'";
}

}  // namespace

std::string connection_string(const config::BackendConfig& backend, const config::UserConfig& user,
                              const std::string& database) {
  std::string text = "host=" + quoted_value(backend.host) + " port=" + std::to_string(backend.port) +
                     " user=" + quoted_value(user.name) + " dbname=" + quoted_value(database) +
                     " sslmode=" + libpq_sslmode(backend.sslmode) + " sslsni=" + (backend.sslsni ? "1" : "0") +
                     " application_name='pgdual sync'";
  if (!backend.sslrootcert.empty()) text += " sslrootcert=" + quoted_value(backend.sslrootcert.string());
  return text;
}

PgClient::PgClient(const config::BackendConfig& backend, const config::UserConfig& user, const std::string& database,
                   Kind kind)
    : backend_name_{backend.name} {
  const auto port = std::to_string(backend.port);
  const auto timeout = std::to_string(std::max<long long>(1, backend.connect_timeout.count() / 1000));
  // TLS as the proxy's own connections have it (proxy/backend/backend_tls.h). An empty sslrootcert is
  // ignored by libpq: it is set only with verify-ca and verify-full.
  const auto root_certificates = backend.sslrootcert.string();
  const std::array keywords{"host", "port", "user", "password", "dbname", "connect_timeout", "sslmode",
                            "sslrootcert", "sslsni", "application_name", "replication",
                            static_cast<const char*>(nullptr)};
  const auto& password = user.password_for(backend);
  const std::array values{backend.host.c_str(),
                          port.c_str(),
                          user.name.c_str(),
                          password.c_str(),
                          database.c_str(),
                          timeout.c_str(),
                          libpq_sslmode(backend.sslmode),
                          root_certificates.c_str(),
                          backend.sslsni ? "1" : "0",
                          "pgdual",
                          kind == Kind::replication ? "database" : "false",
                          static_cast<const char*>(nullptr)};
  connection_.reset(PQconnectdbParams(keywords.data(), values.data(), 0));
  if (PQstatus(connection_.get()) != CONNECTION_OK) throw failure(nullptr);
}

void PgClient::execute(const std::string& sql) {
  Result result{PQexec(connection_.get(), sql.c_str())};
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw failure(result.get());
}

std::vector<PgClient::Row> PgClient::execute(const std::string& sql, const Row& parameters) {
  std::vector<const char*> values;
  values.reserve(parameters.size());
  for (const auto& parameter : parameters) values.push_back(parameter ? parameter->c_str() : nullptr);
  Result result{PQexecParams(connection_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                             nullptr, nullptr, 0)};
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw failure(result.get());
  return rows_of(result.get());
}

std::string PgClient::query_value(const std::string& sql) {
  Result result{PQexec(connection_.get(), sql.c_str())};
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) throw failure(result.get());
  if (PQntuples(result.get()) == 0) return {};
  return PQgetvalue(result.get(), 0, 0);
}

std::vector<PgClient::Row> PgClient::query(const std::string& sql, const std::vector<std::string>& parameters) {
  send(sql, parameters);
  return receive();
}

void PgClient::send(const std::string& sql, const std::vector<std::string>& parameters) {
  std::vector<const char*> values;
  values.reserve(parameters.size());
  for (const auto& parameter : parameters) values.push_back(parameter.c_str());
  if (PQsendQueryParams(connection_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                        nullptr, nullptr, 0) == 0) {
    throw failure(nullptr);
  }
}

std::vector<PgClient::Row> PgClient::receive() {
  Result result{PQgetResult(connection_.get())};
  // libpq needs the null result that ends the statement before the connection takes the next one.
  while (Result extra{PQgetResult(connection_.get())}) {
  }
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) throw failure(result.get());
  return rows_of(result.get());
}

void PgClient::send_simple(const std::string& sql) {
  if (PQsendQuery(connection_.get(), sql.c_str()) == 0) throw failure(nullptr);
}

bool PgClient::ready_within(std::chrono::milliseconds timeout) {
  pollfd socket{.fd = PQsocket(connection_.get()), .events = POLLIN, .revents = 0};
  if (PQisBusy(connection_.get()) != 0 && poll(&socket, 1, static_cast<int>(timeout.count())) < 0) {
    throw PgClientError{"backend \"" + backend_name_ + "\": poll failed"};
  }
  if (PQconsumeInput(connection_.get()) == 0) throw failure(nullptr);
  return PQisBusy(connection_.get()) == 0;
}

std::int64_t PgClient::copy_into(PgClient& target, const std::string& copy_out, const std::string& copy_in,
                                 const std::function<void(std::size_t)>& on_row) {
  const Result reading{PQexec(connection_.get(), copy_out.c_str())};
  if (PQresultStatus(reading.get()) != PGRES_COPY_OUT) throw failure(reading.get());
  const Result writing{PQexec(target.connection_.get(), copy_in.c_str())};
  if (PQresultStatus(writing.get()) != PGRES_COPY_IN) throw target.failure(writing.get());
  char* row = nullptr;
  int length = 0;
  while ((length = PQgetCopyData(connection_.get(), &row, 0)) > 0) {
    const int put = PQputCopyData(target.connection_.get(), row, length);
    PQfreemem(row);
    if (put != 1) throw target.failure(nullptr);
    on_row(static_cast<std::size_t>(length));
  }
  if (length == -2) throw failure(nullptr);
  const Result read_end{PQgetResult(connection_.get())};
  while (Result extra{PQgetResult(connection_.get())}) {
  }
  if (PQresultStatus(read_end.get()) != PGRES_COMMAND_OK) throw failure(read_end.get());
  if (PQputCopyEnd(target.connection_.get(), nullptr) != 1) throw target.failure(nullptr);
  const Result write_end{PQgetResult(target.connection_.get())};
  while (Result extra{PQgetResult(target.connection_.get())}) {
  }
  if (PQresultStatus(write_end.get()) != PGRES_COMMAND_OK) throw target.failure(write_end.get());
  return std::atoll(PQcmdTuples(write_end.get()));
}

PgClientError PgClient::failure(const PGresult* result) const {
  const char* primary_message = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const char* sqlstate = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (primary_message == nullptr || sqlstate == nullptr) {
    return PgClientError{"backend \"" + backend_name_ + "\": " + trimmed(PQerrorMessage(connection_.get()))};
  }
  return PgClientError{"backend \"" + backend_name_ + "\": " + primary_message + " (SQLSTATE " + sqlstate + ")",
                       sqlstate};
}

}  // namespace pgdual::jobs
