#include "conflict/jobs/object_repair.h"

#include <algorithm>
#include <string_view>

#include "conflict/jobs/object_verifier.h"

namespace pgdual::jobs {
namespace {

using conflict::Oid;
using conflict::Side;

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

/// Bytes in a bytea's text form, "\x" and two hex digits a byte (bytea_output 'hex').
std::size_t bytea_size(const std::string& text) { return text.size() < 2 ? 0 : (text.size() - 2) / 2; }

}  // namespace

ObjectRepair::ObjectRepair(Verifier& verifier, bool whole_database, MirrorWriter* writer)
    : verifier_{verifier}, whole_database_{whole_database}, writer_{whole_database ? writer : nullptr} {}

std::vector<conflict::TableName> ObjectRepair::comparable(const std::vector<conflict::TableName>& tables) {
  ObjectVerifier objects{verifier_.client(Side::primary), verifier_.client(Side::mirror)};
  not_compared_ = objects.not_compared(tables, whole_database_);
  return conflict::comparable_tables(tables, not_compared_);
}

// One transaction per object: a failure leaves no half-written object on the mirror.
void ObjectRepair::copy_large_object(Oid oid, bool exists_on_mirror) {
  auto& primary = verifier_.client(Side::primary);
  const auto id = std::to_string(oid);
  writer_->transaction([&](PgClient& mirror) {
    mirror.execute(std::string{exists_on_mirror ? conflict::truncate_large_object() : conflict::create_large_object()},
                   PgClient::Row{id});
    for (std::int64_t at = 0;; at += conflict::kLargeObjectSlice) {
      const auto slice = text_of(primary.query(std::string{conflict::read_large_object_slice()},
                                               {id, std::to_string(at)}).at(0), 0);
      if (bytea_size(slice) == 0) break;
      mirror.execute(std::string{conflict::write_large_object_slice()}, PgClient::Row{id, std::to_string(at), slice});
      if (bytea_size(slice) < static_cast<std::size_t>(conflict::kLargeObjectSlice)) break;
    }
  });
}

void ObjectRepair::repair_large_objects(const conflict::LargeObjectDifferences& differences,
                                        conflict::LargeObjectPlan& plan) {
  plan.unreadable.add(differences.unreadable);
  if (writer_ == nullptr) {
    plan.copy.add(differences.missing_on_mirror);
    plan.overwrite.add(differences.differing);
    plan.remove.add(differences.extra_on_mirror);
    return;
  }
  if (!differences.extra_on_mirror.empty()) {
    writer_->transaction([&](PgClient& mirror) {
      for (const auto oid : differences.extra_on_mirror) {
        mirror.execute(std::string{conflict::unlink_large_object()}, PgClient::Row{std::to_string(oid)});
      }
    });
    plan.remove.add(differences.extra_on_mirror);
  }
  for (const auto oid : differences.missing_on_mirror) {
    copy_large_object(oid, false);
    plan.copy.add(std::span{&oid, 1});
  }
  for (const auto oid : differences.differing) {
    copy_large_object(oid, true);
    plan.overwrite.add(std::span{&oid, 1});
  }
}

ObjectRepairOutcome ObjectRepair::repair(std::FILE* out) {
  ObjectRepairOutcome outcome;
  for (const auto& relation : not_compared_) print(out, conflict::render_not_compared(relation));
  if (!whole_database_) return outcome;
  ObjectVerifier objects{verifier_.client(Side::primary), verifier_.client(Side::mirror)};
  for (const auto& view : objects.compare_materialized_views()) {
    if (view.identical()) continue;
    outcome.something = true;
    const auto statement = conflict::materialized_view_repair(view);
    outcome.by_hand = outcome.by_hand || !statement;
    try {
      if (writer_ != nullptr && statement) writer_->transaction([&](PgClient& mirror) { mirror.execute(*statement); });
      print(out, conflict::render_materialized_view_repair(view, writer_ != nullptr));
    } catch (const PgClientError& error) {
      print(out, "materialized view " + view.view.display() + ": not reconciled: " + error.what() + "\n");
      outcome.by_hand = true;
    }
  }
  conflict::LargeObjectPlan plan;
  const auto verdict = objects.compare_large_objects(
      [&](const conflict::LargeObjectDifferences& differences) { repair_large_objects(differences, plan); });
  plan.error = verdict.error;
  if (!plan.empty()) {
    print(out, conflict::render_large_object_plan(plan, writer_ != nullptr));
    outcome.something = true;
    outcome.by_hand = outcome.by_hand || plan.needs_operator();
  }
  return outcome;
}

bool ObjectRepair::verify_again(conflict::VerifiedScope& scope, std::FILE* out) {
  bool views_identical = true;
  bool large_objects_identical = false;  // not known to be, unless compared
  if (whole_database_) {
    ObjectVerifier objects{verifier_.client(Side::primary), verifier_.client(Side::mirror)};
    for (const auto& view : objects.compare_materialized_views()) {
      if (!view.identical()) print(out, "still differs: " + conflict::render_materialized_view(view));
      views_identical = views_identical && view.identical();
    }
    const auto large_objects = objects.compare_large_objects();
    if (!large_objects.identical()) print(out, "still differs: " + conflict::render_large_objects(large_objects));
    large_objects_identical = large_objects.identical();
  }
  // A conflict names the table a statement wrote, not the large object whose OID went into it.
  if (!large_objects_identical) {
    std::erase_if(scope.identical, [&](const conflict::TableName& table) {
      const auto* schema = verifier_.schema(Side::primary, table);
      return schema != nullptr && conflict::may_reference_large_objects(*schema);
    });
  }
  return views_identical && (large_objects_identical || !whole_database_);
}

}  // namespace pgdual::jobs
