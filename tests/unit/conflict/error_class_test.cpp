#include "conflict/error_class.h"

#include <catch2/catch.hpp>

using pgdual::conflict::classify_sqlstate;
using pgdual::conflict::ErrorClass;

namespace {

struct Row {
  const char* sqlstate;
  const char* name;
  ErrorClass expected;
};

constexpr ErrorClass kStatement{};
constexpr ErrorClass kTransaction{.poisons_transaction = true};
constexpr ErrorClass kTransactionInDoubt{.poisons_transaction = true, .outcome_unknown = true};
constexpr ErrorClass kClosed{.poisons_connection = true, .poisons_transaction = true};
constexpr ErrorClass kLost{.poisons_connection = true, .poisons_transaction = true, .outcome_unknown = true};
constexpr ErrorClass kClients{.client_fault = true};
constexpr ErrorClass kChance{.failed_by_chance = true};
constexpr ErrorClass kTransactionByChance{.poisons_transaction = true, .failed_by_chance = true};
constexpr ErrorClass kMissing{.missing_table_or_schema = true};

}  // namespace

TEST_CASE("classify_sqlstate judges each error code in one table", "[unit][conflict]") {
  const auto row = GENERATE(values<Row>({
      {"23505", "unique_violation", kClients},
      {"23503", "foreign_key_violation", kClients},
      {"22P02", "invalid_text_representation", kClients},
      {"22012", "division_by_zero", kClients},
      {"42601", "syntax_error", kClients},
      {"42703", "undefined_column", kStatement},
      {"42501", "insufficient_privilege", kStatement},
      {"42P01", "undefined_table", kMissing},
      {"3F000", "invalid_schema_name", kMissing},
      {"57014", "query_canceled", {.failed_by_chance = true, .client_fault = true}},
      {"55P03", "lock_not_available", kChance},
      {"53100", "disk_full", kStatement},
      {"XX000", "internal_error", kStatement},
      {"40001", "serialization_failure", kTransactionByChance},
      {"40P01", "deadlock_detected", kTransactionByChance},
      {"40002", "transaction_integrity_constraint_violation", kTransaction},
      {"40003", "statement_completion_unknown", kTransactionInDoubt},
      {"25P02", "in_failed_sql_transaction", kTransactionByChance},
      {"25001", "active_sql_transaction", {.needs_own_transaction = true}},
      {"25006", "read_only_sql_transaction", kStatement},
      {"25P03", "idle_in_transaction_session_timeout", kClosed},
      {"08000", "connection_exception", kLost},
      {"08003", "connection_does_not_exist", kLost},
      {"08006", "connection_failure", kLost},
      {"08007", "transaction_resolution_unknown", kLost},
      {"08001", "sqlclient_unable_to_establish_sqlconnection", kClosed},
      {"08004", "sqlserver_rejected_establishment_of_sqlconnection", kClosed},
      {"08P01", "protocol_violation", kClosed},
      {"28P01", "invalid_password", kClosed},
      {"28000", "invalid_authorization_specification", kClosed},
      {"53300", "too_many_connections", kClosed},
      {"57P01", "admin_shutdown", kLost},
      {"57P02", "crash_shutdown", kLost},
      {"57P03", "cannot_connect_now", kClosed},
      {"57P04", "database_dropped", kClosed},
      {"57P05", "idle_session_timeout", kClosed},
      {"", "empty", kStatement},
      {"0800", "too short", kStatement},
      {"080000", "too long", kStatement},
      {"22", "a class alone", kStatement},
  }));
  CAPTURE(row.sqlstate, row.name);
  CHECK(classify_sqlstate(row.sqlstate) == row.expected);
}
