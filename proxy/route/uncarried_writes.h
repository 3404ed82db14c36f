#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "protocol/backend_messages.h"
#include "protocol/frame.h"
#include "proxy/route/statement_pins.h"
#include "proxy/route/unit_planner.h"

namespace pgdual::proxy {

/// Writes the WAL mirror cannot carry (docs/wal-mirror.md, "What WAL does not carry"): logical
/// decoding never sees large objects (pg_largeobject is a catalog) nor the rows of unlogged tables.
/// In wal mode, `[mirror] large_objects` and `unlogged_tables` say whether a unit with one is
/// refused before the primary runs it, or run there alone and recorded.
enum class Uncarried : std::uint8_t {
  large_objects,    ///< a large object created, written, opened for writing or removed
  unlogged_tables,  ///< a table created unlogged or made unlogged
};

/// The setting that decides `what`: "mirror.large_objects" or "mirror.unlogged_tables".
[[nodiscard]] std::string_view setting_name(Uncarried what) noexcept;

/// The message of the error a refused unit gets: it names the setting, and says nothing ran.
[[nodiscard]] std::string refusal_message(Uncarried what);

/// How a refused unit is answered. The primary itself raises the error, by a statement pgdual puts
/// in the place of the client's (refusal_statement()): its answers and the transaction status
/// after them are the server's own, as they would be had the client's statement failed there (a
/// transaction block becomes failed), and the session goes on following the primary's status.
enum class RefusalForm : std::uint8_t {
  none,           ///< not refused
  query_text,     ///< the Query's whole text is replaced: none of its statements runs
  function_call,  ///< the FunctionCall becomes a Query: ErrorResponse then ReadyForQuery, as the call's
  /// Extended protocol: the Execute of the first refused portal runs pgdual's portal instead, bound
  /// ahead of the unit; the messages before it are answered as usual, those after are skipped by
  /// the server up to Sync, and the implicit or explicit transaction fails as it would.
  messages,
};

/// Whether, and how, a unit is refused.
struct RefusalPlan {
  RefusalForm form = RefusalForm::none;
  Uncarried what = Uncarried::large_objects;  ///< the setting named in the error, when refused
  std::uint32_t execute = 0;                  ///< messages: the Execute replaced, counted from 0 in `frames`
};

/// What the refusal decision looks at: a unit about to be sent to the primary, nothing of which
/// has run yet.
struct UncarriedFacts {
  const UnitSummary& unit;
  std::span<const protocol::Frame> frames;  ///< the unit's messages so far
  protocol::TransactionStatus status;       ///< the primary's, before the unit
  const config::MirrorConfig& mirror;
};

/// Whether the unit is refused: in wal mode, when it does something the WAL cannot carry whose
/// setting is "refuse", in a form the server can be made to fail at. Extended-protocol messages
/// in a failed transaction are not refused (the server refuses them itself, and pgdual's own
/// Parse would fail first); neither is a segment that mixes them with a Query or FunctionCall.
/// A unit not refused that still writes what the WAL cannot carry is recorded (uncarried_note()).
[[nodiscard]] RefusalPlan plan_refusal(const UncarriedFacts& facts);

/// Whether, and how, a unit is refused because it may write (a statement not proven read-only,
/// sql::StatementKind copy_in or write), where no write may run: at its first such Execute for
/// extended-protocol messages. A unit that may write and cannot be refused (a segment mixing a
/// Query with other messages) has form none, as has one that does not write: tell them apart by
/// the summary's kind.
[[nodiscard]] RefusalPlan plan_write_refusal(const UnitSummary& unit, std::span<const protocol::Frame> frames,
                                             protocol::TransactionStatus status);

/// A statement that fails with the error `condition` (a PostgreSQL condition name, such as
/// feature_not_supported) and `message`. PL/pgSQL's RAISE is the one way SQL has to raise an error
/// of one's choosing; the server adds a CONTEXT line naming the inline block.
[[nodiscard]] std::string raise_statement(std::string_view condition, std::string_view message);

/// Rewrites `segment` and `frames` (its view) for a refused unit, as `plan` says, so that the
/// primary runs `statement` (raise_statement()) in the place of what is refused; returns the
/// messages to send ahead of them and the count of their answers, pgdual's own.
[[nodiscard]] UnitPrefix refuse_unit(const RefusalPlan& plan, const std::string& statement,
                                     std::vector<std::byte>& segment, std::vector<protocol::Frame>& frames);
/// refuse_unit() with the error of the setting that refuses `plan.what`.
[[nodiscard]] UnitPrefix refuse_unit(const RefusalPlan& plan, std::vector<std::byte>& segment,
                                     std::vector<protocol::Frame>& frames);

/// For a unit the primary ran and committed or may commit: what of it the mirror lacks, naming
/// the setting, for the log and a conflict record; empty when the WAL carries all of it.
[[nodiscard]] std::string uncarried_note(const UnitSummary& unit, const config::MirrorConfig& mirror);

}  // namespace pgdual::proxy
