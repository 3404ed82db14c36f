#include "conflict/jobs/keyed_repair.h"

#include <algorithm>
#include <utility>

#include "protocol/sqlstate.h"

namespace pgdual::jobs {
namespace {

using conflict::Key;
using conflict::RowText;

std::vector<std::string> flattened(std::span<const Key> keys) {
  std::vector<std::string> values;
  for (const auto& key : keys) values.insert(values.end(), key.begin(), key.end());
  return values;
}

template <class Item, class Work>
void in_slices(std::span<const Item> items, std::size_t slice, const Work& work) {
  for (std::size_t first = 0; first < items.size(); first += slice) {
    work(items.subspan(first, std::min(slice, items.size() - first)));
  }
}

void append(std::vector<Key>& to, std::vector<Key> keys) {
  to.insert(to.end(), std::make_move_iterator(keys.begin()), std::make_move_iterator(keys.end()));
}

}  // namespace

KeyedRepair::KeyedRepair(const conflict::TableSchema& primary, PgClient& primary_now, MirrorWriter& writer,
                         conflict::TablePlan& plan)
    : queries_{primary}, primary_{primary_now}, writer_{writer}, plan_{plan} {}

void KeyedRepair::add(const conflict::RowDifferences& differences) {
  for (const auto* keys : {&differences.missing_on_mirror, &differences.differing, &differences.extra_on_mirror}) {
    queued_.insert(queued_.end(), keys->begin(), keys->end());
  }
  if (queued_.size() >= queries_.keys_per_statement()) repair(std::exchange(queued_, {}), true);
}

void KeyedRepair::finish() {
  repair(std::exchange(queued_, {}), true);
  repair(std::exchange(put_off_, {}), false);
}

void KeyedRepair::repair(std::vector<Key> keys, bool may_put_off) {
  if (keys.empty()) return;
  Changes changes;
  try {
    writer_.transaction([&](PgClient& mirror) {
      changes = {};
      in_slices<Key>(keys, queries_.keys_per_statement(),
                     [&](std::span<const Key> slice) { repair_slice(mirror, slice, may_put_off, changes); });
    });
  } catch (const PgClientError& error) {
    failed_sqlstate_ = error.sqlstate();
    throw;
  }
  note(std::move(changes));
}

void KeyedRepair::repair_slice(PgClient& mirror, std::span<const Key> keys, bool may_put_off, Changes& changes) {
  const auto values = flattened(keys);
  // The mirror's rows first: locked, they take no write until this transaction ends, and the
  // primary's rows read next are at least as new as anything the mirror has of them.
  const auto mirror_rows = mirror.query(queries_.lock_rows(keys.size()), values);
  auto primary_rows = primary_.query(queries_.select_rows(keys.size()), values);
  const auto decision = queries_.decide(keys.size(), std::move(primary_rows), mirror_rows);
  changes.agreed += decision.agreed;
  mirror.execute("SAVEPOINT pgdual_repair");
  try {
    remove(mirror, decision.remove);
    upsert(mirror, decision.insert);
    upsert(mirror, decision.update);
    mirror.execute("RELEASE SAVEPOINT pgdual_repair");
  } catch (const PgClientError& error) {
    if (!may_put_off || error.sqlstate() != protocol::sqlstate::kUniqueViolation) throw;
    mirror.execute("ROLLBACK TO SAVEPOINT pgdual_repair");
    replace(mirror, decision, changes);
    return;
  }
  append(changes.removed, decision.remove);
  append(changes.inserted, queries_.keys_of(decision.insert));
  append(changes.updated, queries_.keys_of(decision.update));
}

void KeyedRepair::replace(PgClient& mirror, const conflict::KeyedRepairDecision& decision, Changes& changes) {
  const auto updated = queries_.keys_of(decision.update);
  auto replaced = decision.remove;
  replaced.insert(replaced.end(), updated.begin(), updated.end());
  remove(mirror, replaced);
  std::vector<RowText> rows = decision.insert;
  rows.insert(rows.end(), decision.update.begin(), decision.update.end());
  std::set<Key> inserted;
  in_slices<RowText>(rows, queries_.rows_per_statement(), [&](std::span<const RowText> slice) {
    PgClient::Row values;
    for (const auto& row : slice) values.insert(values.end(), row.begin(), row.end());
    for (const auto& returned : mirror.execute(queries_.insert_returning_keys(slice.size()), values)) {
      Key key;
      for (const auto& value : returned) key.push_back(value.value_or(std::string{}));
      inserted.insert(std::move(key));
    }
  });
  append(changes.removed, decision.remove);
  for (const auto& row : rows) {
    auto key = queries_.key_of(row);
    const bool was_update = std::ranges::find(updated, key) != updated.end();
    if (inserted.contains(key)) {
      (was_update ? changes.updated : changes.inserted).push_back(std::move(key));
      continue;
    }
    if (was_update) put_off_updates_.insert(key);
    put_off_.push_back(std::move(key));
  }
}

void KeyedRepair::remove(PgClient& mirror, const std::vector<Key>& keys) {
  in_slices<Key>(keys, queries_.keys_per_statement(), [&](std::span<const Key> slice) {
    const auto values = flattened(slice);
    mirror.execute(queries_.delete_rows(slice.size()), PgClient::Row{values.begin(), values.end()});
  });
}

void KeyedRepair::upsert(PgClient& mirror, const std::vector<RowText>& rows) {
  in_slices<RowText>(rows, queries_.rows_per_statement(), [&](std::span<const RowText> slice) {
    PgClient::Row values;
    for (const auto& row : slice) values.insert(values.end(), row.begin(), row.end());
    mirror.execute(queries_.upsert(slice.size()), values);
  });
}

// A key put off and repaired at the end counts as what it was when first found: a differing row
// is an update, though the batch that put it off had deleted it.
void KeyedRepair::note(Changes changes) {
  std::erase_if(changes.inserted, [&](const Key& key) {
    if (!put_off_updates_.contains(key)) return false;
    changes.updated.push_back(key);
    return true;
  });
  plan_.insert.add(std::move(changes.inserted));
  plan_.update.add(std::move(changes.updated));
  plan_.remove.add(std::move(changes.removed));
  plan_.left_alone += changes.agreed;
}

}  // namespace pgdual::jobs
