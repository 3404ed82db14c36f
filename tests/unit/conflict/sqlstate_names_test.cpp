#include "conflict/sqlstate_names.h"

#include <algorithm>
#include <set>
#include <string>

#include <catch2/catch.hpp>


using namespace pgdual::conflict;

TEST_CASE("SQLSTATEs a reviewer meets have PostgreSQL's condition name and a meaning", "[unit][conflict]") {
  const std::vector<std::pair<std::string_view, std::string_view>> names{
      {"23505", "unique_violation"},       {"40001", "serialization_failure"}, {"42P01", "undefined_table"},
      {"53300", "too_many_connections"},   {"57014", "query_canceled"},        {"08006", "connection_failure"},
      {"428C9", "generated_always"},       {"23503", "foreign_key_violation"}, {"40P01", "deadlock_detected"},
      {"25P02", "in_failed_sql_transaction"}, {"42703", "undefined_column"},   {"P0001", "raise_exception"}};
  for (const auto& [code, condition] : names) {
    INFO(code);
    const auto description = describe_sqlstate(code);
    CHECK(description.condition == condition);
    CHECK_FALSE(description.meaning.empty());
  }
  CHECK(sqlstate_line("23505") == "23505 unique_violation: a row with the same unique key already exists");
  CHECK(sqlstate_line("57014") == "57014 query_canceled: the statement was cancelled, by the client or "
                                  "statement_timeout");
}

TEST_CASE("A SQLSTATE not in the table is described by its class", "[unit][conflict]") {
  const auto description = describe_sqlstate("23P99");
  CHECK(description.condition.empty());
  CHECK(description.meaning.empty());
  CHECK(description.class_name == "integrity constraint violation");
  CHECK(sqlstate_line("23P99") == "23P99: class 23, integrity constraint violation");
  CHECK(sqlstate_line("HV00R") == "HV00R: class HV, foreign data wrapper error");
  CHECK(sqlstate_line("ZZ999") == "ZZ999: not a SQLSTATE PostgreSQL documents");
  CHECK(sqlstate_line("235") == "235: not a SQLSTATE PostgreSQL documents");
  CHECK(sqlstate_line("") == ": not a SQLSTATE PostgreSQL documents");
  CHECK(describe_sqlstate("2350").class_name.empty());
}

TEST_CASE("The SQLSTATE table is well formed", "[unit][conflict]") {
  std::set<std::string_view> classes;
  for (const auto& row : known_sqlstate_classes()) {
    INFO(row.code);
    CHECK(row.code.size() == 2);
    CHECK(classes.insert(row.code).second);
    CHECK_FALSE(row.name.empty());
  }
  std::set<std::string_view> codes;
  std::set<std::string_view> conditions;
  for (const auto& row : known_sqlstates()) {
    INFO(row.code);
    CHECK(row.code.size() == 5);
    CHECK(codes.insert(row.code).second);
    CHECK(conditions.insert(row.condition).second);
    CHECK(classes.contains(row.code.substr(0, 2)));
    CHECK(std::all_of(row.code.begin(), row.code.end(),
                      [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }));
    CHECK(std::all_of(row.condition.begin(), row.condition.end(),
                      [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; }));
    CHECK_FALSE(row.meaning.empty());
    CHECK(row.meaning.find('\n') == std::string_view::npos);
    CHECK_FALSE(row.meaning.ends_with('.'));
  }
}

TEST_CASE("Every SQLSTATE pgdual judges by code has a name in the report", "[unit][conflict]") {
  // The codes error_class.cpp names one by one: a reviewer meets them in conflicts.
  for (const auto* code : {"08001", "08004", "08P01", "25001", "25P02", "25P03", "3F000", "40001", "40P01", "40003",
                           "42601", "42P01", "53300", "55P03", "57014", "57P01", "57P02", "57P03", "57P04",
                           "57P05"}) {
    INFO(code);
    CHECK_FALSE(describe_sqlstate(code).condition.empty());
  }
}
