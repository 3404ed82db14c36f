#include "conflict/jobs/object_verifier.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "conflict/jobs/verifier.h"

namespace pgdual::jobs {
namespace {

using conflict::Oid;
using conflict::TableName;

TableName name_of(const PgClient::Row& row) { return {.schema = text_of(row, 0), .name = text_of(row, 1)}; }

std::vector<conflict::UncomparableRelation> uncomparable(PgClient& client) {
  std::vector<conflict::UncomparableRelation> relations;
  for (const auto& row : client.query(conflict::uncomparable_relations_query())) {
    relations.push_back({.name = name_of(row),
                         .kind = text_of(row, 2) == "f" ? conflict::Uncomparable::foreign_table
                                                        : conflict::Uncomparable::unlogged_table});
  }
  return relations;
}

Oid oid_of(const PgClient::Row& row) {
  const auto text = text_of(row, 0);
  Oid oid = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), oid);
  if (error != std::errc{} || end != text.data() + text.size()) throw std::runtime_error{"not an OID: " + text};
  return oid;
}

std::vector<conflict::LargeObjectDigest> digests_of(const std::vector<PgClient::Row>& rows) {
  std::vector<conflict::LargeObjectDigest> digests;
  digests.reserve(rows.size());
  for (const auto& row : rows) digests.push_back({.oid = oid_of(row), .digest = row.at(1)});
  return digests;
}

}  // namespace

std::vector<conflict::NotCompared> ObjectVerifier::not_compared(const std::vector<TableName>& tables,
                                                                bool whole_database) {
  const auto ours = uncomparable(primary_);
  const auto theirs = uncomparable(mirror_);
  auto relations = conflict::pair_uncomparable(ours, theirs);
  if (!whole_database) {
    std::erase_if(relations, [&](const conflict::NotCompared& relation) {
      return std::ranges::find(tables, relation.name) == tables.end();
    });
  }
  return relations;
}

std::vector<conflict::MaterializedView> ObjectVerifier::materialized_views(PgClient& client) {
  std::map<TableName, conflict::MaterializedView> views;
  for (const auto& row : client.query(conflict::materialized_views_query())) {
    views[name_of(row)] = {.schema = {.table = name_of(row), .columns = {}, .primary_key = {}, .constraints = {},
                                      .indexes = {}},
                           .definition = text_of(row, 2), .populated = text_of(row, 3) == "t"};
  }
  for (const auto& row : client.query(conflict::materialized_view_columns_query())) {
    const auto view = views.find(name_of(row));
    if (view == views.end()) continue;  // created between the two queries
    view->second.schema.columns.push_back({.name = text_of(row, 2), .type = text_of(row, 3), .not_null = false,
                                           .default_text = {}, .collation = {}});
  }
  std::vector<conflict::MaterializedView> sorted;
  for (auto& [name, view] : views) sorted.push_back(std::move(view));
  return sorted;
}

std::vector<conflict::MaterializedViewVerdict> ObjectVerifier::compare_materialized_views() {
  const Snapshot primary_snapshot{primary_, points_.primary};
  const Snapshot mirror_snapshot{mirror_, points_.mirror};
  const auto ours = materialized_views(primary_);
  const auto theirs = materialized_views(mirror_);
  auto verdicts = conflict::pair_materialized_views(ours, theirs);
  for (auto& verdict : verdicts) {
    if (!verdict.rows_comparable()) continue;
    try {
      const auto rows = query_both(primary_, mirror_, conflict::materialized_view_hash_query(verdict));
      verdict.primary_rows = full_hash_of(rows.primary);
      verdict.mirror_rows = full_hash_of(rows.mirror);
    } catch (const PgClientError& error) {
      verdict.error = error.what();
    }
  }
  return verdicts;
}

conflict::LargeObjectVerdict ObjectVerifier::compare_large_objects(const LargeObjectSink& on_differences) {
  conflict::LargeObjectVerdict verdict;
  try {
    const Snapshot primary_snapshot{primary_, points_.primary};
    const Snapshot mirror_snapshot{mirror_, points_.mirror};
    for (Oid lower = 0;;) {
      const auto end = primary_.query(conflict::large_object_chunk_end_query(), {std::to_string(lower)});
      const Oid upper = end.empty() ? conflict::kMaxOid : oid_of(end.front());
      const auto rows = query_both(primary_, mirror_, conflict::large_object_digests_query(),
                                   {std::to_string(lower), std::to_string(upper)});
      const auto ours = digests_of(rows.primary);
      const auto theirs = digests_of(rows.mirror);
      const auto differences = conflict::compare_large_objects(ours, theirs);
      verdict.add(ours.size(), theirs.size(), differences);
      if (on_differences && !differences.empty()) on_differences(differences);
      if (upper == conflict::kMaxOid) break;
      lower = upper;
    }
  } catch (const std::exception& error) {
    verdict.error = error.what();
  }
  return verdict;
}

}  // namespace pgdual::jobs
