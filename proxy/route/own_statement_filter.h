#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/bytes.h"

namespace pgdual::proxy {

/// Removes from the primary's byte stream, which arrives cut at any point, every answer to a
/// statement pgdual ran on its own after a unit of the client's (the WAL mirror's announcement,
/// docs/wal-mirror.md), through its ReadyForQuery, whatever they are: rows, tag, error or notice.
/// NotificationResponse and ParameterStatus, which the server sends whenever it likes, are the
/// client's and kept.
class OwnStatementFilter {
 public:
  /// The statement was sent: its answers come next.
  void start() noexcept {
    active_ = true;
    header_seen_ = 0;
    length_ = 0;
    body_left_ = 0;
  }
  /// Its ReadyForQuery has not been removed yet.
  [[nodiscard]] bool active() const noexcept { return active_; }
  /// Appends to `out` what of `chunk` the client is to see.
  void filter(protocol::Bytes chunk, std::vector<std::byte>& out);

 private:
  static constexpr std::size_t kHeaderSize = 5;  ///< tag and Int32 length

  /// Takes what it can of the message under way from the start of `chunk`; returns the rest.
  [[nodiscard]] protocol::Bytes take(protocol::Bytes chunk, std::vector<std::byte>& out);

  bool active_ = false;
  char tag_ = 0;
  bool keep_ = false;            ///< the message under way is the client's
  std::size_t header_seen_ = 0;  ///< bytes of its header read so far
  std::uint32_t length_ = 0;     ///< its length field, as far as read
  std::size_t body_left_ = 0;    ///< bytes of its body still to come, once the header is whole
};

}  // namespace pgdual::proxy
