#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conflict/sha256.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/expected.h"
#include "protocol/frame.h"

namespace pgdual::conflict {

/// Whether the order of the rows is part of rows_digest (Outcome::rows_digest).
enum class RowsOrder { kept, ignored };

/// Whether a backend answered the write unit at all.
enum class Reachability {
  reached,      ///< the backend answered (with results or an error)
  unreachable,  ///< no connection, or the connection was lost before the answer was complete
  timed_out,    ///< connected, but no complete answer within the mirror timeout
};

/// The part of an ErrorResponse worth keeping: no DETAIL, HINT or WHERE, and
/// the message redacted (redact.h), so it may be logged.
struct BackendError {
  std::string sqlstate;    ///< e.g. "23505"
  std::string constraint;  ///< field 'n' (constraint name) when the server names one, else empty
  std::string message;     ///< redact_error_message(); empty when the whole message was dropped

  friend bool operator==(const BackendError&, const BackendError&) = default;
};

/// What one backend reported for one write unit (one autocommit statement or
/// one transaction), reduced to what the two backends' answers are compared on.
/// Build it with OutcomeBuilder: a default-constructed Outcome has zero
/// digests, which no builder produces.
struct Outcome {
  Reachability reachability = Reachability::reached;
  /// The tag of the unit's last CommandComplete ("INSERT 0 1", "COMMIT"), or
  /// empty when none arrived.
  std::string command_tag;
  /// The sum of the row counts of the unit's command tags (parse_row_count);
  /// std::nullopt when no tag carried a count (DDL, BEGIN/COMMIT only).
  std::optional<std::uint64_t> row_count;
  /// How many CommandComplete messages the unit produced.
  std::uint32_t command_count = 0;
  /// SHA-256 over every command tag of the unit, each followed by a NUL, in
  /// order: tells "1 then 0 rows" from "0 then 1 row", which the sum cannot.
  Digest tags_digest{};
  /// How many DataRow messages the unit produced (RETURNING, or a SELECT inside a transaction).
  std::uint64_t rows_returned = 0;
  /// The unit's returned rows, keyed: how depends on the builder's RowsOrder.
  ///
  /// kept (the default): HMAC-SHA-256, under the deployment's rows-digest key,
  /// over the DataRow bodies (column count, then each column's length and
  /// bytes, as on the wire) in order. Bodies are self-delimiting, so
  /// concatenating them is unambiguous.
  ///
  /// ignored (for a read whose rows may come in any order): a digest of the
  /// multiset of rows, the same for the same rows in any order. Each body's
  /// SHA-256, read as a big-endian 256-bit integer, is added into a sum mod
  /// 2^256, and the digest is HMAC-SHA-256 under the same key over the sum's
  /// 32 big-endian bytes. A row returned twice adds its hash twice, so
  /// duplicates count.
  ///
  /// Either way, a unit that returned no row has the HMAC of the empty
  /// message: the same digest in both orders. Otherwise the two orders' digests
  /// of the same rows differ, and the Outcome does not say which order made
  /// it. Keyed because a plain hash of one short value (an id, a date of
  /// birth) gives the value away to anyone who hashes guesses; in the ignored
  /// order the sum, which is as guessable, is never stored.
  Digest rows_digest{};
  /// The unit's first ErrorResponse. Later ones (after ROLLBACK TO SAVEPOINT)
  /// are not kept: the first is where the backends started to differ.
  std::optional<BackendError> error;
  /// From the unit's last ReadyForQuery.
  std::optional<protocol::TransactionStatus> transaction_status;

  friend bool operator==(const Outcome&, const Outcome&) = default;
};

/// The backend answered, without an error.
[[nodiscard]] inline bool succeeded(const Outcome& outcome) noexcept {
  return outcome.reachability == Reachability::reached && !outcome.error;
}

/// The row count of a command tag: the last number of "INSERT oid rows",
/// "UPDATE rows", "DELETE rows", "MERGE rows", "SELECT rows", "MOVE rows",
/// "FETCH rows" and "COPY rows"; std::nullopt for tags without one
/// ("CREATE TABLE", "BEGIN") and for malformed counts.
/// https://www.postgresql.org/docs/15/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-COMMANDCOMPLETE
[[nodiscard]] std::optional<std::uint64_t> parse_row_count(std::string_view command_tag) noexcept;

/// The shortest rows-digest key OutcomeBuilder accepts: HMAC-SHA-256's own output size.
inline constexpr std::size_t kMinRowsDigestKeyBytes = 32;

/// Folds the backend messages of one write unit into an Outcome as they pass
/// through, so nothing of the answer has to be kept.
///
/// It runs on every message of every write: a DataRow costs one SHA-256
/// update of its body and allocates nothing; only an ErrorResponse (rare)
/// allocates. Reuse one builder per backend connection; finish() resets it.
/// In the RowsOrder::ignored order a DataRow costs a SHA-256 of its own and a
/// 256-bit addition, and the builder's first such row allocates that hash's
/// context, once.
class OutcomeBuilder {
 public:
  /// Whether the order of the rows is part of rows_digest; also OutcomeBuilder::RowsOrder.
  using RowsOrder = conflict::RowsOrder;

  /// `rows_digest_key` is the deployment's secret for rows_digest: random,
  /// at least kMinRowsDigestKeyBytes, and the same for the primary's and the
  /// mirror's builders, or their digests never match.
  /// Throws std::invalid_argument for a shorter key.
  explicit OutcomeBuilder(protocol::Bytes rows_digest_key);

  /// Takes one backend message of the unit. CommandComplete, DataRow,
  /// ErrorResponse and ReadyForQuery count; every other message (RowDescription,
  /// notices, ParseComplete...) is ignored. DataRow bodies are hashed as they
  /// are, not decoded: the frame layer has already bounded them, and both
  /// backends' bodies go through the same hash.
  ///
  /// @retval the CodecError of protocol/'s decoder when a CommandComplete,
  ///         ErrorResponse or ReadyForQuery body is malformed; the builder is then unchanged
  [[nodiscard]] Expected<void> add(char tag, protocol::Bytes body);
  [[nodiscard]] Expected<void> add(const protocol::Frame& frame) { return add(frame.tag, frame.body); }

  /// Takes part of a DataRow body, for a relay that streams rows instead of
  /// holding them: the parts of one row, passed in order with `first_part` set
  /// on the first, digest exactly as add() of the whole body does, in either
  /// RowsOrder. A row ends where the next one starts (its first part, or an
  /// add() of a DataRow) or at finish().
  void add_row_part(protocol::Bytes part, bool first_part) {
    if (rows_order_ == RowsOrder::ignored) {
      add_unordered_row_part(part, first_part);
      return;
    }
    rows_.update(part);
    if (first_part) ++outcome_.rows_returned;
  }

  /// Sets how rows_digest treats the order of the rows (Outcome::rows_digest),
  /// from the next row on; it stays so across finish() until set again. The
  /// default is kept. Set it between units: a unit whose rows came in both
  /// orders has a digest that matches neither. Builders whose digests are
  /// compared must use the same order.
  void set_rows_order(RowsOrder order) noexcept { rows_order_ = order; }

  /// Records that the answer is incomplete: the backend could not be reached,
  /// the connection broke, or the mirror timeout expired. What arrived before
  /// is kept.
  void set_reachability(Reachability reachability) noexcept { outcome_.reachability = reachability; }

  /// The outcome of the unit so far; the builder starts over for the next unit.
  [[nodiscard]] Outcome finish();

 private:
  void add_command_tag(std::string_view tag);
  void add_unordered_row_part(protocol::Bytes part, bool first_part);
  void end_unordered_row();

  Outcome outcome_;
  Sha256 tags_;
  HmacSha256 rows_;
  RowsOrder rows_order_ = RowsOrder::kept;
  // The ignored order's state. row_hash_ is made at the builder's first row in that order, so that
  // a builder that never uses it costs nothing more.
  std::optional<Sha256> row_hash_;           ///< the SHA-256 of the row being read
  bool row_open_ = false;                    ///< row_hash_ holds a row not yet added to row_sum_
  bool rows_summed_ = false;                 ///< row_sum_ holds a row since the last finish()
  std::array<std::uint64_t, 4> row_sum_{};   ///< the sum of the rows' hashes, least significant limb first
};

}  // namespace pgdual::conflict
