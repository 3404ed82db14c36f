#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/bytes.h"

namespace pgdual::proxy {

/// Moves the error positions in the answers to a simple Query whose text pgdual lengthened (UnitPrefix::text_shift,
/// at its start or after statements that raise no error with a position), so that the client reads positions in the
/// text it sent: psql's "LINE 1: ... ^" and a driver's error offset point where they would without pgdual.
///
/// PostgreSQL counts a position ('P' field of ErrorResponse and NoticeResponse) in characters of
/// the whole Query text, from 1. Every other message passes as it came, piece by piece; an
/// ErrorResponse or NoticeResponse is held until whole, as the relay's OutcomeTap holds it.
class ErrorPositionShift {
 public:
  /// From now on, positions move back by `characters` (pgdual's prefix is ASCII: characters are
  /// bytes). Call at a message boundary of the stream.
  void start(std::uint32_t characters) noexcept;
  /// Positions are left as they come again: the unit is over.
  void stop() noexcept { characters_ = 0; }
  [[nodiscard]] bool active() const noexcept { return characters_ > 0; }

  /// Appends to `out` what of `chunk` the client is to see now.
  void filter(protocol::Bytes chunk, std::vector<std::byte>& out);

 private:
  static constexpr std::size_t kHeaderSize = 5;  ///< tag and Int32 length

  /// Takes the header bytes at the start of `chunk`; returns the rest.
  [[nodiscard]] protocol::Bytes take_header(protocol::Bytes chunk, std::vector<std::byte>& out);
  /// The held message is whole: appends it to `out` with its position moved.
  void release_held(std::vector<std::byte>& out);

  std::uint32_t characters_ = 0;
  std::vector<std::byte> header_;  ///< of the current message, while incomplete
  std::size_t body_left_ = 0;      ///< bytes of the current message's body still to come
  bool holding_ = false;           ///< the current message is an error or notice, held until whole
  std::vector<std::byte> held_;    ///< its header and body so far
};

/// The body of an ErrorResponse or NoticeResponse with its 'P' position moved back by
/// `characters`; a body without one, or with one inside pgdual's prefix, comes back unchanged.
[[nodiscard]] std::vector<std::byte> shift_error_position(protocol::Bytes body, std::uint32_t characters);

}  // namespace pgdual::proxy
