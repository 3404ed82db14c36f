#include "conflict/jobs/table_copy.h"

#include <stdexcept>
#include <utility>

#include "conflict/sql_text.h"

namespace pgdual::jobs {
namespace {

// Generated columns are left out: COPY FROM takes none, and the mirror computes them. Tables of
// an extension are its own to make (pg_dump leaves them out too).
constexpr std::string_view kTablesSql = R"sql(
SELECT format('%I.%I', n.nspname, c.relname),
       coalesce((SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute AS a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), ''),
       greatest(c.reltuples, 0)::bigint,
       pg_catalog.pg_relation_size(c.oid)
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pgdual', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 4 DESC, 1
)sql";

/// Thrown into a copy by its row callback when the sync is to stop.
class Stopped : public std::runtime_error {
 public:
  Stopped() : std::runtime_error{"stopped"} {}
};

std::string column_list(const SyncTable& table) {
  return table.columns.empty() ? std::string{} : " (" + table.columns + ")";
}

}  // namespace

std::vector<SyncTable> tables_to_copy(PgClient& primary) {
  std::vector<SyncTable> tables;
  for (const auto& row : primary.query(std::string{kTablesSql})) {
    tables.push_back(SyncTable{.name = row.at(0).value_or(""),
                               .columns = row.at(1).value_or(""),
                               .rows_expected = std::stoll(row.at(2).value_or("0")),
                               .bytes = std::stoll(row.at(3).value_or("0"))});
  }
  return tables;
}

TableCopy::TableCopy(CopyEnd primary, CopyEnd mirror, std::string database, std::string snapshot,
                     std::vector<SyncTable> tables, std::size_t jobs, const std::atomic<bool>& stop)
    : primary_{std::move(primary)},
      mirror_{std::move(mirror)},
      database_{std::move(database)},
      snapshot_{std::move(snapshot)},
      tables_{std::move(tables)},
      stop_{stop} {
  const auto threads = std::max<std::size_t>(1, std::min(jobs, tables_.size()));
  for (std::size_t index = 0; index < threads; ++index) slots_.push_back(std::make_unique<Slot>());
  running_ = threads;
  for (auto& slot : slots_) threads_.emplace_back([this, raw = slot.get()] { work(*raw); });
}

TableCopy::~TableCopy() = default;

void TableCopy::work(Slot& slot) {
  try {
    PgClient primary{primary_.backend, primary_.user, database_};
    primary.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    primary.execute("SET TRANSACTION SNAPSHOT " + conflict::quote_literal(snapshot_));
    PgClient mirror{mirror_.backend, mirror_.user, database_};
    mirror.execute("SET session_replication_role = replica");
    while (const auto index = take(slot)) copy_table(primary, mirror, slot, *index);
    primary.execute("COMMIT");
  } catch (...) {
    failed(std::current_exception());
  }
  --running_;
}

std::optional<std::size_t> TableCopy::take(Slot& slot) {
  const std::lock_guard lock{mutex_};
  slot.table.reset();
  if (next_ == tables_.size() || failing_ || stop_) return std::nullopt;
  slot.rows = 0;
  slot.bytes = 0;
  slot.table = next_;
  return next_++;
}

void TableCopy::copy_table(PgClient& primary, PgClient& mirror, Slot& slot, std::size_t index) {
  const auto& table = tables_[index];
  const auto columns = column_list(table);
  const auto rows = primary.copy_into(mirror, "COPY " + table.name + columns + " TO STDOUT",
                                      "COPY " + table.name + columns + " FROM STDIN", [this, &slot](std::size_t bytes) {
                                        if (stop_ || failing_) throw Stopped{};
                                        slot.rows.fetch_add(1, std::memory_order_relaxed);
                                        slot.bytes.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
                                      });
  const std::lock_guard lock{mutex_};
  ++tables_done_;
  rows_done_ += rows;
  bytes_done_ += slot.bytes;
  slot.table.reset();
  slot.rows = 0;
  slot.bytes = 0;
}

void TableCopy::failed(std::exception_ptr failure) {
  const std::lock_guard lock{mutex_};
  if (!failure_) failure_ = std::move(failure);
  failing_ = true;
}

void TableCopy::finish() {
  threads_.clear();  // joins
  const std::lock_guard lock{mutex_};
  if (failure_) std::rethrow_exception(failure_);
}

void TableCopy::fill(conflict::SyncProgress& progress) const {
  const std::lock_guard lock{mutex_};
  progress.tables = tables_.size();
  progress.tables_done = tables_done_;
  progress.rows_done = rows_done_;
  progress.bytes_done = bytes_done_;
  progress.rows_expected = 0;
  for (const auto& table : tables_) progress.rows_expected += table.rows_expected;
  progress.running.clear();
  for (const auto& slot : slots_) {
    if (!slot->table) continue;
    const auto& table = tables_[*slot->table];
    const auto rows = slot->rows.load(std::memory_order_relaxed);
    progress.rows_done += rows;
    progress.bytes_done += slot->bytes.load(std::memory_order_relaxed);
    progress.running.push_back({.name = table.name, .rows_done = rows, .rows_expected = table.rows_expected});
  }
}

}  // namespace pgdual::jobs
