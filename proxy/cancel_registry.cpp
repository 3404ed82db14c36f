#include "proxy/cancel_registry.h"

#include <openssl/rand.h>

#include <stdexcept>

namespace pgdual::proxy {
namespace {

std::int32_t random_secret() {
  std::int32_t secret = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&secret), sizeof secret) != 1) {
    throw std::runtime_error{"RAND_bytes failed"};
  }
  return secret;
}

}  // namespace

protocol::BackendKeyData CancelRegistry::issue(CancelTarget target) {
  std::lock_guard lock{mutex_};
  for (;;) {
    const protocol::BackendKeyData key{target.backend_key.process_id, random_secret()};
    if (targets_.try_emplace({key.process_id, key.secret_key}, target).second) return key;
  }
}

void CancelRegistry::release(const protocol::BackendKeyData& client_key) {
  std::lock_guard lock{mutex_};
  targets_.erase({client_key.process_id, client_key.secret_key});
}

void CancelRegistry::set_mirror(const protocol::BackendKeyData& client_key,
                                std::optional<std::pair<config::BackendConfig, protocol::BackendKeyData>> mirror) {
  std::lock_guard lock{mutex_};
  auto it = targets_.find({client_key.process_id, client_key.secret_key});
  if (it != targets_.end()) it->second.mirror = std::move(mirror);
}

void CancelRegistry::set_primary(const protocol::BackendKeyData& client_key, config::BackendConfig backend,
                                 protocol::BackendKeyData backend_key) {
  std::lock_guard lock{mutex_};
  auto it = targets_.find({client_key.process_id, client_key.secret_key});
  if (it == targets_.end()) return;
  it->second.backend = std::move(backend);
  it->second.backend_key = backend_key;
}

std::optional<CancelTarget> CancelRegistry::find(const protocol::BackendKeyData& client_key) const {
  std::lock_guard lock{mutex_};
  auto it = targets_.find({client_key.process_id, client_key.secret_key});
  if (it == targets_.end()) return std::nullopt;
  return it->second;
}

}  // namespace pgdual::proxy
