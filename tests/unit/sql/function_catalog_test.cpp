#include "protocol/sql/function_catalog.h"

#include <array>
#include <string_view>

#include <catch2/catch.hpp>

using namespace pgdual::sql;

namespace {

template <class... Parts>
std::optional<FunctionTraits> lookup(const FunctionCatalog& catalog, Parts... parts) {
  const std::array<std::string_view, sizeof...(Parts)> name{parts...};
  return catalog.function(name);
}

template <class... Parts>
bool is_operator(Parts... parts) {
  const std::array<std::string_view, sizeof...(Parts)> name{parts...};
  return FunctionCatalog::is_builtin_operator(name);
}

}  // namespace

TEST_CASE("built-in functions are known unqualified or qualified with pg_catalog", "[unit][sql]") {
  const FunctionCatalog catalog;
  REQUIRE(lookup(catalog, "lower"));
  CHECK(lookup(catalog, "lower")->read_only);
  CHECK(lookup(catalog, "pg_catalog", "lower")->read_only);
  CHECK_FALSE(lookup(catalog, "public", "lower"));
  CHECK_FALSE(lookup(catalog, "LOWER"));  // the parser folds unquoted names; quoted ones differ
}

TEST_CASE("the built-in list says which values are volatile or server-specific", "[unit][sql]") {
  const FunctionCatalog catalog;
  const auto now = lookup(catalog, "now");
  CHECK((now->read_only && now->volatile_value && !now->server_specific));
  const auto nextval = lookup(catalog, "nextval");
  CHECK((!nextval->read_only && nextval->volatile_value));
  const auto pid = lookup(catalog, "pg_backend_pid");
  CHECK((pid->read_only && pid->server_specific));
  const auto scans = lookup(catalog, "pg_stat_get_numscans");
  CHECK((scans->read_only && scans->server_specific));
  CHECK_FALSE(lookup(catalog, "pg_stat_reset"));
  CHECK_FALSE(lookup(catalog, "setval"));
}

TEST_CASE("configured functions are read-only but cannot override the built-in list",
          "[unit][sql]") {
  const FunctionCatalog catalog{{"report_total", "billing.summary", "nextval"}};
  CHECK(lookup(catalog, "report_total")->read_only);
  CHECK(lookup(catalog, "billing", "summary")->read_only);
  CHECK_FALSE(lookup(catalog, "summary"));
  CHECK_FALSE(lookup(catalog, "other", "report_total"));
  CHECK_FALSE(lookup(catalog, "nextval")->read_only);
}

TEST_CASE("built-in operators are known by symbol", "[unit][sql]") {
  CHECK(is_operator("="));
  CHECK(is_operator("pg_catalog", "~"));
  CHECK(is_operator("->>"));
  CHECK_FALSE(is_operator("==="));
  CHECK_FALSE(is_operator("app", "+"));
}
