#include "proxy/auth/backend_auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace pgdual::proxy {
namespace {

const unsigned char* as_uchars(const void* data) { return static_cast<const unsigned char*>(data); }

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/// The value of attribute `name` ("r", "s", "i", "v", "e") in a SCRAM message.
std::optional<std::string_view> attribute(std::string_view message, char name) {
  while (!message.empty()) {
    const auto comma = message.find(',');
    const auto part = message.substr(0, comma);
    if (part.size() >= 2 && part[0] == name && part[1] == '=') return part.substr(2);
    if (comma == std::string_view::npos) break;
    message.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

std::error_code protocol_error() { return std::make_error_code(std::errc::protocol_error); }

}  // namespace

std::string base64_encode(std::span<const std::byte> data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const auto written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), as_uchars(data.data()),
                                       static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::optional<std::vector<std::byte>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  const auto data_end = text.find_last_not_of('=') + 1;
  const auto padding = text.size() - data_end;
  if (padding > 2) return std::nullopt;
  for (std::size_t i = 0; i < data_end; ++i) {
    if (!is_base64_char(text[i])) return std::nullopt;
  }
  std::vector<std::byte> out(text.size() / 4 * 3);
  const auto written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), as_uchars(text.data()),
                                       static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as data; drop one byte per '='.
  out.resize(static_cast<std::size_t>(written) - padding);
  return out;
}

conflict::Digest scram_salted_password(std::string_view password, std::span<const std::byte> salt, int iterations) {
  conflict::Digest out{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), as_uchars(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(), static_cast<int>(out.size()),
                    reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::vector<std::byte> random_bytes(std::size_t count) {
  std::vector<std::byte> out(count);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    throw std::runtime_error{"RAND_bytes failed"};
  }
  return out;
}

std::string random_scram_nonce() {
  // 18 bytes: SCRAM_RAW_NONCE_LEN in PostgreSQL's src/include/common/scram-common.h.
  return base64_encode(random_bytes(18));
}

std::string md5_hex(std::string_view data) {
  std::array<unsigned char, 16> digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : digest) {
    hex += kHex[byte >> 4U];
    hex += kHex[byte & 0xfU];
  }
  return hex;
}

std::string md5_salted_response(std::string_view password_hash, std::array<std::byte, 4> salt) {
  std::string salted{password_hash};
  salted.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return "md5" + md5_hex(salted);
}

ScramSha256Client::ScramSha256Client(std::string password, std::string client_nonce, std::string scram_user)
    : password_{std::move(password)}, client_nonce_{std::move(client_nonce)}, scram_user_{std::move(scram_user)} {}

ScramSha256Client::ScramSha256Client(std::shared_ptr<const ScramClientKey> client_key, std::string client_nonce)
    : client_key_{std::move(client_key)}, client_nonce_{std::move(client_nonce)} {}

ScramSha256Client ScramSha256Client::with_random_nonce(std::string password,
                                                       std::shared_ptr<const ScramClientKey> client_key) {
  if (client_key) return {std::move(client_key), random_scram_nonce()};
  return {std::move(password), random_scram_nonce()};
}

std::string ScramSha256Client::client_first_message() const {
  return "n,,n=" + scram_user_ + ",r=" + client_nonce_;
}

Expected<std::pair<conflict::Digest, conflict::Digest>> ScramSha256Client::keys_for(std::span<const std::byte> salt,
                                                                                    int iterations) const {
  if (client_key_) {
    const auto& verifier = client_key_->verifier();
    if (iterations != verifier.iterations || !std::ranges::equal(salt, verifier.salt)) {
      return unexpected{std::make_error_code(std::errc::invalid_argument)};
    }
    return std::pair{client_key_->client_key(), verifier.server_key};
  }
  auto salted_password = scram_salted_password(password_, salt, iterations);
  std::pair keys{conflict::hmac_sha256(salted_password, "Client Key"),
                 conflict::hmac_sha256(salted_password, "Server Key")};
  wipe(salted_password);
  return keys;
}

Expected<std::string> ScramSha256Client::client_final_message(std::string_view server_first) {
  const auto nonce = attribute(server_first, 'r');
  const auto salt_text = attribute(server_first, 's');
  const auto iterations_text = attribute(server_first, 'i');
  if (!nonce || !salt_text || !iterations_text || !nonce->starts_with(client_nonce_)) {
    return unexpected{protocol_error()};
  }
  const auto salt = base64_decode(*salt_text);
  int iterations = 0;
  for (char digit : *iterations_text) {
    if (digit < '0' || digit > '9' || iterations > 100'000'000) return unexpected{protocol_error()};
    iterations = iterations * 10 + (digit - '0');
  }
  if (!salt || iterations < 1) return unexpected{protocol_error()};

  auto keys = keys_for(*salt, iterations);
  if (!keys) return unexpected{keys.error()};
  auto& [client_key, server_key] = *keys;
  server_key_ = server_key;
  // "biws" is base64("n,,"): the GS2 header of a client without channel binding.
  const auto without_proof = "c=biws,r=" + std::string{*nonce};
  auth_message_ = client_first_message().substr(3) + "," + std::string{server_first} + "," + without_proof;
  const auto proof = xor_client_signature(client_key, conflict::sha256(client_key), auth_message_);
  wipe(client_key);
  wipe(server_key);
  return without_proof + ",p=" + base64_encode(proof);
}

Expected<void> ScramSha256Client::verify_server_final(std::string_view server_final) const {
  const auto verifier = attribute(server_final, 'v');
  if (!verifier || auth_message_.empty()) return unexpected{protocol_error()};
  const auto expected = conflict::hmac_sha256(server_key_, auth_message_);
  if (*verifier != base64_encode(expected)) {
    return unexpected{std::make_error_code(std::errc::permission_denied)};
  }
  return {};
}

std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::array<std::byte, 4> salt) {
  return md5_salted_response(md5_hex(std::string{password} + std::string{user}), salt);
}

}  // namespace pgdual::proxy
