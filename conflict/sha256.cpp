#include "conflict/sha256.h"

#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace pgdual::conflict {
namespace {

unsigned char* as_uchars(std::byte* data) { return reinterpret_cast<unsigned char*>(data); }
const unsigned char* as_uchars(const std::byte* data) { return reinterpret_cast<const unsigned char*>(data); }

// OpenSSL 3 looks the algorithm up on every EVP_DigestInit_ex(EVP_sha256())
// call; fetching it once makes restarting a context cheap. The fetched method
// lives as long as the process.
const EVP_MD* sha256_method() {
  static const EVP_MD* const method = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (method == nullptr) throw std::runtime_error("OpenSSL has no SHA-256");
  return method;
}

void start(EVP_MD_CTX* context) {
  if (EVP_DigestInit_ex(context, sha256_method(), nullptr) != 1) throw std::runtime_error("SHA-256 init failed");
}

EVP_MAC* hmac_method() {
  static EVP_MAC* const method = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (method == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
  return method;
}

void start(EVP_MAC_CTX* context, protocol::Bytes key) {
  static char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(context, as_uchars(key.data()), key.size(), params) != 1) {
    throw std::runtime_error("HMAC init failed");
  }
}

void update(EVP_MAC_CTX* context, protocol::Bytes data) {
  if (EVP_MAC_update(context, as_uchars(data.data()), data.size()) != 1) throw std::runtime_error("HMAC update failed");
}

Digest finish(EVP_MAC_CTX* context) {
  Digest digest{};
  std::size_t length = 0;
  if (EVP_MAC_final(context, as_uchars(digest.data()), &length, digest.size()) != 1 || length != digest.size()) {
    throw std::runtime_error("HMAC final failed");
  }
  return digest;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string to_hex(protocol::Bytes bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const auto byte : bytes) {
    const auto value = std::to_integer<unsigned>(byte);
    out.push_back(kDigits[value >> 4U]);
    out.push_back(kDigits[value & 0xfU]);
  }
  return out;
}

std::optional<Digest> digest_from_hex(std::string_view hex) noexcept {
  Digest digest{};
  if (hex.size() != digest.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    digest[i] = static_cast<std::byte>(high * 16 + low);
  }
  return digest;
}

Digest sha256(protocol::Bytes data) {
  Digest digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), as_uchars(digest.data()), &length, sha256_method(), nullptr) != 1 ||
      length != digest.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return digest;
}

Digest hmac_sha256(protocol::Bytes key, std::string_view message) {
  const std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> context{EVP_MAC_CTX_new(hmac_method()),
                                                                          EVP_MAC_CTX_free};
  if (context == nullptr) throw std::bad_alloc();
  start(context.get(), key);
  update(context.get(), protocol::as_bytes(message));
  return finish(context.get());
}

Sha256::Sha256() : context_{EVP_MD_CTX_new()} {
  if (context_ == nullptr) throw std::bad_alloc();
  start(context_);
}

Sha256::~Sha256() { EVP_MD_CTX_free(context_); }

Sha256::Sha256(Sha256&& other) noexcept : context_{std::exchange(other.context_, nullptr)} {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  std::swap(context_, other.context_);
  return *this;
}

void Sha256::update(protocol::Bytes data) {
  if (data.empty()) return;
  if (EVP_DigestUpdate(context_, data.data(), data.size()) != 1) throw std::runtime_error("SHA-256 update failed");
}

Digest Sha256::finish() {
  Digest digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_, as_uchars(digest.data()), &length) != 1 || length != digest.size()) {
    throw std::runtime_error("SHA-256 final failed");
  }
  start(context_);
  return digest;
}

Digest Sha256::of(std::string_view text) { return sha256(protocol::as_bytes(text)); }

HmacSha256::HmacSha256(protocol::Bytes key)
    : context_{EVP_MAC_CTX_new(hmac_method())},
      key_(key.begin(), key.end()) {
  if (context_ == nullptr) throw std::bad_alloc();
  start_if_idle();
  of_nothing_ = finish();
}

HmacSha256::~HmacSha256() { EVP_MAC_CTX_free(context_); }

HmacSha256::HmacSha256(HmacSha256&& other) noexcept
    : context_{std::exchange(other.context_, nullptr)},
      key_{std::move(other.key_)},
      started_{other.started_},
      of_nothing_{other.of_nothing_} {}

HmacSha256& HmacSha256::operator=(HmacSha256&& other) noexcept {
  std::swap(context_, other.context_);
  std::swap(key_, other.key_);
  std::swap(started_, other.started_);
  std::swap(of_nothing_, other.of_nothing_);
  return *this;
}

void HmacSha256::start_if_idle() {
  if (started_) return;
  start(context_, key_);
  started_ = true;
}

void HmacSha256::update(protocol::Bytes data) {
  if (data.empty()) return;
  start_if_idle();
  conflict::update(context_, data);
}

Digest HmacSha256::finish() {
  if (!started_) return of_nothing_;
  started_ = false;
  return conflict::finish(context_);
}

}  // namespace pgdual::conflict
