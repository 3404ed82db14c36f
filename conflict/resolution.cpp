#include "conflict/resolution.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
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

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text.append(text.empty() ? "" : ", ").append(name);
  return text;
}

// The compared tables a settled conflict wrote, as schema.name, each once.
std::string verified_tables(const VerifiedScope& scope, const ConflictRecord& conflict) {
  std::set<TableName> tables;
  for (const auto& written : conflict.tables) {
    for (const auto& table : referred_tables(written, scope.compared)) tables.insert(table);
  }
  std::vector<std::string> names;
  for (const auto& table : tables) names.push_back(table.display());
  return joined(names);
}

ConflictRecord resolution_of(const ConflictRecord& latest, std::string_view resolved_at, std::string by,
                             std::string note) {
  auto resolution = latest;
  resolution.resolution = Resolution::resolved;
  resolution.time = resolved_at;
  resolution.resolved_by = std::move(by);
  resolution.resolution_note = std::move(note);
  return resolution;
}

}  // namespace

void OpenConflicts::add(const ConflictRecord& record) {
  if (record.resolution == Resolution::open) {
    open_.insert_or_assign(record.id, record);
    resolved_.erase(record.id);
  } else {
    open_.erase(record.id);
    resolved_.insert(record.id);
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
    records.push_back(resolution_of(*record, resolved_at, std::string{kReconcileResolver},
                                    "verified identical on both backends: " + verified_tables(scope, *record)));
  }
  return records;
}

OperatorOutcome operator_resolutions(const OpenConflicts& open, const OperatorResolution& request,
                                     std::string_view resolved_at) {
  OperatorOutcome outcome;
  std::set<std::string> seen;
  for (const auto& id : request.ids) {
    if (!seen.insert(id).second) continue;
    const auto found = open.records().find(id);
    if (found == open.records().end()) {
      outcome.refused.push_back(id + (open.resolved(id) ? ": already resolved" : ": no conflict with this id"));
      continue;
    }
    const auto& tables = found->second.tables;
    auto note = tables.empty() ? request.reason
                               : "by hand, tables not verified by pgdual (" + joined(tables) + "): " + request.reason;
    outcome.records.push_back(resolution_of(found->second, resolved_at, request.by, std::move(note)));
  }
  return outcome;
}

}  // namespace pgdual::conflict
