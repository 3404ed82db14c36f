#include "proxy/route/temporary_relations.h"

#include <algorithm>
#include <string_view>

namespace pgdual::proxy {
namespace {

constexpr std::string_view kTemporarySchema = "pg_temp.";

}  // namespace

void TemporaryRelations::note(const sql::Classification& statement) {
  for (const auto& dropped : statement.dropped_relations) {
    std::string_view name = dropped;
    if (name.starts_with(kTemporarySchema)) name.remove_prefix(kTemporarySchema.size());
    if (const auto found = names_.find(name); found != names_.end()) names_.erase(found);
  }
  names_.insert(statement.temporary_relations.begin(), statement.temporary_relations.end());
}

bool TemporaryRelations::only_temporary(const sql::Classification& statement) const {
  if (statement.creates_permanent_relation || statement.tables.empty()) return false;
  return std::ranges::all_of(statement.tables, [this](const std::string& table) { return is_temporary(table); });
}

// A name in pg_temp is the session's; any other qualified name is not; an unqualified one is when
// the session made a temporary relation of that name, which then hides any permanent one.
bool TemporaryRelations::is_temporary(const std::string& relation) const {
  if (std::string_view{relation}.starts_with(kTemporarySchema)) return true;
  return relation.find('.') == std::string::npos && names_.contains(relation);
}

}  // namespace pgdual::proxy
