#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "protocol/backend_messages.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/mirror/applied_units.h"
#include "proxy/mirror/apply_lease.h"
#include "proxy/mirror/task_stop.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// One pgdual instance, as a database's pgdual.instances on the mirror shows it.
struct InstanceRow {
  std::string instance;
  std::string listen;
  std::string host;
  int pid = 0;
  std::string started_at;  ///< as the mirror prints a timestamptz
  std::chrono::milliseconds silent{0};  ///< since the instance last wrote its row
  bool applies = false;  ///< its row names the backend that holds the database's apply lease
};

/// The row kInstancesSql answers, as an InstanceRow; std::nullopt when it is not one. Pure.
[[nodiscard]] std::optional<InstanceRow> instance_row_of(const protocol::OwnedDataRow& row);

/// This instance's link with the other pgdual instances through one database on the mirror
/// (docs/deployment.md): a connection there that writes the instance's row in pgdual.instances
/// every interval and reads everyone's, and listens on kAppliedChannel for the unit keys the
/// applying instance committed for sessions of other instances, waking the session here that
/// waits for each (AppliedUnits::applied). Each time it connects, it looks the keys sessions wait
/// for up in pgdual.applied: they may have been applied while it was not listening.
///
/// A lost connection is logged and opened again after a pause; meanwhile the sessions' waits end
/// at mirror.timeout_ms, as for a mirror behind.
///
/// run() and stop() on the executor run() was spawned on; the rest from any thread.
class InstanceLink {
 public:
  struct Options {
    BackendLogin mirror_login;  ///< the apply user's, with the database
    InstanceIdentity self;
    std::chrono::milliseconds interval{1'000};
    std::uint32_t max_message_length = protocol::kDefaultMaxMessageBody;
  };

  InstanceLink(config::BackendConfig mirror, std::shared_ptr<ssl::context> tls, Options options, AppliedUnits& units,
               std::shared_ptr<spdlog::logger> log);

  /// Links until stop(), or the coroutine's terminal cancellation.
  Awaitable<void> run();
  void stop() noexcept { stop_.request(); }

  /// The instances as last read; empty before the first reading.
  [[nodiscard]] std::vector<InstanceRow> instances() const;
  /// Unit keys heard applied by another instance, for metrics and tests.
  [[nodiscard]] std::uint64_t keys_heard() const noexcept { return keys_heard_; }

 private:
  /// Opens the connection, listens, looks the waiting keys up, then beats and hears until it fails.
  Awaitable<void> round();
  /// Reads what the mirror sends: the keys applied, and the answers to beat()'s queries.
  Awaitable<void> hear(BackendConnection& mirror);
  /// Writes the row and asks for everyone's, every interval.
  Awaitable<void> beat(BackendConnection& mirror);
  void heard(const std::string& key);
  /// The database linked through, for the log.
  [[nodiscard]] std::string_view database() const;

  config::BackendConfig mirror_;
  std::shared_ptr<ssl::context> tls_;
  Options options_;
  AppliedUnits& units_;
  std::shared_ptr<spdlog::logger> log_;
  std::string beat_sql_;
  int unanswered_ = 0;  ///< beats sent whose answer has not come; on run()'s executor
  TaskStop stop_;
  std::atomic<std::uint64_t> keys_heard_{0};
  mutable std::mutex mutex_;
  std::vector<InstanceRow> instances_;  ///< guarded by mutex_
};

}  // namespace pgdual::proxy
