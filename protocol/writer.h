#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/frame.h"

namespace pgdual::protocol {

/// Appends encoded messages to a caller-owned buffer (reused across messages,
/// so steady-state encoding does not allocate). Lengths are back-patched by the
/// writer, never computed by callers.
class Writer {
 public:
  explicit Writer(std::vector<std::byte>& out) noexcept : out_{out} {}

  /// Starts a tagged message: tag byte plus a length placeholder.
  void begin(char tag);
  /// Starts an untagged startup-phase packet: only the length placeholder.
  void begin_untagged();
  /// Back-patches the length of the message begun last.
  void finish();
  // Payloads without a length of their own (the replication messages inside
  // CopyData, the logical replication messages inside XLogData) are written
  // with the field writers alone, without begin() and finish().

  void uint8(std::uint8_t value);
  void int16(std::int16_t value);
  void int32(std::int32_t value);
  void int64(std::int64_t value);
  /// The text followed by a NUL terminator.
  void cstring(std::string_view text);
  void bytes(Bytes data);
  void bytes(std::string_view data) { bytes(as_bytes(data)); }

 private:
  std::vector<std::byte>& out_;
  std::size_t length_offset_ = 0;
};

/// Appends `frame` as a complete message again: tag, length and body.
void append_frame(const Frame& frame, std::vector<std::byte>& out);

}  // namespace pgdual::protocol
