#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "config/proxy_config.h"
#include "protocol/backend_messages.h"

namespace pgdual::proxy {

/// Where a client's CancelRequest must go: the backend running its statement
/// and the key that backend gave pgdual.
struct CancelTarget {
  config::BackendConfig backend;
  protocol::BackendKeyData backend_key;
  /// The session's mirror connection, when it has one: what it runs of the
  /// client's statement is cancelled too, so both backends fail alike.
  std::optional<std::pair<config::BackendConfig, protocol::BackendKeyData>> mirror;
};

/// Maps the BackendKeyData pgdual hands each client to that client's backend
/// key. The process id stays the primary's real one (clients compare it with
/// pg_backend_pid() and with the pid of NotificationResponse to skip their own
/// notifications); the secret is pgdual's own, so a backend's secret never
/// leaves pgdual and a CancelRequest can only come through it.
/// Thread-safe: sessions on all threads register here.
class CancelRegistry {
 public:
  /// Issues a key for `target`: its backend's process id with a fresh random secret.
  [[nodiscard]] protocol::BackendKeyData issue(CancelTarget target);
  void release(const protocol::BackendKeyData& client_key);
  /// The session behind `client_key` has a new mirror connection, or none.
  void set_mirror(const protocol::BackendKeyData& client_key,
                  std::optional<std::pair<config::BackendConfig, protocol::BackendKeyData>> mirror);
  /// The session behind `client_key` moved to another primary connection (SWAP ROLES); the client
  /// keeps its key.
  void set_primary(const protocol::BackendKeyData& client_key, config::BackendConfig backend,
                   protocol::BackendKeyData backend_key);
  /// The target for `client_key`, or nothing when no session holds it.
  [[nodiscard]] std::optional<CancelTarget> find(const protocol::BackendKeyData& client_key) const;

 private:
  using Key = std::pair<std::int32_t, std::int32_t>;
  mutable std::mutex mutex_;
  std::map<Key, CancelTarget> targets_;
};

}  // namespace pgdual::proxy
