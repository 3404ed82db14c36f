#include "conflict/jobs/unlogged_tables.h"

#include <string_view>

#include "conflict/jobs/pg_client.h"

namespace pgdual::jobs {
namespace {

/// Temporary schemas hold temporary tables, which are not unlogged ones (relpersistence 't').
constexpr std::string_view kUnloggedTablesSql = R"sql(
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relpersistence = 'u' AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdual') AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1
)sql";

}  // namespace

std::vector<std::string> unlogged_tables(const PreflightTarget& primary) {
  PgClient client{primary.backend, primary.user, primary.database};
  std::vector<std::string> names;
  for (const auto& row : client.query(std::string{kUnloggedTablesSql})) names.push_back(row.at(0).value_or(""));
  return names;
}

}  // namespace pgdual::jobs
