#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "protocol/expected.h"
#include "proxy/net/stream.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"

namespace pgdual::proxy {

/// The settings an operator changes while pgdual serves: `SET read_percent` in the admin
/// console, and a reload of the configuration file (`RELOAD`, or SIGHUP). Sessions are never
/// dropped for it: a change applies to the reads decided after it, and to the TLS handshakes
/// that start after it.
///
/// Thread safety: every member function may be called from any thread.
class LiveSettings {
 public:
  /// Throws std::runtime_error, naming the tls.* key, when the client-facing TLS context cannot
  /// be made from `config`.
  LiveSettings(std::filesystem::path config_file, std::shared_ptr<const config::ProxyConfig> config,
               ReadSteering& steering, ReadBrake& brake, std::shared_ptr<spdlog::logger> log);

  /// The configuration as last loaded; read_percent in it is the file's, not a SET's.
  [[nodiscard]] std::shared_ptr<const config::ProxyConfig> current() const;

  /// What clients that ask for TLS get: the context of the current [tls] section, made again
  /// from its files at each reload; nullptr while tls.mode is disable.
  [[nodiscard]] std::shared_ptr<ssl::context> client_tls() const;

  /// Steers `percent` (0..100, checked by the caller) of the eligible reads to the mirror from
  /// now on, and arms the brake again: an operator's decision lifts it. `who` names the
  /// operator in the log.
  void set_read_percent(double percent, std::string_view who);

  /// Reads the configuration file again. Applies routing.read_percent (when it changed: that
  /// lifts the brake too), read_stickiness, the rules, admin.users and [[hba]] (sessions look
  /// them up in current()), [tls] with its certificate and key read again, and log.level; names
  /// the other sections that changed, which take effect at the next start. Returns what it did,
  /// in one line, or the configuration error, with nothing applied.
  [[nodiscard]] Expected<std::string, std::string> reload(std::string_view who);

 private:
  const std::filesystem::path config_file_;
  ReadSteering& steering_;
  ReadBrake& brake_;
  const std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mutex_;
  std::shared_ptr<const config::ProxyConfig> config_;  ///< guarded by mutex_
  std::shared_ptr<ssl::context> client_tls_;          ///< guarded by mutex_
};

}  // namespace pgdual::proxy
