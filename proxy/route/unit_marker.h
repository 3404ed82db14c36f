#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backend_messages.h"
#include "protocol/frame.h"
#include "proxy/route/statement_pins.h"
#include "proxy/route/unit_planner.h"

namespace pgdual::proxy {

/// The logical message prefix under which a unit marker carries its key; the apply reads it.
inline constexpr std::string_view kUnitMarkerPrefix = "pgdual";

/// How a unit carries its marker in wal mode (docs/wal-mirror.md, "Acknowledgement"): the
/// statement that puts the unit's key into the primary's WAL, inside the transaction the unit
/// ends, so that the apply knows when that transaction is on the mirror.
enum class MarkerForm : std::uint8_t {
  none,  ///< the unit ends no transaction that wrote, or nothing may share its transaction
  /// A simple Query: the marker statement goes first in its text (a Query's statements share one
  /// transaction, unless the text says otherwise).
  query_text,
  /// Extended-protocol messages: the marker's own Parse, Bind and Execute go before them, in the
  /// transaction their Sync ends.
  messages,
};

/// What the marker decision looks at.
struct MarkerFacts {
  const UnitSummary& unit;
  std::span<const protocol::Frame> frames;  ///< the unit's messages so far
  protocol::TransactionStatus status;       ///< the primary's, before the unit
  bool writes = false;                      ///< the unit changes data (UnitPlan::writes)
  bool transaction_wrote = false;           ///< the open transaction changed data in an earlier unit
};

/// Whether, and how, a unit gets a marker: a write outside a transaction, or the COMMIT of a
/// transaction that wrote. Never in a failed transaction (the marker would fail and be the
/// client's to see), in text libpg_query cannot parse, or beside a statement that must have its
/// transaction to itself; such units are answered without waiting for the mirror.
[[nodiscard]] MarkerForm marker_form(const MarkerFacts& facts);

/// The marker statement for `key`.
[[nodiscard]] std::string marker_statement(std::string_view key);

/// Puts the marker statement for `key` before the text of the simple Query that `frames` (one
/// Query message, viewing `segment`) hold, rewriting both. Its three answers (row description,
/// row, command tag) come first; its length moves the error positions.
[[nodiscard]] UnitPrefix mark_query_text(std::string_view key, std::vector<std::byte>& segment,
                                         std::vector<protocol::Frame>& frames);

/// The marker messages for `key`, to go before an extended-protocol unit: its own statement and
/// portal closed, then prepared, bound and executed; six answers.
[[nodiscard]] UnitPrefix marker_messages(std::string_view key);

}  // namespace pgdual::proxy
