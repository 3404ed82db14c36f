#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "protocol/expected.h"
#include "proxy/auth/client_credentials.h"
#include "proxy/net/stream.h"
#include "proxy/route/ramp_guard.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"

namespace pgdual::proxy {

/// The settings an operator changes while pgdual serves: `SET read_percent` and `SET
/// shadow_percent` in the admin console, and a reload of the configuration file (`RELOAD`, or
/// SIGHUP). Sessions are never dropped for it: a change applies to the reads decided after it,
/// and to the TLS handshakes that start after it.
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

  /// What clients of the [[users]] entries last loaded are checked against; a reload that changes
  /// the entries makes it anew.
  [[nodiscard]] std::shared_ptr<const ClientCredentials> credentials() const;

  /// What clients that ask for TLS get: the context of the current [tls] section, made again
  /// from its files at each reload; nullptr while tls.mode is disable.
  [[nodiscard]] std::shared_ptr<ssl::context> client_tls() const;

  /// Where the guard on raising the read ramp (ramp_guard.h) gets its facts. Called without
  /// this object's lock held; until it is set, no raise is refused.
  void guard_ramp_with(std::function<RampFacts()> facts);

  /// Steers `percent` (0..100, checked by the caller) of the eligible reads to the mirror from
  /// now on, and arms the brake again: an operator's decision lifts it. Refused, with why, when
  /// it raises the ramp in force (0 while braked) while the guard objects, unless `forced`.
  /// Returns what changed, e.g. "read_percent 0 -> 10"; `who` names the operator in the log.
  [[nodiscard]] Expected<std::string, std::string> set_read_percent(double percent, std::string_view who,
                                                                    bool forced);

  /// Runs `percent` (0..100, checked by the caller) of the eligible reads the primary answers on
  /// the mirror too, from now on. Never refused and never guarded: shadow reads do not change what
  /// a client gets. Returns what changed, e.g. "shadow_percent 0 -> 10"; `who` names the operator
  /// in the log.
  [[nodiscard]] std::string set_shadow_percent(double percent, std::string_view who);

  /// Reads the configuration file again. Applies routing.read_percent when it differs from the
  /// live one (a SET's, say: the file has the last word; that lifts the brake too) unless the
  /// guard refuses the raise, routing.shadow_percent when it differs from the live one (never
  /// refused), read_stickiness, the rules, admin.users, [[hba]], [[users]] and [auth] (logins
  /// look them up in current() and credentials(); open sessions keep theirs), [tls] with its
  /// certificate and key read again, and log.level; names the other
  /// settings that changed, which take effect at the next start. Returns what it did, in one line:
  /// whether and how it changed the live read_percent first, then the rules, then the live
  /// shadow_percent, e.g. "reloaded pgdual.toml: read_percent 10 -> 0 (from the file), 2 rules;
  /// shadow_percent 5, unchanged"; or the configuration error, with nothing applied.
  [[nodiscard]] Expected<std::string, std::string> reload(std::string_view who);

  /// SWAP ROLES made `primary` ("onprem" or "cloud") the running primary: current() says so from
  /// now on, and a reload keeps it whatever routing.primary the file says, and says so.
  void keep_primary(std::string primary);
  /// routing.primary as the file said at the last start or reload: after a swap, it may differ
  /// from current()'s, the running primary.
  [[nodiscard]] std::string file_primary() const;

 private:
  const std::filesystem::path config_file_;
  ReadSteering& steering_;
  ReadBrake& brake_;
  /// The live ramp to `percent`, after the guard; what changed, or why not.
  [[nodiscard]] Expected<std::string, std::string> change_ramp(double percent, std::string_view who, bool forced,
                                                               const RampFacts& facts);

  /// reload()'s part: the file's read_percent, applied when it differs from the live one.
  [[nodiscard]] std::string reload_ramp(double file_percent, std::string_view who, const RampFacts& facts);
  /// reload()'s part: the file's shadow_percent, applied when it differs from the live one.
  [[nodiscard]] std::string reload_shadow(double file_percent, std::string_view who);

  const std::shared_ptr<spdlog::logger> log_;
  std::function<RampFacts()> ramp_facts_;  ///< set before serving starts
  mutable std::mutex mutex_;
  std::shared_ptr<const config::ProxyConfig> config_;  ///< guarded by mutex_
  std::shared_ptr<ssl::context> client_tls_;          ///< guarded by mutex_
  std::shared_ptr<const ClientCredentials> credentials_;  ///< guarded by mutex_
  std::string kept_primary_;  ///< keep_primary()'s; empty until a swap. Guarded by mutex_
  std::string file_primary_;  ///< guarded by mutex_
};

}  // namespace pgdual::proxy
