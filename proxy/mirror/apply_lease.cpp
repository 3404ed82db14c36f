#include "proxy/mirror/apply_lease.h"

#include <charconv>

#include "conflict/sql_text.h"
#include "proxy/backend/simple_query.h"
#include "proxy/mirror/apply_connection.h"

namespace pgdual::proxy {
namespace {

/// The advisory lock of kLeaseLockFilter.
constexpr std::string_view kTakeLeaseSql = "SELECT pg_catalog.pg_try_advisory_lock(1885824117, 1634757753)";

/// The lock's holder, and the most recently seen instance whose row names its backend. pg_locks
/// shows every session's locks to any role.
std::string lease_holder_sql() {
  return "SELECT l.pid, i.instance::text, i.listen, (extract(epoch FROM clock_timestamp() - i.seen_at) * 1000)::bigint "
         "FROM pg_catalog.pg_locks AS l LEFT JOIN pgdual.instances AS i ON i.apply_pid = l.pid WHERE " +
         std::string{kLeaseLockFilter} + " ORDER BY i.seen_at DESC NULLS LAST LIMIT 1";
}

Awaitable<std::string> refusal_of(BackendConnection& connection, std::string sql) {
  const auto answer = co_await run_simple_query(connection, sql);
  co_return answer.refused ? answer.refused->sqlstate : std::string{};
}

}  // namespace

LeaseVerdict judge(const LeaseHolder& holder, std::chrono::milliseconds unnamed_for,
                   std::chrono::milliseconds timeout) {
  if (holder.pid == 0) return LeaseVerdict::free;
  const auto silent = holder.silent.value_or(unnamed_for);
  return silent > timeout ? LeaseVerdict::silent : LeaseVerdict::alive;
}

LeaseHolder lease_holder_of(const protocol::OwnedDataRow& row) {
  const auto& columns = row.columns;
  if (columns.size() != 4) return {};
  LeaseHolder holder{.pid = static_cast<int>(number_in(columns[0])),
                     .instance = columns[1].value_or(""),
                     .listen = columns[2].value_or(""),
                     .silent = std::nullopt};
  if (columns[3]) holder.silent = std::chrono::milliseconds{number_in(columns[3])};
  return holder;
}

std::string instance_row_sql(const InstanceIdentity& self, bool applies) {
  const std::string apply_pid = applies ? "pg_catalog.pg_backend_pid()" : "NULL";
  std::string sql = "INSERT INTO pgdual.instances AS i (instance, listen, host, pid, started_at, apply_pid) VALUES (" +
                    conflict::quote_literal(self.id) + ", " + conflict::quote_literal(self.listen) + ", " +
                    conflict::quote_literal(self.host) + ", " + std::to_string(self.pid) + ", clock_timestamp(), " +
                    apply_pid + ") ON CONFLICT (instance) DO UPDATE SET seen_at = clock_timestamp()";
  if (applies) sql += ", apply_pid = excluded.apply_pid";
  return sql;
}

Awaitable<bool> take_apply_lease(BackendConnection& mirror, const InstanceIdentity& self) {
  const auto lease = co_await run_simple_query(mirror, kTakeLeaseSql);
  if (lease.refused) throw ApplyError{"the mirror refused the apply lease: " + lease.refused->sqlstate};
  if (lease.rows.empty() || lease.rows.front().columns.empty() || lease.rows.front().columns[0] != "t") {
    co_return false;
  }
  const auto refused = co_await refusal_of(mirror, instance_row_sql(self, true));
  if (!refused.empty()) {
    throw ApplyError{"the mirror refused this instance's row in pgdual.instances (`pgdual init` creates it, schema "
                     "version 8): " + refused};
  }
  co_return true;
}

Awaitable<LeaseHolder> read_lease_holder(BackendConnection& mirror) {
  const auto answer = co_await run_simple_query(mirror, lease_holder_sql());
  if (answer.refused) throw ApplyError{"the mirror refused to say who holds the apply lease: " + answer.refused->sqlstate};
  if (answer.rows.empty()) co_return LeaseHolder{};
  co_return lease_holder_of(answer.rows.front());
}

Awaitable<std::string> end_backend(BackendConnection& connection, int pid) {
  auto refused = co_await refusal_of(connection, "SELECT pg_catalog.pg_terminate_backend(" + std::to_string(pid) + ")");
  co_return refused;
}

Awaitable<std::string> end_slot_reader(BackendConnection& primary, std::string_view slot) {
  auto refused = co_await refusal_of(
      primary, "SELECT pg_catalog.pg_terminate_backend(active_pid) FROM pg_catalog.pg_replication_slots WHERE "
               "slot_name = " + conflict::quote_literal(slot) + " AND active_pid IS NOT NULL");
  co_return refused;
}

Awaitable<bool> slot_exists(BackendConnection& primary, std::string_view slot) {
  const auto answer = co_await run_simple_query(
      primary, "SELECT true FROM pg_catalog.pg_replication_slots WHERE slot_name = " + conflict::quote_literal(slot));
  co_return !answer.refused && !answer.rows.empty();
}

}  // namespace pgdual::proxy
