// MirrorApplier's part in `pgdual sync` (docs/sync.md): the mirror's pgdual.sync says whether the
// database is being copied there, and the apply says when it has caught up.
#include "proxy/mirror/applier.h"

#include <optional>

#include "proxy/backend/simple_query.h"

namespace pgdual::proxy {

// The sync makes the slot before it copies, so logins need not wait for one meanwhile: whatever
// they commit is either in the copy's snapshot or in the slot. Before the sync (waiting), the
// copy's snapshot will hold it.
Awaitable<SyncRecord> MirrorApplier::read_sync() {
  std::optional<BackendConnection> connection;
  auto opened = co_await BackendConnection::open(mirror_, mirror_tls_, options_.mirror_login,
                                                 options_.slot.max_message_length);
  connection.emplace(std::move(opened));
  auto record = co_await read_sync_record(*connection);
  co_await say_goodbye(connection);
  note_sync(record);
  co_return record;
}

void MirrorApplier::note_sync(const SyncRecord& record) {
  if (record.state != sync_.state) {
    log_->info("mirror apply of {}: pgdual sync's record on the mirror says {}", options_.slot.database,
               record.state == SyncState::none ? std::string_view{"nothing"} : to_string(record.state));
  }
  if (record.stands_still()) units_.slot_ready();
  units_.set_syncing(record.syncing());
  sync_ = record;
  const std::lock_guard lock{progress_mutex_};
  progress_.sync = record;
}

// Everything the walsender had read up to the copy's end was sent before the position that passed
// it, and the apply has taken all it was sent.
bool MirrorApplier::caught_up(const SlotStream& stream, const ApplyConnection& apply) const {
  return sync_.state == SyncState::catching_up && stream.received() >= sync_.catch_up_to &&
         !stream.change_buffered() && apply.idle();
}

Awaitable<void> MirrorApplier::finish_catch_up() {
  std::optional<BackendConnection> connection;
  auto opened = co_await BackendConnection::open(mirror_, mirror_tls_, options_.mirror_login,
                                                 options_.slot.max_message_length);
  connection.emplace(std::move(opened));
  const auto refused = co_await record_in_sync(*connection);
  co_await say_goodbye(connection);
  if (!refused.empty()) throw ApplyError{"the mirror refused marking pgdual sync's record in sync (" + refused + ")"};
  sync_.state = SyncState::in_sync;
  units_.set_syncing(false);
  {
    const std::lock_guard lock{progress_mutex_};
    progress_.sync = sync_;
  }
  log_->info("mirror apply of {}: caught up with the primary after pgdual sync; in sync, COMMITs wait for the "
             "mirror again", options_.slot.database);
}

}  // namespace pgdual::proxy
