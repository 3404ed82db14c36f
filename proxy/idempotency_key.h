#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>


namespace pgdual::proxy {

/// A UUIDv7 (RFC 9562, section 5.7): 48-bit Unix milliseconds, version 7, a
/// 12-bit sequence that keeps the keys of one generator strictly increasing
/// within a millisecond (and across a clock that steps back: keys never go
/// backwards), variant 10, 62 random bits. Unique across pgdual instances
/// without coordination.
///
/// The random bits come from a Mersenne Twister seeded with 256 bits from
/// OpenSSL's RAND_bytes, not from RAND_bytes per key: a key is a name, not a
/// secret, so it needs uniqueness only. Two generators with independent
/// 256-bit seeds produce unrelated streams, and a collision needs the same
/// millisecond, the same sequence and the same 62 bits. That someone who sees
/// enough keys could predict the next ones grants nothing: a key authorizes
/// nothing.
///
/// Not thread-safe: one per worker thread or session.
class IdempotencyKeyGenerator {
 public:
  /// Seeds the random bits from RAND_bytes; throws std::runtime_error if it fails.
  IdempotencyKeyGenerator();

  /// The next key in canonical text form, "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx"
  /// in lower case, which PostgreSQL's uuid type accepts. Keys of one
  /// generator compare (as strings) strictly increasing.
  [[nodiscard]] std::string next();

 private:
  /// Moves (unix_ms_, sequence_) strictly forward, following the clock when it
  /// is ahead and borrowing a millisecond when the sequence runs out.
  void advance(std::uint64_t now_ms);

  std::mt19937_64 random_;
  std::uint64_t unix_ms_ = 0;
  std::uint16_t sequence_ = 0;
};

/// The next key of the calling thread's generator: what a session gives each write unit.
[[nodiscard]] std::string next_unit_key();

}  // namespace pgdual::proxy
