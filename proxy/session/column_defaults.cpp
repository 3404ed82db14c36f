#include "proxy/session/column_defaults.h"

#include <algorithm>

namespace pgdual::proxy {
namespace {

/// For every table with a column default that differs between two executions,
/// its name (qualified and bare) and those functions. Identity columns draw
/// from a sequence, as serial ones do.
constexpr std::string_view kVolatileDefaultsQuery = R"SQL(
SELECT t.name, string_agg(DISTINCT f.fn, ',' ORDER BY f.fn)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
CROSS JOIN LATERAL (VALUES (CASE WHEN a.attidentity <> '' THEN 'nextval' ELSE lower(substring(
  pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM
  '(nextval|random|gen_random_uuid|uuid_generate_\w+|clock_timestamp|now|statement_timestamp|transaction_timestamp|timeofday|CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME)'
)) END)) f(fn)
CROSS JOIN LATERAL (VALUES (n.nspname || '.' || c.relname), (c.relname)) t(name)
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND f.fn IS NOT NULL
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdual')
GROUP BY t.name)SQL";

void add_names(std::string_view names, std::vector<std::string>& to) {
  for (std::size_t start = 0; start <= names.size();) {
    const auto end = std::min(names.find(',', start), names.size());
    const auto name = std::string{names.substr(start, end - start)};
    if (!name.empty() && std::ranges::find(to, name) == to.end()) to.push_back(name);
    start = end + 1;
  }
}

}  // namespace

bool draws_defaults(std::string_view command_tag) {
  return command_tag.starts_with("INSERT") || command_tag.starts_with("COPY") || command_tag.starts_with("MERGE");
}

Awaitable<bool> ColumnDefaults::read(MirrorLink& link) {
  if (!link.connected() || link.leg().transaction_status() == protocol::TransactionStatus::failed) co_return false;
  link.leg().queue_injected(kVolatileDefaultsQuery);
  // Apart from the ||: GCC 12 miscompiles co_await in a condition's short-circuit operands.
  const bool settled = co_await link.read_owed_answers();
  if (!settled || link.leg().injected_outcome().error) co_return false;
  volatile_.clear();
  for (const auto& row : link.leg().injected_rows()) {
    if (row.columns.size() == 2 && row.columns[0] && row.columns[1]) volatile_[*row.columns[0]] = *row.columns[1];
  }
  known_ = true;
  co_return true;
}

void ColumnDefaults::add_drawn(std::string_view command_tag, const std::vector<std::string>& tables,
                               std::vector<std::string>& unpinned) const {
  if (!draws_defaults(command_tag)) return;
  for (const auto& table : tables) {
    if (const auto found = volatile_.find(table); found != volatile_.end()) add_names(found->second, unpinned);
  }
}

}  // namespace pgdual::proxy
