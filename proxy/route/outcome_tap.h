#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "conflict/outcome.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/frame.h"

namespace pgdual::proxy {

/// Watches the primary's byte stream as the relay forwards it, message by
/// message, without holding any message whole except the few small ones it
/// reads: ReadyForQuery and ErrorResponse (always: the transaction status,
/// the error's SQLSTATE) and, while recording, CommandComplete. DataRow bodies go to the
/// outcome's digest piece by piece.
///
/// Feed it the headers and body parts of protocol::FrameScanner::scan.
class OutcomeTap {
 public:
  explicit OutcomeTap(protocol::Bytes rows_digest_key) : builder_{rows_digest_key} {}

  /// Whether messages count towards the outcome. Turned on for a unit whose
  /// outcome will be compared; reads relay without the cost of hashing.
  void set_recording(bool recording) noexcept { recording_ = recording; }
  [[nodiscard]] bool recording() const noexcept { return recording_; }
  /// How the outcome digests rows from now on (conflict::OutcomeBuilder).
  void set_rows_order(conflict::RowsOrder order) noexcept { builder_.set_rows_order(order); }

  /// A message starts. Returns true when it is complete already (empty body).
  bool on_header(const protocol::FrameHeader& header);
  /// Part of the current message's body. Returns true when it completes the message.
  bool on_body(protocol::Bytes part);

  /// The tag of the message completed last.
  [[nodiscard]] char completed_tag() const noexcept { return tag_; }
  /// The status of the last ReadyForQuery.
  [[nodiscard]] protocol::TransactionStatus transaction_status() const noexcept { return status_; }

  /// The outcome recorded since the last call; the builder starts over.
  [[nodiscard]] conflict::Outcome finish() { return builder_.finish(); }
  /// The SQLSTATE of the first ErrorResponse since the last call, recording or not; empty
  /// without one. For the read statistics, which need no outcome.
  [[nodiscard]] std::string take_error_sqlstate() { return std::exchange(error_sqlstate_, {}); }

 private:
  [[nodiscard]] bool gathered(char tag) const noexcept;
  void complete();

  conflict::OutcomeBuilder builder_;
  bool recording_ = false;
  char tag_ = 0;
  std::size_t remaining_ = 0;
  bool first_part_ = false;
  std::vector<std::byte> body_;  ///< the current message, when it is one that is read whole
  protocol::TransactionStatus status_ = protocol::TransactionStatus::idle;
  std::string error_sqlstate_;
};

}  // namespace pgdual::proxy
