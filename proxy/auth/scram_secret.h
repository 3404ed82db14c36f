#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

#include "conflict/sha256.h"

namespace pgdual::proxy {

// The secrets of SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677) that pgdual holds, on either side
// of an exchange: StoredKey = H(ClientKey), ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage).

/// A SCRAM-SHA-256 secret as PostgreSQL stores it in pg_authid.rolpassword.
/// It lets the server check a client without knowing the password.
struct ScramVerifier {
  int iterations{};
  std::vector<std::byte> salt{};
  std::array<std::byte, 32> stored_key{};  ///< H(HMAC(SaltedPassword, "Client Key"))
  std::array<std::byte, 32> server_key{};  ///< HMAC(SaltedPassword, "Server Key")
};

/// ClientKey XOR HMAC(StoredKey, AuthMessage), both ways: it turns a ClientKey into a proof, and
/// a proof back into the ClientKey it was made from.
[[nodiscard]] conflict::Digest xor_client_signature(const conflict::Digest& key_or_proof,
                                                    const conflict::Digest& stored_key,
                                                    std::string_view auth_message);

/// The ClientKey of a role, recovered from a client's SCRAM proof, with the verifier it was checked
/// against. Wherever that verifier is stored (same salt and iteration count), it logs in as the
/// password would, so it is as secret as the password: it lives in memory only, for one session,
/// and is wiped when destroyed. Not copyable; share it by shared_ptr<const ScramClientKey>.
class ScramClientKey {
 public:
  /// Precondition: sha256(client_key) == verifier.stored_key (the client's proof was checked).
  ScramClientKey(const conflict::Digest& client_key, ScramVerifier verifier);
  ~ScramClientKey();
  ScramClientKey(const ScramClientKey&) = delete;
  ScramClientKey& operator=(const ScramClientKey&) = delete;

  [[nodiscard]] const conflict::Digest& client_key() const noexcept { return client_key_; }
  [[nodiscard]] const ScramVerifier& verifier() const noexcept { return verifier_; }

 private:
  conflict::Digest client_key_;
  ScramVerifier verifier_;
};

/// Overwrites `digest` with zeros in a way the compiler cannot drop (OPENSSL_cleanse).
void wipe(conflict::Digest& digest) noexcept;

}  // namespace pgdual::proxy
