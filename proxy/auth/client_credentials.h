#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/auth/client_auth.h"

namespace pgdual::proxy {

/// What clients' proofs are checked against, computed once from the configured users: a SCRAM
/// verifier for each (the configured scram_verifier, or one made from the password: PBKDF2 is
/// slow by design, so never per login) and, for users with a password, the md5 secret.
///
/// Thread safety: const after construction.
class ClientCredentials {
 public:
  /// Throws std::invalid_argument naming the user whose scram_verifier cannot be read.
  explicit ClientCredentials(const std::vector<config::UserConfig>& users);

  /// A SCRAM exchange for `user`. An unknown user gets one that looks the same to the client and
  /// fails at its end, as a wrong password does: no user enumeration. `tls_server_end_point`
  /// (Stream::tls_server_end_point()) offers SCRAM-SHA-256-PLUS to a client on TLS.
  [[nodiscard]] ScramSha256Server scram(const std::string& user,
                                        std::vector<std::byte> tls_server_end_point = {}) const;

  /// The md5 secret of `user`; nullptr for an unknown user or one with only a scram_verifier.
  [[nodiscard]] const Md5Secret* md5(const std::string& user) const;

 private:
  struct Entry {
    ScramVerifier scram;
    std::optional<Md5Secret> md5;
  };

  /// Keys the salts of verifiers made from passwords and of unknown users' mock verifiers alike,
  /// so that neither can be told from the other. Derived from the users' secrets: stable across
  /// restarts with the same configuration, unknown to clients.
  std::array<std::byte, 32> server_secret_{};
  std::map<std::string, Entry> users_;
};

}  // namespace pgdual::proxy
