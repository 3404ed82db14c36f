#include "proxy/idempotency_key.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace pgdual::proxy {
namespace {

using Uuid = std::array<std::uint8_t, 16>;

/// The 12 bits of rand_a, used as the sequence (RFC 9562, section 6.2, method 1).
constexpr std::uint16_t kMaxSequence = 0x0FFF;

std::mt19937_64 seeded_from_openssl() {
  std::array<std::uint32_t, 8> seed{};  // 256 bits
  if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), static_cast<int>(sizeof seed)) != 1) {
    throw std::runtime_error{"RAND_bytes failed: cannot seed the idempotency key generator"};
  }
  std::seed_seq sequence(seed.begin(), seed.end());
  return std::mt19937_64{sequence};
}

std::uint64_t unix_milliseconds_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto milliseconds = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
  return static_cast<std::uint64_t>(std::max<std::int64_t>(milliseconds, 0));
}

/// Lower-case hex with dashes after bytes 4, 6, 8 and 10 (RFC 9562, section 4).
std::string canonical_text(const Uuid& uuid) {
  constexpr std::string_view kHexDigits = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    text += kHexDigits[uuid[i] >> 4];
    text += kHexDigits[uuid[i] & 0x0F];
  }
  return text;
}

}  // namespace

IdempotencyKeyGenerator::IdempotencyKeyGenerator() : random_{seeded_from_openssl()} {}

std::string IdempotencyKeyGenerator::next() {
  advance(unix_milliseconds_now());
  const std::uint64_t random_bits = random_() >> 2;  // 62 bits: the variant takes the other 2
  Uuid uuid{};
  for (std::size_t i = 0; i < 6; ++i) uuid[i] = static_cast<std::uint8_t>(unix_ms_ >> (40 - 8 * i));
  uuid[6] = static_cast<std::uint8_t>(0x70 | (sequence_ >> 8));  // version 7
  uuid[7] = static_cast<std::uint8_t>(sequence_);
  uuid[8] = static_cast<std::uint8_t>(0x80 | (random_bits >> 56));  // variant 10
  for (std::size_t i = 9; i < 16; ++i) uuid[i] = static_cast<std::uint8_t>(random_bits >> (8 * (15 - i)));
  return canonical_text(uuid);
}

void IdempotencyKeyGenerator::advance(std::uint64_t now_ms) {
  if (now_ms > unix_ms_) {
    unix_ms_ = now_ms;
    sequence_ = 0;
  } else if (sequence_ < kMaxSequence) {
    ++sequence_;
  } else {
    // 4096 keys in one millisecond: run ahead of the clock, which RFC 9562
    // (section 6.2) allows, rather than repeat or go back.
    ++unix_ms_;
    sequence_ = 0;
  }
}

std::string next_unit_key() {
  thread_local IdempotencyKeyGenerator keys;
  return keys.next();
}

}  // namespace pgdual::proxy
