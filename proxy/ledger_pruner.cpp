#include "proxy/ledger_pruner.h"

#include <chrono>
#include <exception>
#include <string>
#include <utility>

#include "conflict/jobs/pg_client.h"

namespace pgdual::proxy {
namespace {

constexpr std::uint64_t kBatchRows = 10'000;

// A batch finds its rows through the applied_at index and takes milliseconds;
// one that runs longer is stuck behind a lock, and shutdown would wait for it.
constexpr const char* kSessionSettings = "SET statement_timeout = '30s'";

constexpr const char* kHasLedger = "SELECT to_regclass('pgdual.ledger') IS NOT NULL";

/// A statement that deletes up to kBatchRows entries older than `retention`
/// (in a transaction of its own, run alone) and returns how many it deleted.
std::string prune_batch_sql(std::chrono::hours retention) {
  return "WITH pruned AS (DELETE FROM pgdual.ledger WHERE ctid = ANY(ARRAY("
         "SELECT ctid FROM pgdual.ledger WHERE applied_at < now() - make_interval(hours => " +
         std::to_string(retention.count()) + ") LIMIT " + std::to_string(kBatchRows) +
         ")) RETURNING 1) SELECT count(*) FROM pruned";
}

}  // namespace

LedgerPruner::LedgerPruner(std::shared_ptr<const config::ProxyConfig> config, std::shared_ptr<spdlog::logger> logger)
    : config_{std::move(config)}, logger_{std::move(logger)}, pruner_{[this] { prune_until_stopped(); }} {}

LedgerPruner::~LedgerPruner() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
  pruner_.join();
}

void LedgerPruner::note_database(const std::string& database, const std::string& user) noexcept {
  try {
    bool added = false;
    {
      std::lock_guard lock{mutex_};
      const auto known = databases_.find(database);
      if (known != databases_.end() && known->second == user) return;
      added = databases_.insert_or_assign(database, user).second;
    }
    if (added) logger_->debug("ledger pruning: database \"{}\" added, as user \"{}\"", database, user);
  } catch (const std::exception& error) {
    logger_->error("ledger pruning: cannot add database \"{}\": {}", database, error.what());
  }
}

std::uint64_t LedgerPruner::pruned() const noexcept { return pruned_.load(); }

void LedgerPruner::prune_until_stopped() noexcept {
  std::unique_lock lock{mutex_};
  while (!wake_.wait_for(lock, config_->ledger.prune_interval, [this] { return stopping_.load(); })) {
    lock.unlock();
    prune_round();
    lock.lock();
  }
}

void LedgerPruner::prune_round() noexcept {
  Databases databases;
  try {
    std::lock_guard lock{mutex_};
    databases = databases_;
  } catch (const std::exception& error) {
    logger_->error("ledger pruning: round skipped: {}", error.what());
    return;
  }
  for (const auto& [database, user_name] : databases) {
    const auto* user = config_->find_user(user_name);
    if (user == nullptr) continue;  // sessions log in only as configured users
    for (const auto* backend : {&config_->onprem, &config_->cloud}) {
      if (stopping_) return;
      try {
        prune_database(*backend, database, *user);
      } catch (const std::exception& error) {
        logger_->warn("ledger pruning: database \"{}\" not pruned, next try in {} ms: {}", database,
                      config_->ledger.prune_interval.count(), error.what());
      }
    }
  }
}

void LedgerPruner::prune_database(const config::BackendConfig& backend, const std::string& database,
                                  const config::UserConfig& user) {
  jobs::PgClient client{backend, user, database};
  if (client.query_value(kHasLedger) != "t") {
    logger_->debug("ledger pruning: database \"{}\" on backend \"{}\" has no pgdual ledger, skipped", database,
                   backend.name);
    return;
  }
  client.execute(kSessionSettings);
  const auto batch_sql = prune_batch_sql(config_->ledger.retention);
  std::uint64_t deleted = 0;
  for (;;) {
    const auto batch = std::stoull(client.query_value(batch_sql));
    deleted += batch;
    pruned_.fetch_add(batch);
    if (batch < kBatchRows || stopping_) break;
  }
  if (deleted > 0) {
    logger_->info("ledger pruning: {} entries deleted in database \"{}\" on backend \"{}\"", deleted, database,
                  backend.name);
  }
}

}  // namespace pgdual::proxy
