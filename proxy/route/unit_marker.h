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

/// How a unit carries its marker in wal mode (docs/wal-mirror.md, "Acknowledgement"): the
/// statement that puts into the primary's WAL, inside the unit's transaction, what the WAL does
/// not carry itself: the unit's key, so that the apply knows when the transaction that the unit
/// ends is on the mirror, and the statements at its start that change the schema, so that the
/// apply runs them there at that point.
enum class MarkerForm : std::uint8_t {
  none,  ///< nothing to carry, or nothing may share the unit's transaction
  /// A simple Query: the marker statement goes into its text (a Query's statements share one
  /// transaction, unless the text says otherwise), first, or after the statements that open and set
  /// up the transaction (sql::Classification::transaction_setup_statements): SET TRANSACTION
  /// ISOLATION LEVEL and the like are refused once a query ran in the transaction.
  query_text,
  /// Extended-protocol messages: the marker's own Parse, Bind and Execute go before them, or after
  /// the Executes at their start that open and set up the transaction (UnitSummary::setup_executes),
  /// in the transaction their Sync ends.
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

/// What a unit's marker carries, and in what form.
struct MarkerPlan {
  MarkerForm form = MarkerForm::none;
  /// The unit ends a transaction that wrote (a write outside a transaction, or the COMMIT of one
  /// that wrote): the marker carries a key, and the client's answer waits for the apply.
  bool carries_key = false;
  std::string_view schema_change;  ///< UnitSummary::schema_change_text; empty for none
  /// query_text: the byte offset in the Query's text where the marker goes. The client's
  /// statements before it: in the Query's text, or its Execute messages.
  std::size_t text_offset = 0;
  std::size_t statements_before = 0;
};

/// Whether, and how, a unit gets a marker. Never in a failed transaction (the marker would fail
/// and be the client's to see), in text libpg_query cannot parse, or beside a statement that
/// must have its transaction to itself; such units are answered without waiting for the mirror.
[[nodiscard]] MarkerPlan plan_marker(const MarkerFacts& facts);

/// The marker statement: one row with the message for `schema_change`, if any, then the one for
/// `key`, if any; at least one is given.
[[nodiscard]] std::string marker_statement(std::string_view key, std::string_view schema_change);

/// What a unit that no marker may share a transaction with tells the apply after it, in a
/// statement of its own (docs/wal-mirror.md, "Statements no marker may join").
struct AnnouncementPlan {
  bool announces = false;          ///< the unit's key, once the primary has run the unit
  std::string_view schema_change;  ///< the unit's statement, for the mirror to run too; empty for none
};

/// A COMMIT PREPARED announces its key; a statement that must run alone and changes the schema
/// (CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY), alone in its unit and text that parses,
/// announces its key and itself. Both only outside a transaction block, where they may run at all.
[[nodiscard]] AnnouncementPlan plan_announcement(const UnitSummary& unit, protocol::TransactionStatus status);

/// The announcement statement: marker_statement's messages, non-transactional. They are decoded
/// where they stand in the WAL, after the transactions the unit committed (COMMIT PREPARED) or
/// the statement it ran, which run outside any transaction; a transactional message in a
/// transaction of its own would do the same at the cost of an xid and a commit of its own.
[[nodiscard]] std::string announcement_statement(std::string_view key, std::string_view schema_change);

/// Puts `statement` (marker_statement) into the text of the simple Query that `frames` (one Query
/// message, viewing `segment`) hold, where `plan` says, rewriting both. Its three answers (row
/// description, row, command tag) follow the answers of the client's statements before it; its
/// length moves the error positions of the statements after it.
[[nodiscard]] UnitPrefix mark_query_text(std::string_view statement, const MarkerPlan& plan,
                                         std::vector<std::byte>& segment, std::vector<protocol::Frame>& frames);

/// The messages that run `statement` (marker_statement) in the extended-protocol unit of `frames`:
/// its own statement and portal closed, then prepared, bound and executed, and its portal closed
/// again (a COPY FREEZE after it must see no open portal); seven answers. They go first, or after
/// the client's messages up to its Execute number `plan.statements_before`, whose answers then
/// come first.
[[nodiscard]] UnitPrefix marker_messages(std::string_view statement, const MarkerPlan& plan,
                                         std::span<const protocol::Frame> frames);

}  // namespace pgdual::proxy
