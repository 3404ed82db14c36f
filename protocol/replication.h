#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"
#include "protocol/writer.h"

namespace pgdual::protocol {

/// The streaming replication protocol's messages, each the payload of one
/// CopyData ('d') once START_REPLICATION has answered with CopyBothResponse.
/// https://www.postgresql.org/docs/15/protocol-replication.html
///
/// A payload starts with its own type byte and has no length field: the
/// CopyData around it carries the length. So every decoder takes the whole
/// CopyData payload (type byte included) and every encoder appends the whole
/// payload, type byte included, for the caller to wrap in a CopyData.
/// Unless listed otherwise, a decoder fails with
///   CodecError::truncated          a field runs past the end of the payload
///   CodecError::trailing_bytes     bytes follow the last field
///   CodecError::unknown_tag        the type byte is not the message's
/// and never with need_more_input: a CopyData is always whole.

/// A WAL position, as PostgreSQL's XLogRecPtr (the pg_lsn type). 0 is
/// InvalidXLogRecPtr.
using XLogRecPtr = std::uint64_t;

/// PostgreSQL's TimestampTz on the wire: microseconds since
/// 2000-01-01 00:00:00 UTC.
using TimestampTz = std::int64_t;

/// A transaction id (32 bits, as PostgreSQL's TransactionId).
using TransactionId = std::uint32_t;

/// The text form of an LSN as PostgreSQL prints a pg_lsn: the high and the
/// low 32 bits in upper-case hex without leading zeros, "16/B374D848", "0/0".
[[nodiscard]] std::string format_lsn(XLogRecPtr lsn);

/// Reads an LSN as pg_lsn's input function accepts it: one to eight hex
/// digits (either case), '/', one to eight hex digits, nothing around them.
///
/// @retval XLogRecPtr                    the position
/// @retval CodecError::unexpected_value  anything else
[[nodiscard]] Expected<XLogRecPtr> parse_lsn(std::string_view text) noexcept;

/// The type bytes of the replication messages inside CopyData.
namespace replication_tag {
inline constexpr char kXLogData = 'w';
inline constexpr char kPrimaryKeepalive = 'k';
inline constexpr char kStandbyStatusUpdate = 'r';
}  // namespace replication_tag

/// XLogData ('w'): a piece of WAL; with logical decoding, one logical
/// replication message (pgoutput.h) per XLogData.
/// https://www.postgresql.org/docs/15/protocol-replication.html#PROTOCOL-REPLICATION-XLOGDATA
struct XLogData {
  XLogRecPtr wal_start = 0;  ///< where `data` starts in the WAL
  XLogRecPtr wal_end = 0;    ///< the current end of WAL on the server
  TimestampTz send_time = 0;
  Bytes data;                ///< borrowed from the CopyData payload
};

/// Primary keepalive message ('k').
/// https://www.postgresql.org/docs/15/protocol-replication.html#PROTOCOL-REPLICATION-PRIMARY-KEEPALIVE-MESSAGE
struct PrimaryKeepalive {
  XLogRecPtr wal_end = 0;  ///< the current end of WAL on the server
  TimestampTz send_time = 0;
  /// The server disconnects after wal_sender_timeout unless a
  /// StandbyStatusUpdate answers soon.
  bool reply_requested = false;
};

/// Standby status update ('r'), sent by the client. `written` and `flushed`
/// are promises: the server may recycle WAL before `flushed` and confirms the
/// slot up to it.
/// https://www.postgresql.org/docs/15/protocol-replication.html#PROTOCOL-REPLICATION-STANDBY-STATUS-UPDATE
struct StandbyStatusUpdate {
  XLogRecPtr written = 0;  ///< last WAL byte + 1 received and written
  XLogRecPtr flushed = 0;  ///< last WAL byte + 1 flushed (for pgdual: applied and committed on the mirror)
  XLogRecPtr applied = 0;  ///< last WAL byte + 1 applied
  TimestampTz send_time = 0;
  bool reply_requested = false;  ///< asks the server to answer at once (with a keepalive)
};

/// @retval CodecError::unexpected_value  a reply-requested byte other than 0 or 1
[[nodiscard]] Expected<XLogData> decode_xlog_data(Bytes payload) noexcept;
/// @retval CodecError::unexpected_value  a reply-requested byte other than 0 or 1
[[nodiscard]] Expected<PrimaryKeepalive> decode_primary_keepalive(Bytes payload) noexcept;
/// @retval CodecError::unexpected_value  a reply-requested byte other than 0 or 1
[[nodiscard]] Expected<StandbyStatusUpdate> decode_standby_status_update(Bytes payload) noexcept;

void encode(const XLogData& message, Writer& out);
void encode(const PrimaryKeepalive& message, Writer& out);
void encode(const StandbyStatusUpdate& message, Writer& out);

/// What the server sends inside CopyData during logical replication.
using ReplicationMessage = std::variant<XLogData, PrimaryKeepalive>;

/// Decodes a CopyData payload from the server by its type byte.
///
/// @retval CodecError::unknown_tag  an empty payload, or a type byte other than 'w' or 'k'
/// @retval the errors of the message's own decoder
[[nodiscard]] Expected<ReplicationMessage> decode_replication_message(Bytes payload) noexcept;

void encode(const ReplicationMessage& message, Writer& out);

}  // namespace pgdual::protocol
