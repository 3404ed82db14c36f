#pragma once

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
  /// HMAC-SHA-256, under the deployment's rows-digest key, over the DataRow
  /// bodies (column count, then each column's length and bytes, as on the
  /// wire) in order. Bodies are self-delimiting, so concatenating them is
  /// unambiguous. Keyed because a plain hash of one short value (an id, a
  /// date of birth) gives the value away to anyone who hashes guesses.
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
class OutcomeBuilder {
 public:
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
  /// on the first, digest exactly as add() of the whole body does.
  void add_row_part(protocol::Bytes part, bool first_part) {
    rows_.update(part);
    if (first_part) ++outcome_.rows_returned;
  }

  /// Records that the answer is incomplete: the backend could not be reached,
  /// the connection broke, or the mirror timeout expired. What arrived before
  /// is kept.
  void set_reachability(Reachability reachability) noexcept { outcome_.reachability = reachability; }

  /// The outcome of the unit so far; the builder starts over for the next unit.
  [[nodiscard]] Outcome finish();

 private:
  void add_command_tag(std::string_view tag);

  Outcome outcome_;
  Sha256 tags_;
  HmacSha256 rows_;
};

}  // namespace pgdual::conflict
