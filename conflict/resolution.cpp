#include "conflict/resolution.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace pgdual::conflict {
namespace {

std::vector<std::string_view> split_at_dots(std::string_view written) {
  std::vector<std::string_view> parts;
  for (auto dot = written.find('.'); dot != std::string_view::npos; dot = written.find('.')) {
    parts.push_back(written.substr(0, dot));
    written.remove_prefix(dot + 1);
  }
  parts.push_back(written);
  return parts;
}

bool contains(const std::vector<TableName>& tables, const TableName& table) {
  return std::find(tables.begin(), tables.end(), table) != tables.end();
}

}  // namespace

void OpenConflicts::add(const ConflictRecord& record) {
  if (record.resolution == Resolution::open) {
    open_.insert_or_assign(record.id, record);
  } else {
    open_.erase(record.id);
  }
}

std::vector<TableName> referred_tables(std::string_view written, const std::vector<TableName>& compared) {
  const auto parts = split_at_dots(written);
  std::vector<TableName> referred;
  if (parts.size() == 1) {
    std::copy_if(compared.begin(), compared.end(), std::back_inserter(referred),
                 [&](const TableName& table) { return table.name == parts.front(); });
  } else if (parts.size() <= 3) {
    const TableName qualified{std::string{parts[parts.size() - 2]}, std::string{parts.back()}};
    if (contains(compared, qualified)) referred.push_back(qualified);
  }
  return referred;
}

bool settles(const VerifiedScope& scope, const ConflictRecord& conflict) {
  if (scope.database.empty() || conflict.session.database != scope.database || conflict.tables.empty()) return false;
  const auto detected = parse_rfc3339(conflict.time);
  if (!detected || *detected >= scope.verified_from) return false;
  return std::all_of(conflict.tables.begin(), conflict.tables.end(), [&](const std::string& written) {
    const auto referred = referred_tables(written, scope.compared);
    return !referred.empty() && std::all_of(referred.begin(), referred.end(), [&](const TableName& table) {
      return contains(scope.identical, table);
    });
  });
}

std::vector<ConflictRecord> resolutions(const OpenConflicts& open, const VerifiedScope& scope,
                                        std::string_view resolved_at) {
  std::vector<std::pair<Timestamp, const ConflictRecord*>> settled;
  for (const auto& [id, record] : open.records()) {
    if (settles(scope, record)) settled.emplace_back(*parse_rfc3339(record.time), &record);
  }
  std::stable_sort(settled.begin(), settled.end(),
                   [](const auto& left, const auto& right) { return left.first < right.first; });
  std::vector<ConflictRecord> records;
  records.reserve(settled.size());
  for (const auto& [detected, record] : settled) {
    auto resolution = *record;
    resolution.resolution = Resolution::resolved;
    resolution.time = resolved_at;
    records.push_back(std::move(resolution));
  }
  return records;
}

}  // namespace pgdual::conflict
