// MirrorApplier's apply lease (docs/deployment.md, "One apply per database"): among the pgdual
// instances in front of the same servers, the one whose apply connection holds the lease applies.
#include "proxy/mirror/applier.h"

#include <optional>

#include "proxy/backend/simple_query.h"

namespace pgdual::proxy {
namespace {

/// How often an instance standing by asks whether the lease is free: after a kill -9 of the holder,
/// its connections close at once, and the lease is taken within this.
constexpr std::chrono::milliseconds kLeasePoll{250};
/// How often a round whose slot another walsender still reads tries again, and how many times,
/// after ending that walsender.
constexpr std::chrono::milliseconds kSlotBusyPause{100};
constexpr int kSlotBusyTries = 50;
/// PostgreSQL's "replication slot ... is active for PID ..." (object_in_use).
constexpr std::string_view kObjectInUse = "55006";

}  // namespace

Awaitable<bool> MirrorApplier::take_lease(BackendConnection& mirror) {
  using Clock = std::chrono::steady_clock;
  int unnamed_pid = 0;
  auto unnamed_since = Clock::now();
  while (!stop_.requested()) {
    const bool taken = co_await take_apply_lease(mirror, options_.self);
    if (taken) {
      note_lease(true, {});
      log_->info("mirror apply of {}: this instance holds the apply lease", options_.slot.database);
      co_return true;
    }
    const auto holder = co_await read_lease_holder(mirror);
    note_lease(false, holder.listen.empty() && holder.pid != 0 ? "backend " + std::to_string(holder.pid) : holder.listen);
    const auto sync = co_await read_sync_record(mirror);
    note_sync(sync);
    if (sync.stands_still()) co_return false;
    if (!units_.is_slot_ready()) co_await look_for_slot();
    if (!holder.silent && holder.pid != unnamed_pid) {
      unnamed_pid = holder.pid;
      unnamed_since = Clock::now();
    }
    const auto unnamed_for = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - unnamed_since);
    if (judge(holder, unnamed_for, options_.lease_timeout) != LeaseVerdict::silent) {
      co_await stop_.pause(kLeasePoll);
      continue;
    }
    // Its apply can write nothing once its backend is gone; its walsender is ended by open_stream().
    log_->warn("mirror apply of {}: the instance applying ({}) has been silent for over {} ms; ending its mirror "
               "backend {} to take over",
               options_.slot.database, holder.listen.empty() ? std::string{"unnamed"} : holder.listen,
               options_.lease_timeout.count(), holder.pid);
    const auto refused = co_await end_backend(mirror, holder.pid);
    if (!refused.empty()) {
      throw ApplyError{"the mirror refused to end the silent apply's backend " + std::to_string(holder.pid) + ": " +
                       refused};
    }
  }
  co_return false;
}

Awaitable<void> MirrorApplier::look_for_slot() {
  std::optional<BackendConnection> primary;
  auto opened = co_await open_primary();
  primary.emplace(std::move(opened));
  const bool exists = co_await slot_exists(*primary, options_.slot.slot);
  co_await say_goodbye(primary);
  if (exists) units_.slot_ready();
}

Awaitable<SlotStream> MirrorApplier::open_stream() {
  for (int tries = 1;; ++tries) {
    std::optional<SlotStreamError> busy;
    try {
      auto stream = co_await SlotStream::open(primary_, primary_tls_, options_.slot);
      co_return stream;
    } catch (const SlotStreamError& error) {
      if (error.sqlstate() != kObjectInUse || tries >= kSlotBusyTries) throw;
      busy = error;
    }
    // This instance holds the lease, so the walsender reading the slot serves an apply that can
    // no longer write to the mirror: a stopped process, or one whose connections have not closed yet.
    std::optional<BackendConnection> primary;
    auto opened = co_await open_primary();
    primary.emplace(std::move(opened));
    const auto refused = co_await end_slot_reader(*primary, options_.slot.slot);
    co_await say_goodbye(primary);
    if (!refused.empty()) throw SlotStreamError{busy->sqlstate(), std::string{busy->what()} + "; ending it: " + refused};
    co_await stop_.pause(kSlotBusyPause);
  }
}

Awaitable<BackendConnection> MirrorApplier::open_primary() {
  auto connection = co_await BackendConnection::open(primary_, primary_tls_, options_.primary_login,
                                                     options_.slot.max_message_length);
  co_return connection;
}

void MirrorApplier::note_lease(bool applying, std::string applied_by) {
  const std::lock_guard lock{progress_mutex_};
  if (progress_.applying && !applying) {
    log_->info("mirror apply of {}: another instance applies ({})", options_.slot.database, applied_by);
  }
  progress_.applying = applying;
  progress_.applied_by = std::move(applied_by);
}

}  // namespace pgdual::proxy
