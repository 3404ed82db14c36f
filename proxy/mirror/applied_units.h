#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// Where sessions wait for their write transactions to reach the mirror (docs/wal-mirror.md,
/// "Acknowledgement"). A session expects its unit key before the primary may commit the
/// transaction that carries it, and waits once the primary has answered; the apply says which
/// keys it committed on the mirror, from its own thread. A key applied before its session waits
/// is kept by the ticket, so no wake-up is lost to that race.
///
/// Thread safety: every member function may be called from any thread. A ticket's wait runs on
/// the executor it was created with, and is woken there.
class AppliedUnits {
 public:
  using Clock = std::chrono::steady_clock;

  class Ticket;

  /// Registers interest in `key` (unique per write unit) for a session whose coroutines run on
  /// `executor`. The key is forgotten when the ticket is destroyed.
  [[nodiscard]] Ticket expect(std::string key, asio::any_io_executor executor);
  /// The apply committed on the mirror the transaction that carried `key`: its ticket, if any
  /// session still holds one, is woken. Keys nobody expects (transactions of other programs, or of
  /// sessions gone) are ignored. Whether a ticket was woken.
  bool applied(std::string_view key);
  /// Whether a session of this process holds a ticket for `key`. The apply tells the other pgdual
  /// instances of the keys no session here waits for (docs/deployment.md).
  [[nodiscard]] bool expects(std::string_view key) const;
  /// Every key a ticket waits for now: what an instance that heard nothing for a while looks up in
  /// the mirror's ledger.
  [[nodiscard]] std::vector<std::string> expected_keys() const;
  /// How many tickets are outstanding, for SHOW and metrics.
  [[nodiscard]] std::size_t waiting() const;

  /// pgdual gave the database's slot up (docs/wal-mirror.md, "Lag and the primary's disk"): no
  /// transaction reaches the mirror any more. Every ticket waiting now is woken at once and its
  /// wait returns false, as does every later wait; applied() stays false. Called by the lag
  /// monitor; never undone while pgdual runs.
  void give_up();
  /// Whether give_up() was called: the sessions then mark nothing and keep their reads on the primary.
  [[nodiscard]] bool given_up() const noexcept { return given_up_; }

  /// The apply stands still before its next transaction for `pgdual verify` while the primary
  /// makes a slot (ApplyHold): the slot waits for the write transactions running on the primary to
  /// end, and a client may keep one open until its other COMMIT is answered (one thread for several
  /// connections, as pgbench has). So while held, no session waits: every ticket waiting now is
  /// woken and its wait returns false, as does every wait until set_held(false). Sessions then
  /// answer as past mirror.timeout_ms, their reads kept on the primary until the apply goes on.
  /// Called by the applier.
  void set_held(bool held);
  [[nodiscard]] bool held() const noexcept { return held_; }

  /// `pgdual sync` is copying the database onto the mirror, or the apply is catching up after it
  /// (docs/sync.md): the mirror is not an exact copy yet. Until set_syncing(false), no session
  /// waits (every wait returns false at once, as while held), and reads stay on the primary. The
  /// sessions still mark their transactions: the stream carries their schema changes. Set and
  /// cleared by the applier, from the mirror's record of the sync.
  void set_syncing(bool syncing);
  [[nodiscard]] bool syncing() const noexcept { return syncing_; }

  /// The mirror lost transactions it had applied: it stopped before its WAL held them durably
  /// (the apply answers sessions once a COMMIT is in, not once it is on disk). Until the apply has
  /// them again from the slot, a session's reads there could miss a write it was answered for.
  /// Set and cleared by the applier.
  void set_mirror_recovering(bool recovering) noexcept { mirror_recovering_ = recovering; }
  [[nodiscard]] bool mirror_recovering() const noexcept { return mirror_recovering_; }

  /// The database's slot exists on the primary: from now on every transaction committed there
  /// reaches the mirror, whatever happens to pgdual. Called by the applier.
  void slot_ready() noexcept { slot_ready_ = true; }
  /// SWAP ROLES moves the slot to the other server (WalMirrors::swap_roles): not ready until the
  /// applier reading the new primary has created it there, so that logins wait for it meanwhile.
  void slot_moving() noexcept { slot_ready_ = false; }
  [[nodiscard]] bool is_slot_ready() const noexcept { return slot_ready_; }
  /// Waits, on the calling coroutine's executor, until slot_ready() or `deadline`. True when ready.
  Awaitable<bool> wait_slot_ready(Clock::time_point deadline) const;

 private:
  struct State;
  void forget(const std::string& key, const State* state);
  /// Wakes every ticket's wait: after a flag it checks was set.
  void wake_all();

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<State>> expected_;
  std::atomic<bool> slot_ready_{false};
  std::atomic<bool> given_up_{false};
  std::atomic<bool> held_{false};
  std::atomic<bool> syncing_{false};
  std::atomic<bool> mirror_recovering_{false};
};

/// One session's interest in one unit key. Movable, not copyable; destroying it forgets the key.
class AppliedUnits::Ticket {
 public:
  Ticket(Ticket&& other) noexcept;
  Ticket& operator=(Ticket&& other) noexcept;
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket();

  /// Waits, on the ticket's executor, until the key is applied, `deadline` passes, the database
  /// is given up or the apply held. True when applied (at once when that happened before the wait began).
  Awaitable<bool> wait(Clock::time_point deadline);
  [[nodiscard]] bool applied() const noexcept;
  [[nodiscard]] const std::string& key() const noexcept { return key_; }

 private:
  friend class AppliedUnits;
  Ticket(AppliedUnits& owner, std::string key, std::shared_ptr<State> state)
      : owner_{&owner}, key_{std::move(key)}, state_{std::move(state)} {}

  AppliedUnits* owner_;
  std::string key_;
  std::shared_ptr<State> state_;
};

}  // namespace pgdual::proxy
