#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <spdlog/logger.h>

#include "proxy/net/asio.h"

namespace pgdual::proxy {

class Metrics;

/// The two caps on client connections (issue 21): connections still logging in (TLS handshake,
/// startup packet, authentication), and logged-in sessions. They are counted apart so that a
/// flood of half-open logins cannot refuse a client that completes its login.
///
/// A login beyond limits.max_logins_in_progress is not refused: it ends the oldest login in
/// progress instead. A real client logs in within milliseconds, while a hostile one holds its
/// place until the startup timeout, so the oldest login is almost always a hostile one.
///
/// Thread safety: every member function may be called from any thread. Each login's eviction runs
/// on that login's own executor.
class ClientSlots {
 public:
  struct Caps {
    std::size_t logins = 0;    ///< limits.max_logins_in_progress
    std::size_t sessions = 0;  ///< limits.max_client_connections
  };

  /// A connection's place: a login in progress, then perhaps a session; given back when destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

    /// The login succeeded: counts the connection as a session from now on. False, and still a
    /// login, when limits.max_client_connections sessions are logged in already.
    [[nodiscard]] bool enter_session();

   private:
    friend class ClientSlots;
    Slot(ClientSlots& slots, std::uint64_t id) : slots_{&slots}, id_{id} {}

    ClientSlots* slots_;  ///< null once moved from
    std::uint64_t id_;
    bool session_ = false;
  };

  ClientSlots(Caps caps, Metrics& metrics, std::shared_ptr<spdlog::logger> log);

  /// Counts connection `id`, accepted from `address`, as logging in. When max_logins_in_progress
  /// logins are in progress already, the oldest of them is ended: its `evict` runs on its
  /// `executor`, unless that login has ended or succeeded by then. Connection ids grow with
  /// acceptance, so the lowest is the oldest.
  [[nodiscard]] Slot begin_login(std::uint64_t id, std::string address, asio::any_io_executor executor,
                                 std::function<void()> evict);

  [[nodiscard]] std::size_t logins_in_progress() const;
  /// Connections whose login succeeded and that have not ended: what max_client_connections caps.
  [[nodiscard]] std::size_t sessions() const;

 private:
  struct Login {
    std::string address;  ///< for the log only
    asio::any_io_executor executor;
    std::function<void()> evict;
  };
  struct EvictionLog {
    std::chrono::steady_clock::time_point last{};
    std::size_t unlogged = 0;  ///< evictions since the last line
  };

  /// Ends the oldest login in progress; the caller holds mutex_.
  void evict_oldest();
  /// Logs the evictions at most every few seconds, each line with the count since the last one.
  void log_eviction(const std::string& address);
  bool enter_session(std::uint64_t id);
  void release(std::uint64_t id, bool session);

  const Caps caps_;
  Metrics& metrics_;
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, Login> logins_;  ///< by id: the oldest first
  /// Logins ended for a newcomer whose eviction has not run yet on their executor: no longer
  /// counted. A login that succeeds meanwhile leaves this set and stays.
  std::set<std::uint64_t> evicting_;
  std::size_t sessions_ = 0;
  EvictionLog eviction_log_;
};

}  // namespace pgdual::proxy
