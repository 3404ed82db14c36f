#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include "config/proxy_config.h"

namespace pgdual::jobs {

/// A failed libpq call, with the backend named. For an error the server sent, the message is its
/// primary message only (no DETAIL, which may quote row values) and sqlstate() its code.
class PgClientError : public std::runtime_error {
 public:
  explicit PgClientError(const std::string& message, std::string sqlstate = {})
      : std::runtime_error{message}, sqlstate_{std::move(sqlstate)} {}

  /// The server's SQLSTATE, e.g. "42P01"; empty when the server sent no error (connection lost,
  /// refused, or a libpq failure).
  [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  std::string sqlstate_;
};

/// The libpq connection string of `user` logging in to `database` on `backend`, as PgClient makes
/// it, without the password (give it in PGPASSWORD): for PostgreSQL's own programs, such as pg_dump.
[[nodiscard]] std::string connection_string(const config::BackendConfig& backend, const config::UserConfig& user,
                                            const std::string& database);

/// A blocking libpq connection for pgdual's out-of-band work (schema set-up,
/// checks), never for client traffic.
class PgClient {
 public:
  /// One value in text format; std::nullopt is SQL NULL.
  using Value = std::optional<std::string>;
  /// One result row, or a statement's parameters.
  using Row = std::vector<Value>;

  /// What the connection is for.
  enum class Kind : std::uint8_t {
    ordinary,
    /// A logical replication connection (replication=database): it takes replication commands such
    /// as CREATE_REPLICATION_SLOT, in simple queries only (send_simple()).
    replication,
  };

  /// Connects to `database` on `backend` as `user`. Throws PgClientError.
  PgClient(const config::BackendConfig& backend, const config::UserConfig& user, const std::string& database,
           Kind kind = Kind::ordinary);

  /// Runs `sql` (one or more statements, no parameters). Throws PgClientError
  /// with the server's message.
  void execute(const std::string& sql);

  /// The first column of the first row of `sql`'s result, or "" when there is
  /// no row. Throws PgClientError.
  [[nodiscard]] std::string query_value(const std::string& sql);

  /// Every row of `sql` (one statement), with `parameters` bound as $1, $2… in text format (the
  /// server infers their types; cast them in `sql` where it cannot). The whole result is held in
  /// memory, so `sql` should bound its rows. Throws PgClientError.
  [[nodiscard]] std::vector<Row> query(const std::string& sql, const std::vector<std::string>& parameters = {});

  /// Runs one statement (INSERT, DELETE, DDL) with `parameters` as $1, $2…, which may be NULL.
  /// Returns the rows of its RETURNING clause, if it has one. Throws PgClientError.
  std::vector<Row> execute(const std::string& sql, const Row& parameters);

  /// query() in two halves, so that two servers can work at once: send() returns as soon as the
  /// statement is on its way, receive() waits for its rows. Each send() needs its receive()
  /// before the next call on this client. Throw PgClientError.
  void send(const std::string& sql, const std::vector<std::string>& parameters = {});
  [[nodiscard]] std::vector<Row> receive();
  /// send() as a simple Query, with no parameters: for a replication connection, or a server that
  /// answers simple queries only (pgdual's admin console). receive() takes its rows. Throws PgClientError.
  void send_simple(const std::string& sql);
  /// Whether receive() would not wait now, after waiting up to `timeout` for it. Throws PgClientError.
  [[nodiscard]] bool ready_within(std::chrono::milliseconds timeout);

  /// Runs `copy_out`, a COPY ... TO STDOUT, here and `copy_in`, a COPY ... FROM STDIN, on `target`,
  /// and hands each row (text COPY sends one a message) from one to the other as it comes, calling
  /// `on_row` with its size after each; an exception from `on_row` stops the copy, and both
  /// connections are to be dropped then. Returns the rows `target` took. Throws PgClientError,
  /// naming the side that failed.
  std::int64_t copy_into(PgClient& target, const std::string& copy_out, const std::string& copy_in,
                         const std::function<void(std::size_t)>& on_row);

 private:
  struct Finish {
    void operator()(PGconn* connection) const noexcept { PQfinish(connection); }
  };
  [[nodiscard]] PgClientError failure(const PGresult* result) const;

  std::string backend_name_;
  std::unique_ptr<PGconn, Finish> connection_;
};

}  // namespace pgdual::jobs
