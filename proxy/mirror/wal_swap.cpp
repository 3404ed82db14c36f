// WalMirrors, continued: SWAP ROLES (docs/cutover.md, "Swapping the roles").

#include <algorithm>
#include <utility>

#include "conflict/sql_text.h"
#include "conflict/wal_names.h"
#include "protocol/frame.h"
#include "proxy/backend/simple_query.h"
#include "proxy/idempotency_key.h"
#include "proxy/mirror/wal_mirrors.h"

namespace pgdual::proxy {
namespace {

constexpr std::string_view kSwapApplicationName = "pgdual swap";
/// How often a swap looks at how far the mirror's WAL is flushed, and whether a task ended.
constexpr auto kSwapPoll = std::chrono::milliseconds{10};
/// How long the old primary may take to end the walsender that read the slot being dropped.
constexpr int kTerminateWaitMs = 5'000;
/// How long a swap that failed past its timeout waits for the slots it makes again on the old primary.
constexpr auto kRevertWait = std::chrono::seconds{30};

std::string describe(const StatementRefused& refused) { return refused.sqlstate + ": " + refused.message; }

/// Where the instances other than `self` that `rows` shows alive listen, comma-separated.
std::string others_alive(const std::vector<InstanceRow>& rows, const InstanceIdentity& self,
                         std::chrono::milliseconds alive_within) {
  std::string others;
  for (const auto& row : rows) {
    if (row.instance == self.id || row.silent > alive_within) continue;
    others += (others.empty() ? "" : ", ") + row.listen;
  }
  return others;
}

}  // namespace

Awaitable<Expected<std::vector<WalMirrors::DatabaseSwap>, std::string>> WalMirrors::swap_roles(
    std::shared_ptr<const config::ProxyConfig> swapped, std::chrono::steady_clock::time_point deadline) {
  auto result = co_await asio::co_spawn(io_, swap_on_thread(std::move(swapped), deadline), use_awaitable);
  co_return result;
}

WalMirrors::Database& WalMirrors::entry_of(const std::string& database) const {
  const std::lock_guard lock{mutex_};
  return *databases_.at(database);
}

// Nothing changes until every database is drained: a swap that cannot drain one leaves all as
// they were. A database first used while the swap runs starts with the roles of its moment, and
// is left alone: its slot is on whichever primary config_ names then.
Awaitable<Expected<std::vector<WalMirrors::DatabaseSwap>, std::string>> WalMirrors::swap_on_thread(
    std::shared_ptr<const config::ProxyConfig> swapped, SwapClock::time_point deadline) {
  std::vector<std::string> names;
  {
    const std::lock_guard lock{mutex_};
    for (const auto& [name, entry] : databases_) {
      if (entry->units.given_up()) {
        co_return unexpected{"the WAL mirror of database " + name +
                             " was given up: the mirror lacks its later writes; rebuild it first"};
      }
      if (entry->units.syncing()) {
        co_return unexpected{"database " + name +
                             " is not in sync on the mirror yet (pgdual sync): let the sync end first"};
      }
      // Their sessions would go on writing to the old primary: the servers would part.
      const auto others = others_alive(entry->link->instances(), self_, config_->mirror.lease_timeout);
      if (!others.empty()) {
        co_return unexpected{"other pgdual instances serve database " + name + " (" + others +
                             "), and SWAP ROLES swaps this one only: take them out of the load balancer and stop "
                             "them first (docs/deployment.md)"};
      }
      names.push_back(name);
    }
  }
  // Before anything changes: the new primary must be able to feed the new mirror.
  for (const auto& name : names) {
    auto unmet = prerequisites_unmet(*swapped, name);
    if (!unmet.empty()) co_return unexpected{"database " + name + " cannot be mirrored the other way: " + unmet};
  }
  std::vector<DatabaseSwap> swaps;
  for (const auto& name : names) {
    auto drained = co_await drain(name, entry_of(name), deadline);
    if (!drained) co_return unexpected{std::move(drained.error())};
    swaps.push_back(std::move(*drained));
  }
  const auto previous = config_;
  for (auto& swap : swaps) {
    auto retired = co_await retire(swap.database, entry_of(swap.database));
    if (!retired) {
      // The databases retired so far start again on the old primary, from new slots.
      static_cast<void>(co_await restart_all(names, previous, std::max(deadline, SwapClock::now() + kRevertWait)));
      co_return unexpected{std::move(retired.error())};
    }
    swap.sequences_set = *retired;
  }
  auto restarted = co_await restart_all(names, swapped, deadline);
  if (!restarted) {
    for (const auto& name : names) co_await stop_mirroring(entry_of(name));
    static_cast<void>(co_await restart_all(names, previous, std::max(deadline, SwapClock::now() + kRevertWait)));
    co_return unexpected{std::move(restarted.error())};
  }
  co_return swaps;
}

// The marker carries a unit key, as a session's write does, so the apply announces it: once it is
// in, so is every transaction the primary committed before it (the apply keeps commit order).
Awaitable<Expected<WalMirrors::DatabaseSwap, std::string>> WalMirrors::drain(const std::string& database,
                                                                            Database& entry,
                                                                            SwapClock::time_point deadline) {
  const auto key = IdempotencyKeyGenerator{}.next();
  auto ticket = entry.units.expect(key, co_await asio::this_coro::executor);
  const auto& primary = config_->primary_backend();
  const auto started = SwapClock::now();
  std::optional<std::string> failure;
  try {
    std::optional<BackendConnection> connection = co_await BackendConnection::open(
        primary, tls_.for_backend(primary),
        login(config_->mirror.replication_user, primary, database, kSwapApplicationName),
        protocol::kDefaultMaxMessageBody);
    const auto answer = co_await run_simple_query(
        *connection, "SELECT pg_catalog.pg_logical_emit_message(true, " +
                         conflict::quote_literal(conflict::kUnitKeyMessagePrefix) + ", " +
                         conflict::quote_literal(key) + ")");
    if (answer.refused) failure = "the primary refused the drain marker: " + describe(*answer.refused);
    co_await say_goodbye(connection);
  } catch (const std::exception& error) {
    failure = std::string{"the primary could not be reached to drain it: "} + error.what();
  }
  if (failure) co_return unexpected{"database " + database + ": " + *failure};
  const bool applied = co_await ticket.wait(deadline);
  if (!applied) {
    co_return unexpected{"database " + database +
                         ": the mirror did not apply everything the primary committed before the timeout" +
                         (entry.units.held() ? " (HOLD APPLY holds its apply)" : "")};
  }
  // Durable, too: the slot that could send it again is about to be dropped.
  const auto applied_to = entry.applier->progress().applied;
  asio::steady_timer timer{io_};
  while (entry.applier->progress().durable < applied_to) {
    if (SwapClock::now() >= deadline) {
      co_return unexpected{"database " + database + ": the mirror did not flush its WAL before the timeout"};
    }
    timer.expires_after(kSwapPoll);
    co_await timer.async_wait(use_awaitable);
  }
  const auto drained_in = std::chrono::duration_cast<std::chrono::milliseconds>(SwapClock::now() - started);
  log_->warn("SWAP ROLES: database {} drained: the mirror holds every transaction committed on {} ({} ms)", database,
             primary.name, drained_in.count());
  co_return DatabaseSwap{.database = database, .drained_in = drained_in, .sequences_set = 0};
}

// The new applier creates its slot on the new primary: the old one, were it kept, would send the
// changes the reverse apply makes on this server back to where they came from.
Awaitable<Expected<std::size_t, std::string>> WalMirrors::retire(const std::string& database, Database& entry) {
  co_await stop_mirroring(entry);
  entry.units.slot_moving();
  const auto& primary = config_->primary_backend();
  const auto& mirror = config_->mirror_backend();
  SequenceCopier last_copy{primary, tls_.for_backend(primary), mirror, tls_.for_backend(mirror),
                           sequence_options(database), log_};
  std::optional<std::string> failure;
  std::size_t sequences_set = 0;
  try {
    sequences_set = co_await last_copy.copy_once();
    std::optional<BackendConnection> connection = co_await BackendConnection::open(
        primary, tls_.for_backend(primary),
        login(config_->mirror.replication_user, primary, database, kSwapApplicationName),
        protocol::kDefaultMaxMessageBody);
    const auto where = " FROM pg_catalog.pg_replication_slots WHERE slot_name = " +
                       conflict::quote_literal(conflict::slot_name_for(database));
    auto answer = co_await run_simple_query(*connection, "SELECT pg_catalog.pg_terminate_backend(active_pid, " +
                                                             std::to_string(kTerminateWaitMs) + ")" + where +
                                                             " AND active_pid IS NOT NULL");
    if (!answer.refused) answer = co_await run_simple_query(*connection, "SELECT pg_catalog.pg_drop_replication_slot(slot_name)" + where);
    if (answer.refused) failure = "its slot could not be dropped from " + primary.name + ": " + describe(*answer.refused);
    co_await say_goodbye(connection);
  } catch (const std::exception& error) {
    failure = std::string{"its sequences could not be copied, or its slot dropped: "} + error.what();
  }
  if (failure) co_return unexpected{"database " + database + ": " + *failure};
  log_->warn("SWAP ROLES: database {}: apply stopped, {} sequences set on {}, slot dropped from {}", database,
             sequences_set, mirror.name, primary.name);
  co_return sequences_set;
}

Awaitable<Expected<void, std::string>> WalMirrors::restart_all(const std::vector<std::string>& names,
                                                               std::shared_ptr<const config::ProxyConfig> config,
                                                               SwapClock::time_point deadline) {
  {
    const std::lock_guard lock{mutex_};
    config_ = std::move(config);
    for (const auto& name : names) {
      auto& entry = *databases_.at(name);
      if (entry.tasks == 0) start_mirroring(name, entry);
    }
  }
  for (const auto& name : names) {
    const bool ready = co_await entry_of(name).units.wait_slot_ready(deadline);
    if (!ready) {
      co_return unexpected{"database " + name + ": no slot could be created on " + config_->primary_backend().name +
                           " before the timeout: " + unmet_prerequisites(name)};
    }
  }
  co_return Expected<void, std::string>{};
}

}  // namespace pgdual::proxy
