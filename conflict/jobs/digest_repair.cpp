#include "conflict/jobs/digest_repair.h"

#include <string>
#include <utility>

namespace pgdual::jobs {
namespace {

using conflict::DigestSurplus;
using conflict::Side;

/// Digest counts fetched per round trip.
constexpr int kDigestFetchRows = 5000;
/// Differing digests repaired per transaction.
constexpr std::size_t kDigestBatch = 500;

std::string text_array(const std::vector<std::string>& digests) { return "{" + conflict::join(digests, ",") + "}"; }

}  // namespace

DigestRepair::DigestRepair(Verifier& verifier, const conflict::TableSchema& ours, const conflict::TableSchema& theirs,
                           MirrorWriter* writer, PgClient* primary_now)
    : queries_{ours, conflict::compared_columns(ours, theirs)},
      primary_{verifier.client(Side::primary)},
      mirror_{verifier.client(Side::mirror)},
      writer_{writer},
      primary_now_{primary_now} {}

void DigestRepair::run(conflict::TablePlan& plan) {
  const Snapshot primary_snapshot{primary_};
  const Snapshot mirror_snapshot{mirror_};
  const auto declare = "DECLARE pgdual_digests NO SCROLL CURSOR FOR " + queries_.digest_counts();
  primary_.execute(declare);
  mirror_.execute(declare);
  conflict::DigestCountMerge merge;
  std::vector<DigestSurplus> batch;
  while (!merge.finished()) {
    for (const auto side : {Side::primary, Side::mirror}) {
      if (merge.needs(side)) fetch(side, merge);
    }
    for (auto& surplus : merge.take()) batch.push_back(std::move(surplus));
    if (batch.size() >= kDigestBatch) repair(std::exchange(batch, {}), plan);
  }
  repair(std::move(batch), plan);
}

void DigestRepair::fetch(Side side, conflict::DigestCountMerge& merge) {
  auto& client = side == Side::primary ? primary_ : mirror_;
  const auto rows = client.query("FETCH " + std::to_string(kDigestFetchRows) + " FROM pgdual_digests");
  std::vector<conflict::DigestCount> counts;
  for (const auto& row : rows) counts.push_back({.digest = text_of(row, 0), .rows = number_of(row, 1)});
  merge.add(side, std::move(counts), rows.size() < static_cast<std::size_t>(kDigestFetchRows));
}

void DigestRepair::repair(std::vector<DigestSurplus> batch, conflict::TablePlan& plan) {
  if (batch.empty()) return;
  const auto found = batch.size();
  if (writer_ != nullptr) batch = write(batch);
  plan.left_alone += found - batch.size();
  for (const auto& surplus : batch) {
    if (surplus.surplus > 0) plan.copies_inserted += static_cast<std::uint64_t>(surplus.surplus);
    if (surplus.surplus < 0) plan.copies_deleted += static_cast<std::uint64_t>(-surplus.surplus);
  }
}

std::vector<DigestSurplus> DigestRepair::write(const std::vector<DigestSurplus>& batch) {
  std::vector<DigestSurplus> repaired;
  writer_->transaction([&](PgClient& mirror) {
    repaired.clear();
    std::vector<std::string> digests;
    for (const auto& surplus : batch) digests.push_back(surplus.digest);
    mirror.execute(queries_.lock_table());
    const auto now = surplus_now(mirror, digests);
    for (const auto& surplus : batch) {
      const auto held = now.find(surplus.digest);
      if (held != now.end() && held->second == surplus.surplus) repaired.push_back(surplus);
    }
    std::vector<std::string> wanted;
    for (const auto& surplus : repaired) {
      if (surplus.surplus > 0) wanted.push_back(surplus.digest);
    }
    const auto rows = primary_rows(wanted);
    for (const auto& surplus : repaired) {
      if (surplus.surplus < 0) {
        mirror.execute(queries_.delete_copies(), {surplus.digest, std::to_string(-surplus.surplus)});
      } else if (const auto row = rows.find(surplus.digest); row != rows.end()) {
        auto values = row->second;
        values.emplace_back(std::to_string(surplus.surplus));
        mirror.execute(queries_.insert_copies(), values);
      }
    }
  });
  return repaired;
}

std::map<std::string, std::int64_t> DigestRepair::surplus_now(PgClient& mirror,
                                                              const std::vector<std::string>& digests) {
  std::map<std::string, std::int64_t> surplus;
  for (const auto& digest : digests) surplus[digest] = 0;
  for (const auto& row : primary_now_->query(queries_.counts_of_digests(), {text_array(digests)})) {
    surplus[text_of(row, 0)] += number_of(row, 1);
  }
  for (const auto& row : mirror.query(queries_.counts_of_digests(), {text_array(digests)})) {
    surplus[text_of(row, 0)] -= number_of(row, 1);
  }
  return surplus;
}

std::map<std::string, PgClient::Row> DigestRepair::primary_rows(const std::vector<std::string>& digests) {
  std::map<std::string, PgClient::Row> rows;
  if (digests.empty()) return rows;
  for (auto& row : primary_now_->query(queries_.rows_with_digests(), {text_array(digests)})) {
    auto digest = text_of(row, 0);
    row.erase(row.begin());
    rows.emplace(std::move(digest), std::move(row));
  }
  return rows;
}

}  // namespace pgdual::jobs
