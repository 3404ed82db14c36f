#include "proxy/auth/scram_secret.h"

#include <openssl/crypto.h>

#include <cassert>
#include <utility>

namespace pgdual::proxy {

conflict::Digest xor_client_signature(const conflict::Digest& key_or_proof, const conflict::Digest& stored_key,
                                      std::string_view auth_message) {
  const auto signature = conflict::hmac_sha256(stored_key, auth_message);
  conflict::Digest out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = key_or_proof[i] ^ signature[i];
  return out;
}

ScramClientKey::ScramClientKey(const conflict::Digest& client_key, ScramVerifier verifier)
    : client_key_{client_key}, verifier_{std::move(verifier)} {
  assert(conflict::sha256(client_key_) == verifier_.stored_key);  // the documented precondition
}

ScramClientKey::~ScramClientKey() {
  wipe(client_key_);
  wipe(verifier_.server_key);
}

void wipe(conflict::Digest& digest) noexcept { OPENSSL_cleanse(digest.data(), digest.size()); }

}  // namespace pgdual::proxy
