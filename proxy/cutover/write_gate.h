#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "protocol/expected.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// PAUSE WRITES and RESUME WRITES (docs/cutover.md): where sessions' write transactions wait while
/// the operator swaps the servers' roles.
///
/// A session takes a pass before the first statement of each transaction that may write (a
/// read-write BEGIN, or an autocommit write) goes to the primary, and gives it back once the
/// primary's transaction status is idle again and the mirror has its commit. While the gate is
/// closed, enter() waits: the client sees latency, never an error. A transaction already running
/// is never held: join() lets it on, and the pause waits for it to end. Reads need no pass.
///
/// pause() closes the gate and returns once no pass is out; past its timeout it opens the gate
/// again and says which sessions still held one. resume() opens it and wakes every held session.
///
/// Thread safety: every member function may be called from any thread; a waiting coroutine is
/// woken on its own executor.
class WriteGate {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State : std::uint8_t {
    open,     ///< writes go on
    pausing,  ///< new write transactions wait; the running ones are finishing
    paused,   ///< no write transaction runs; new ones wait for resume()
  };

  class Pass;

  /// One session's writes in flight, for what a failed pause names.
  struct Holder {
    std::uint64_t session = 0;
    std::chrono::milliseconds held_for{0};  ///< since its pass was taken
  };
  /// A pause that came about.
  struct Paused {
    std::chrono::milliseconds drained_in{0};  ///< from the PAUSE to the last running write's end
    std::size_t were_running = 0;             ///< write transactions running when the gate closed
  };
  /// Why a pause did not come about; the gate is open again.
  struct PauseFailure {
    enum class Reason : std::uint8_t { already_paused, timed_out, resumed, shut_down };
    Reason reason = Reason::timed_out;
    std::vector<Holder> still_running{};  ///< timed_out: the passes out at the deadline, oldest first
    std::string by{};                     ///< resumed: who resumed meanwhile
  };
  struct Resumed {
    std::chrono::milliseconds paused_for{0};  ///< since the PAUSE was given
    std::size_t released = 0;                 ///< sessions that were waiting
  };
  /// What SHOW CUTOVER and /metrics show.
  struct Snapshot {
    State state = State::open;
    std::size_t in_flight = 0;  ///< passes out
    std::size_t waiting = 0;    ///< sessions held at the gate
    std::string paused_by{};    ///< who gave the PAUSE in force (empty while open)
    std::chrono::milliseconds paused_for{0};
    std::string last_event{};   ///< the last PAUSE, RESUME or swap and how it ended, for operators
    std::string swapping_by{};  ///< who runs the swap under way; empty when none runs
  };

  WriteGate() = default;
  WriteGate(const WriteGate&) = delete;
  WriteGate& operator=(const WriteGate&) = delete;

  /// A write transaction of session `session` is about to start: waits on the calling coroutine's
  /// executor while the gate is closed. The pass, once given, counts as in flight until destroyed.
  /// An empty pass (not held()) when withdraw() ended the wait.
  Awaitable<Pass> enter(std::uint64_t session);
  /// Session `session` is to end (KILL): its wait in enter(), if any, ends without a pass.
  void withdraw(std::uint64_t session);
  /// The session's transaction runs on the primary already: a pass at once, whatever the state.
  [[nodiscard]] Pass join(std::uint64_t session);

  /// Closes the gate for `by` (who asked, as logs and SHOW CUTOVER name them) and waits, on the
  /// calling coroutine's executor, until no pass is out; past `timeout`, or when resume() or
  /// shut_down() comes first, opens the gate again. A pause abandoned by its caller (the coroutine
  /// destroyed or cancelled mid-wait) opens the gate too: nobody would RESUME it.
  Awaitable<Expected<Paused, PauseFailure>> pause(std::chrono::milliseconds timeout, std::string by);
  /// Opens the gate for `by`; or why not: it was open, or a swap runs (begin_swap()).
  Expected<Resumed, std::string> resume(std::string by);
  /// pgdual is stopping: the gate opens for good (once a swap under way has ended), so that no
  /// session waits for a RESUME that cannot come, and later pauses fail.
  void shut_down();

  /// SWAP ROLES is about to run for `by`: true when writes are paused (no pass out) and no other
  /// swap runs. Until end_swap(), the gate stays closed whatever asks it to open: a write let
  /// through now could reach the primary whose slot is being dropped, and never the mirror.
  [[nodiscard]] bool begin_swap(std::string by);
  /// The swap is over; `event` says how, for SHOW CUTOVER. Writes stay paused.
  void end_swap(std::string event);

  [[nodiscard]] Snapshot snapshot() const;

 private:
  struct Waiter;
  struct Entry {
    std::uint64_t session = 0;
    Clock::time_point since{};
  };

  using Waiters = std::vector<std::shared_ptr<Waiter>>;

  [[nodiscard]] Pass issue(std::uint64_t session);  ///< under mutex_
  void give_back(std::uint64_t number) noexcept;
  void forget(const std::shared_ptr<Waiter>& waiter) noexcept;
  /// Opens the gate, noting `event` for SHOW CUTOVER; under mutex_. Returns whom to wake():
  /// every session held, and the pause waiting for the drain.
  [[nodiscard]] Waiters reopen(std::string event);
  static void wake(const Waiters& waiters);
  [[nodiscard]] Paused settle_pause(std::size_t were_running);  ///< under mutex_: the drain is over

  mutable std::mutex mutex_;
  State state_ = State::open;
  bool shut_down_ = false;
  std::uint64_t next_pass_ = 1;
  std::map<std::uint64_t, Entry> in_flight_;  ///< by pass number: oldest first
  std::vector<std::shared_ptr<Waiter>> waiting_;
  std::shared_ptr<Waiter> pauser_;  ///< the pause waiting for the drain
  std::uint64_t pause_number_ = 0;  ///< pauses begun: a pause's own number, to tell it was ended
  std::string paused_by_;
  Clock::time_point paused_at_{};
  std::string resumed_by_;  ///< who ended the pause under way, for its PauseFailure
  std::string swapping_by_;  ///< who runs the swap under way (begin_swap()); empty when none runs
  std::string last_event_;
};

/// One write transaction in flight. Movable; destroying it (or release()) gives it back.
class WriteGate::Pass {
 public:
  Pass() = default;
  Pass(Pass&& other) noexcept;
  Pass& operator=(Pass&& other) noexcept;
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;
  ~Pass() { release(); }

  [[nodiscard]] bool held() const noexcept { return gate_ != nullptr; }
  void release() noexcept;

 private:
  friend class WriteGate;
  Pass(WriteGate& gate, std::uint64_t number) : gate_{&gate}, number_{number} {}

  WriteGate* gate_ = nullptr;
  std::uint64_t number_ = 0;
};

[[nodiscard]] std::string_view to_string(WriteGate::State state) noexcept;

}  // namespace pgdual::proxy
