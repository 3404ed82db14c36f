#include "proxy/cancel_registry.h"

#include <openssl/rand.h>

#include <stdexcept>

namespace pgdual::proxy {
namespace {

protocol::BackendKeyData random_key() {
  std::uint32_t words[2];
  if (RAND_bytes(reinterpret_cast<unsigned char*>(words), sizeof words) != 1) {
    throw std::runtime_error{"RAND_bytes failed"};
  }
  // A process id is positive in every server; keep the look of one.
  return {static_cast<std::int32_t>(words[0] & 0x7fffffffU), static_cast<std::int32_t>(words[1])};
}

}  // namespace

protocol::BackendKeyData CancelRegistry::issue(CancelTarget target) {
  std::lock_guard lock{mutex_};
  for (;;) {
    auto key = random_key();
    if (targets_.try_emplace({key.process_id, key.secret_key}, target).second) return key;
  }
}

void CancelRegistry::release(const protocol::BackendKeyData& client_key) {
  std::lock_guard lock{mutex_};
  targets_.erase({client_key.process_id, client_key.secret_key});
}

std::optional<CancelTarget> CancelRegistry::find(const protocol::BackendKeyData& client_key) const {
  std::lock_guard lock{mutex_};
  auto it = targets_.find({client_key.process_id, client_key.secret_key});
  if (it == targets_.end()) return std::nullopt;
  return it->second;
}

}  // namespace pgdual::proxy
