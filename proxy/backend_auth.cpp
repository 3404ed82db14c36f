#include "proxy/backend_auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <optional>
#include <stdexcept>
#include <vector>

namespace pgdual::proxy {
namespace {

using Digest = std::array<std::byte, 32>;

std::string base64_encode(const void* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const auto written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                       static_cast<const unsigned char*>(data), static_cast<int>(size));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::optional<std::vector<unsigned char>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const auto written = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                       static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as data; drop one byte per '='.
  auto size = static_cast<std::size_t>(written);
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) --size;
  out.resize(size);
  return out;
}

Digest hmac_sha256(const void* key, std::size_t key_size, std::string_view message) {
  Digest out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key, static_cast<int>(key_size), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), reinterpret_cast<unsigned char*>(out.data()), &length);
  return out;
}

Digest sha256(const Digest& data) {
  Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
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

ScramSha256Client::ScramSha256Client(std::string password, std::string client_nonce, std::string scram_user)
    : password_{std::move(password)}, client_nonce_{std::move(client_nonce)}, scram_user_{std::move(scram_user)} {}

ScramSha256Client ScramSha256Client::with_random_nonce(std::string password) {
  std::array<unsigned char, 18> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    throw std::runtime_error{"RAND_bytes failed"};
  }
  return {std::move(password), base64_encode(raw.data(), raw.size())};
}

std::string ScramSha256Client::client_first_message() const {
  return "n,,n=" + scram_user_ + ",r=" + client_nonce_;
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

  PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()), salt->data(),
                    static_cast<int>(salt->size()), iterations, EVP_sha256(), static_cast<int>(salted_password_.size()),
                    reinterpret_cast<unsigned char*>(salted_password_.data()));
  const auto client_key = hmac_sha256(salted_password_.data(), salted_password_.size(), "Client Key");
  const auto stored_key = sha256(client_key);
  // "biws" is base64("n,,"): the GS2 header of a client without channel binding.
  const auto without_proof = "c=biws,r=" + std::string{*nonce};
  auth_message_ = client_first_message().substr(3) + "," + std::string{server_first} + "," + without_proof;
  const auto signature = hmac_sha256(stored_key.data(), stored_key.size(), auth_message_);
  Digest proof{};
  for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ signature[i];
  return without_proof + ",p=" + base64_encode(proof.data(), proof.size());
}

Expected<void> ScramSha256Client::verify_server_final(std::string_view server_final) const {
  const auto verifier = attribute(server_final, 'v');
  if (!verifier || auth_message_.empty()) return unexpected{protocol_error()};
  const auto server_key = hmac_sha256(salted_password_.data(), salted_password_.size(), "Server Key");
  const auto expected = hmac_sha256(server_key.data(), server_key.size(), auth_message_);
  if (*verifier != base64_encode(expected.data(), expected.size())) {
    return unexpected{std::make_error_code(std::errc::permission_denied)};
  }
  return {};
}

std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::array<std::byte, 4> salt) {
  auto md5_hex = [](std::string_view data) {
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
  };
  auto inner = md5_hex(std::string{password} + std::string{user});
  inner.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return "md5" + md5_hex(inner);
}

}  // namespace pgdual::proxy
