#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/compare.h"
#include "conflict/outcome.h"
#include "protocol/expected.h"

namespace pgdual::conflict {

/// Whether someone has dealt with a conflict. The log is append-only: a
/// resolution is a new record with the same id, and the last record of an id wins.
enum class Resolution { open, resolved };

/// Who sent the write. Values come from the client's startup packet and socket.
struct SessionInfo {
  std::string user;
  std::string application_name;
  std::string client_address;  ///< "203.0.113.7:51234", "[2001:db8::1]:51234" or a socket path
  std::string database{};      ///< empty in records written before the log carried it

  friend bool operator==(const SessionInfo&, const SessionInfo&) = default;
};

/// One conflict, as the log stores it (docs/conflict-log.md describes every field).
///
/// Nothing here may hold row data or statement constants: the statement is
/// given normalized (libpg_query's normalize, constants replaced by $n) and
/// the outcomes' error messages are redacted by OutcomeBuilder.
struct ConflictRecord {
  std::string id;               ///< unique per conflict, e.g. a UUIDv7
  std::string time;             ///< when it was detected, RFC 3339 in UTC ("2024-05-01T12:00:00.123456Z")
  std::string idempotency_key;  ///< the write unit's key (DESIGN.md, Vocabulary)
  SessionInfo session;
  std::string statement_fingerprint;  ///< libpg_query's fingerprint, hex
  std::string statement_normalized;   ///< libpg_query's normalized text
  std::vector<std::string> tables;    ///< tables the unit wrote, schema-qualified
  ConflictKind kind = ConflictKind::unclassified;
  /// For kind nondeterministic: the values pgdual could not pin ("random",
  /// "nextval", "clock_timestamp"...), as Classification::nondeterministic
  /// names them; empty otherwise.
  std::vector<std::string> nondeterministic;
  Outcome primary;
  Outcome mirror;
  Resolution resolution = Resolution::open;
  /// Of a resolution: who resolved the conflict ("pgdual reconcile", or the operator named to
  /// `pgdual conflicts resolve`) and why. Empty in open records, and in resolutions written before
  /// the log carried them; written only when not empty, so such records keep their bytes.
  std::string resolved_by{};
  std::string resolution_note{};

  friend bool operator==(const ConflictRecord&, const ConflictRecord&) = default;
};

/// The "prev" of the first record of a log that has never rotated: 64 zeros.
inline constexpr std::string_view kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

/// The format version each line carries as "v"; a reader refuses others.
inline constexpr std::uint64_t kRecordFormatVersion = 1;

/// The record as one line of JSON, without the trailing newline:
///
///   {"prev":"<previous_hash>","v":1,"id":...,"resolution":"open","hash":"<hash>"}
///
/// "prev" is always the first member and "hash" always the last. The
/// canonical form of a line is the line up to (not including) `,"hash":`,
/// followed by `}`; it is itself a JSON object. The hash is the lower-case hex
/// SHA-256 of the 64 ASCII characters of `previous_hash` followed by the
/// canonical form's bytes. A verifier therefore needs no JSON serializer:
/// it cuts the last 75 characters of the line, appends `}` and hashes.
///
/// `previous_hash` is the "hash" of the record before, or kGenesisHash; it
/// must be 64 lower-case hex digits (precondition).
[[nodiscard]] std::string to_json_line(const ConflictRecord& record, std::string_view previous_hash);

/// The hash a line claims for itself ("hash"), if the line ends as
/// to_json_line ends lines. Checks the form only, not the hash.
[[nodiscard]] std::optional<std::string_view> claimed_hash(std::string_view line) noexcept;

/// One line read back.
struct ParsedLine {
  ConflictRecord record;
  std::string prev;
  std::string hash;
};

/// Reads a line written by to_json_line. Does not check the hash (verify_chain does).
///
/// @retval ConflictError::malformed_json       not a JSON object (a torn line, say)
/// @retval ConflictError::unsupported_version  "v" is not kRecordFormatVersion
/// @retval ConflictError::invalid_record       a member is missing or has the wrong type or an unknown name
[[nodiscard]] Expected<ParsedLine> parse_json_line(std::string_view line);

/// The result of walking a hash chain.
struct ChainCheck {
  /// The index of the first line that is not intact: its hash does not match
  /// its content, or its "prev" is not the hash of the line before (a line
  /// was removed, inserted or moved before it), or it is not a record at all
  /// (a torn line). std::nullopt when every line is intact.
  std::optional<std::size_t> first_bad;
  /// The hash of the last intact line before first_bad (or of the last line);
  /// `previous_hash` when there is none. Comparing it with a head recorded
  /// elsewhere is what reveals lines cut from the end.
  std::string head;
};

/// Checks that `lines` (without their newlines) form an unbroken chain
/// starting after `previous_hash`: kGenesisHash for the first file ever
/// written, or the last hash of the file before it (ConflictLog rotation).
[[nodiscard]] ChainCheck verify_chain(std::span<const std::string> lines,
                                      std::string_view previous_hash = kGenesisHash);

}  // namespace pgdual::conflict
