#include "proxy/auth/client_credentials.h"

#include <stdexcept>

#include "conflict/sha256.h"
#include "proxy/auth/backend_auth.h"

namespace pgdual::proxy {
namespace {

constexpr std::size_t kSaltBytes = 16;

std::array<std::byte, 32> server_secret_of(const std::vector<config::UserConfig>& users) {
  std::string material = "pgdual client credentials";
  for (const auto& user : users) {
    material += '\0' + user.name + '\0' + user.password + '\0' + user.scram_verifier;
  }
  return conflict::sha256(std::as_bytes(std::span{material}));
}

}  // namespace

ClientCredentials::ClientCredentials(const std::vector<config::UserConfig>& users)
    : server_secret_{server_secret_of(users)} {
  for (const auto& user : users) {
    Entry entry;
    if (!user.scram_verifier.empty()) {
      auto parsed = parse_scram_verifier(user.scram_verifier);
      if (!parsed) throw std::invalid_argument{"users: the scram_verifier of \"" + user.name + "\": " + parsed.error()};
      entry.scram = std::move(*parsed);
    } else {
      const auto salt = conflict::hmac_sha256(server_secret_, "pgdual salt:" + user.name);
      entry.scram = make_scram_verifier(user.password, std::span{salt}.first(kSaltBytes));
      entry.md5 = Md5Secret::from_password(user.name, user.password);
    }
    users_.emplace(user.name, std::move(entry));
  }
}

ScramSha256Server ClientCredentials::scram(const std::string& user,
                                           std::vector<std::byte> tls_server_end_point) const {
  const auto found = users_.find(user);
  if (found == users_.end()) {
    return ScramSha256Server::for_unknown_user(user, server_secret_, std::move(tls_server_end_point));
  }
  return ScramSha256Server{user, found->second.scram, std::move(tls_server_end_point)};
}

const Md5Secret* ClientCredentials::md5(const std::string& user) const {
  const auto found = users_.find(user);
  if (found == users_.end() || !found->second.md5) return nullptr;
  return &*found->second.md5;
}

}  // namespace pgdual::proxy
