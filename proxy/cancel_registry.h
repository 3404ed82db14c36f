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
};

/// Maps the BackendKeyData pgdual hands each client to that client's backend
/// key. Clients never see a backend's key, so a CancelRequest can only come
/// through pgdual. Thread-safe: sessions on all threads register here.
class CancelRegistry {
 public:
  /// Issues a fresh random key for `target` (unguessable: 62 random bits).
  [[nodiscard]] protocol::BackendKeyData issue(CancelTarget target);
  void release(const protocol::BackendKeyData& client_key);
  /// The target for `client_key`, or nothing when no session holds it.
  [[nodiscard]] std::optional<CancelTarget> find(const protocol::BackendKeyData& client_key) const;

 private:
  using Key = std::pair<std::int32_t, std::int32_t>;
  mutable std::mutex mutex_;
  std::map<Key, CancelTarget> targets_;
};

}  // namespace pgdual::proxy
