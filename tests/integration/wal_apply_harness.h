#pragma once

// What the tests of the WAL apply share: a pgoutput slot on the primary read with SQL (no slot
// reader of pgdual's), an ApplyConnection on the mirror fed its messages, and the servers' setup.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "conflict/jobs/pg_client.h"
#include "protocol/pgoutput.h"
#include "proxy/mirror/apply_connection.h"
#include "tests/integration/harness/fixture.h"

namespace pgdual::test::wal_apply {

using namespace std::chrono_literals;
using proxy::ApplyConnection;
using proxy::ApplyMode;
using proxy::Awaitable;
using proxy::TransactionResult;
using Status = TransactionResult::Status;
namespace asio = proxy::asio;
namespace lr = protocol::logicalrep;

using Messages = std::vector<std::vector<std::byte>>;

inline constexpr const char* kSlot = "apply_test";
inline constexpr const char* kPublication = "apply_test_all";

inline config::BackendConfig backend_config(const PgCluster& server) {
  return config::BackendConfig{.name = server.name(), .host = "127.0.0.1", .port = server.port(),
                               .connect_timeout = 10s};
}

inline jobs::PgClient superuser_client(const PgCluster& server, const std::string& database) {
  return jobs::PgClient{backend_config(server), config::UserConfig{PgCluster::kSuperuser, PgCluster::kSuperuserPassword},
                        database};
}

/// The primary publishes every table, and a slot keeps its changes from now on. The slot is
/// dropped when this goes: it would hold the shared server's WAL.
class PrimarySlot {
 public:
  explicit PrimarySlot(std::string database) : database_{std::move(database)} {
    // Two calls: a slot cannot be created in a transaction that has written.
    static_cast<void>(backends().onprem.run_sql(database_, std::string{"CREATE PUBLICATION "} + kPublication +
                                                               " FOR ALL TABLES"));
    static_cast<void>(backends().onprem.run_sql(
        database_, std::string{"SELECT pg_create_logical_replication_slot('"} + kSlot + "', 'pgoutput')"));
  }
  ~PrimarySlot() {
    try {
      static_cast<void>(backends().onprem.run_sql(database_, std::string{"SELECT pg_drop_replication_slot('"} + kSlot + "')"));
    } catch (const std::exception&) {
      // A failed test may leave a session on the slot; the server goes with the test binary anyway.
    }
  }
  PrimarySlot(const PrimarySlot&) = delete;
  PrimarySlot& operator=(const PrimarySlot&) = delete;

  /// The messages committed since the last call, as pgoutput sends them (with logical messages).
  [[nodiscard]] Messages take_changes() const {
    auto client = superuser_client(backends().onprem, database_);
    const auto rows = client.query(std::string{"SELECT data FROM pg_logical_slot_get_binary_changes('"} + kSlot +
                                   "', NULL, NULL, 'proto_version', '1', 'publication_names', '" + kPublication +
                                   "', 'messages', 'true')");
    Messages messages;
    for (const auto& row : rows) messages.push_back(from_bytea_hex(row.at(0).value()));
    return messages;
  }

  /// The source name the apply records: the slot and the primary's system identifier.
  [[nodiscard]] std::string source() const {
    auto client = superuser_client(backends().onprem, database_);
    return proxy::source_name(kSlot, client.query_value("SELECT system_identifier FROM pg_control_system()"));
  }

 private:
  // bytea's text output: "\x" and two hex digits a byte.
  static std::vector<std::byte> from_bytea_hex(const std::string& text) {
    REQUIRE(text.starts_with("\\x"));
    std::vector<std::byte> bytes;
    for (std::size_t i = 2; i + 1 < text.size(); i += 2) {
      bytes.push_back(static_cast<std::byte>(std::stoi(text.substr(i, 2), nullptr, 16)));
    }
    return bytes;
  }

  std::string database_;
};

/// Runs `operation` to its end (a minute at most) and returns its value or throws its exception.
template <class T>
T run_to_end(Awaitable<T> operation) {
  asio::io_context io;
  std::optional<T> value;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(operation), [&](std::exception_ptr thrown, T result) {
    error = thrown;
    if (!thrown) value = std::move(result);
  });
  io.run_for(60s);
  if (error) std::rethrow_exception(error);
  REQUIRE(value);
  return std::move(*value);
}

inline proxy::BackendLogin login_as(const std::string& user, const std::string& password, const std::string& database) {
  return proxy::BackendLogin{.user = user,
                             .password = password,
                             .protocol_version = 196608,  // 3.0
                             .parameters = {{"user", user}, {"database", database}}};
}

/// Opens an apply connection to the mirror as `login` and feeds it every message, in `mode`; with
/// `batch`, telling it that more follow up to the last, so that transactions share COMMITs.
inline Awaitable<std::vector<TransactionResult>> apply_all(proxy::BackendLogin login, std::string source,
                                                    const Messages& messages, ApplyMode mode, bool batch,
                                                    proxy::ApplyOptions options = {}) {
  auto connection = co_await proxy::BackendConnection::open(backend_config(backends().cloud), nullptr, login, 1 << 24);
  auto apply = co_await ApplyConnection::open(std::move(connection), std::move(source), std::move(options));
  apply.set_mode(mode);
  std::vector<TransactionResult> results;
  lr::DecodeState state;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto message = lr::decode(messages[i], state);
    if (!message) throw std::runtime_error{"undecodable pgoutput message: " + message.error().message()};
    state = lr::next_state(state, *message);
    auto finished = co_await apply.feed(*message, batch && i + 1 < messages.size());
    for (auto& result : finished) results.push_back(std::move(result));
  }
  co_await apply.terminate();
  co_return results;
}

inline std::vector<TransactionResult> apply_as_superuser(const std::string& database, const PrimarySlot& slot,
                                                  const Messages& messages, ApplyMode mode = ApplyMode::fast,
                                                  bool batch = false, proxy::ApplyOptions options = {}) {
  return run_to_end(apply_all(login_as(PgCluster::kSuperuser, PgCluster::kSuperuserPassword, database),
                              slot.source(), messages, mode, batch, std::move(options)));
}

inline std::size_t count_with(const std::vector<TransactionResult>& results, Status status) {
  return static_cast<std::size_t>(
      std::count_if(results.begin(), results.end(), [&](const auto& result) { return result.status == status; }));
}

/// Runs each statement on the primary in a transaction of its own.
inline void run_on_primary(const std::string& database, const std::vector<std::string>& statements) {
  auto client = superuser_client(backends().onprem, database);
  // The harness turns it off; the slot decodes only what is flushed.
  client.execute("SET synchronous_commit = on");
  for (const auto& statement : statements) client.execute(statement);
}

inline void create_on_both(const std::string& database, const std::string& ddl) {
  for (auto* server : {&backends().onprem, &backends().cloud}) static_cast<void>(server->run_sql(database, ddl));
}

}  // namespace pgdual::test::wal_apply
