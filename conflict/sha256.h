#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/bytes.h"

// OpenSSL's context types, declared here so this header does not pull in <openssl/evp.h>.
struct evp_md_ctx_st;
struct evp_mac_ctx_st;

namespace pgdual::conflict {

/// A SHA-256 digest, and so the size of every SCRAM-SHA-256 key, signature and proof. Bytes, as
/// on the wire, so a digest passes as protocol::Bytes where SCRAM keys one MAC with another.
using Digest = std::array<std::byte, 32>;

/// Lower-case hex, two characters a byte.
[[nodiscard]] std::string to_hex(protocol::Bytes bytes);
/// Lower-case hex, 64 characters.
[[nodiscard]] inline std::string to_hex(const Digest& digest) { return to_hex(protocol::Bytes{digest}); }
/// The inverse of to_hex; std::nullopt unless `hex` is exactly 64 lower-case hex digits.
[[nodiscard]] std::optional<Digest> digest_from_hex(std::string_view hex) noexcept;

/// The SHA-256 digest of `data` in one call. Throws as Sha256 does.
[[nodiscard]] Digest sha256(protocol::Bytes data);

/// The HMAC-SHA-256 (RFC 2104) of `message` under `key` in one call: SCRAM's HMAC(key, text).
/// Throws as HmacSha256 does.
[[nodiscard]] Digest hmac_sha256(protocol::Bytes key, std::string_view message);

/// Incremental SHA-256 (OpenSSL's EVP interface). One context is allocated per
/// object and reused across finish(), so hashing many small pieces (one per
/// DataRow) allocates nothing.
///
/// Throws std::bad_alloc if OpenSSL cannot allocate the context, and
/// std::runtime_error if OpenSSL refuses SHA-256 (which only a broken
/// installation does).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(protocol::Bytes data);
  void update(std::string_view text) { update(protocol::as_bytes(text)); }
  /// The digest of everything given since construction or the last finish();
  /// starts over afterwards.
  [[nodiscard]] Digest finish();

  /// The digest of `text` in one call.
  [[nodiscard]] static Digest of(std::string_view text);

 private:
  evp_md_ctx_st* context_ = nullptr;
};

/// Incremental HMAC-SHA-256 (RFC 2104) under one key, for digests of data
/// that must not be recoverable by hashing guesses (a digest of one short
/// returned value, such as an id, is). The key is kept and reused across
/// finish(); like Sha256, nothing is allocated per update.
///
/// Most units a proxy digests return no rows, and keying OpenSSL's context is
/// the dearest part of a MAC: the context is keyed at the first update() only,
/// and the MAC of nothing, the same under one key, is computed once.
///
/// Throws as Sha256 does.
class HmacSha256 {
 public:
  explicit HmacSha256(protocol::Bytes key);
  ~HmacSha256();
  HmacSha256(HmacSha256&& other) noexcept;
  HmacSha256& operator=(HmacSha256&& other) noexcept;
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  void update(protocol::Bytes data);
  void update(std::string_view text) { update(protocol::as_bytes(text)); }
  /// The MAC of everything given since construction or the last finish();
  /// starts over, under the same key, afterwards.
  [[nodiscard]] Digest finish();

 private:
  void start_if_idle();

  evp_mac_ctx_st* context_ = nullptr;
  std::vector<std::byte> key_;
  bool started_ = false;  ///< the context is keyed and holds data since the last finish()
  Digest of_nothing_{};
};

}  // namespace pgdual::conflict
