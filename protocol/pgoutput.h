#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/arrays.h"
#include "protocol/bytes.h"
#include "protocol/codec_error.h"
#include "protocol/expected.h"
#include "protocol/replication.h"
#include "protocol/writer.h"

/// The logical replication messages of the `pgoutput` plugin, protocol
/// versions 1 to 3, as PostgreSQL 15 writes them (src/backend/replication/
/// logical/proto.c is the authority where the docs are terse).
/// https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
///
/// A message is the whole `data` of one XLogData (replication.h): it starts
/// with its type byte and has no length field. Decoding borrows from those
/// bytes; only Relation and its columns allocate (a vector of views), and
/// OwnedRelation / OwnedType copy what the apply caches past the message.
/// Encoding appends the whole message, type byte included.
///
/// Unless listed otherwise, decoding fails with
///   CodecError::truncated           a field runs past the end of the message
///   CodecError::missing_terminator  a String field has no NUL
///   CodecError::trailing_bytes      bytes follow the last field
///   CodecError::negative_count      a negative column value length or relation count
///   CodecError::unexpected_value    a flag, kind or marker byte PostgreSQL 15 does not write
///   CodecError::unknown_tag         an empty message or an unknown type byte
/// and never with need_more_input: a message is always whole.
namespace pgdual::protocol::logicalrep {

using Oid = std::uint32_t;

/// The type byte of each message (PostgreSQL's LOGICAL_REP_MSG_*).
namespace message_type {
inline constexpr char kBegin = 'B';
inline constexpr char kMessage = 'M';
inline constexpr char kCommit = 'C';
inline constexpr char kOrigin = 'O';
inline constexpr char kRelation = 'R';
inline constexpr char kType = 'Y';
inline constexpr char kInsert = 'I';
inline constexpr char kUpdate = 'U';
inline constexpr char kDelete = 'D';
inline constexpr char kTruncate = 'T';
inline constexpr char kStreamStart = 'S';
inline constexpr char kStreamStop = 'E';
inline constexpr char kStreamCommit = 'c';
inline constexpr char kStreamAbort = 'A';
inline constexpr char kBeginPrepare = 'b';
inline constexpr char kPrepare = 'P';
inline constexpr char kCommitPrepared = 'K';
inline constexpr char kRollbackPrepared = 'r';
inline constexpr char kStreamPrepare = 'p';
}  // namespace message_type

/// How one column of a TupleData is sent.
enum class ColumnKind : char {
  null = 'n',
  unchanged_toast = 'u',  ///< an unchanged TOASTed value, not sent: leave the column as it is
  text = 't',             ///< the type's text output
  binary = 'b',           ///< the type's send function output ("binary" option)
};

/// One column of a TupleData.
struct TupleColumn {
  ColumnKind kind = ColumnKind::null;
  Bytes value;  ///< the bytes of a text or binary column; empty for the others

  [[nodiscard]] std::string_view text() const noexcept { return as_text(value); }
};

/// TupleData: Int16 column count, then per column a kind byte and, for text
/// and binary, Int32 length and the bytes. Borrowed, validated when decoded
/// and walked again on iteration, like ValueList.
/// https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html#PROTOCOL-LOGICALREP-MESSAGE-FORMATS-TUPLEDATA
class TupleData {
 public:
  class iterator {
   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = TupleColumn;
    using difference_type = std::ptrdiff_t;

    iterator() noexcept = default;
    explicit iterator(Bytes rest) noexcept : rest_{rest} {}
    TupleColumn operator*() const noexcept;
    iterator& operator++() noexcept;
    iterator operator++(int) noexcept {
      auto before = *this;
      ++*this;
      return before;
    }
    // Every column takes at least its kind byte, so what is left identifies the position.
    bool operator==(const iterator& other) const noexcept { return rest_.size() == other.rest_.size(); }

   private:
    Bytes rest_;
  };

  TupleData() noexcept = default;
  /// Precondition: `raw` holds exactly `count` well-formed columns (decoding checks this).
  TupleData(std::uint16_t count, Bytes raw) noexcept : count_{count}, raw_{raw} {}

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] iterator begin() const noexcept { return iterator{raw_}; }
  [[nodiscard]] iterator end() const noexcept { return iterator{raw_.last(0)}; }
  /// The wire bytes, without the count.
  [[nodiscard]] Bytes raw() const noexcept { return raw_; }

 private:
  std::uint16_t count_ = 0;
  Bytes raw_;
};

/// Begin ('B'): a transaction's changes follow.
/// https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
struct Begin {
  XLogRecPtr final_lsn = 0;  ///< the LSN of the transaction's commit record
  TimestampTz commit_time = 0;
  TransactionId xid = 0;
};

/// Message ('M'): a logical decoding message (pg_logical_emit_message), sent
/// with the "messages" option. pgdual carries DDL this way.
struct Message {
  std::optional<TransactionId> xid;  ///< present inside a streamed transaction (protocol 2+)
  bool transactional = false;
  XLogRecPtr lsn = 0;  ///< the LSN of the logical decoding message
  std::string_view prefix;
  Bytes content;
};

/// Commit ('C').
struct Commit {
  // Flags (Int8, currently unused) must be 0.
  XLogRecPtr commit_lsn = 0;
  XLogRecPtr end_lsn = 0;  ///< the end of the commit record: where to confirm the slot to
  TimestampTz commit_time = 0;
};

/// Origin ('O'): the transaction was replicated from another node.
struct Origin {
  XLogRecPtr commit_lsn = 0;  ///< the commit's LSN on the origin server
  std::string_view name;
};

/// pg_class.relreplident, as the Relation message carries it.
enum class ReplicaIdentity : char { default_key = 'd', nothing = 'n', full = 'f', index = 'i' };

/// One column of a Relation (dropped and generated columns are not sent).
struct RelationColumn {
  bool key = false;  ///< part of the replica identity (every column with FULL)
  std::string_view name;
  Oid type_oid = 0;
  std::int32_t type_modifier = 0;  ///< pg_attribute.atttypmod; -1 for none
};

/// Relation ('R'): the shape of a table, sent before its first change in a
/// session and again after it changes. Changes refer to it by relation_id,
/// which is the primary's OID: map to the mirror by name, never by OID.
struct Relation {
  std::optional<TransactionId> xid;  ///< present inside a streamed transaction (protocol 2+)
  Oid relation_id = 0;
  std::string_view namespace_name;  ///< empty for pg_catalog, as sent
  std::string_view relation_name;
  ReplicaIdentity replica_identity = ReplicaIdentity::default_key;
  std::vector<RelationColumn> columns;

  /// The schema: namespace_name, or "pg_catalog" when that is empty.
  [[nodiscard]] std::string_view schema() const noexcept;
};

/// A Relation that outlives its message, for the apply's relation cache.
struct OwnedRelation {
  struct Column {
    bool key = false;
    std::string name;
    Oid type_oid = 0;
    std::int32_t type_modifier = 0;
    friend bool operator==(const Column&, const Column&) = default;
  };
  std::optional<TransactionId> xid;
  Oid relation_id = 0;
  std::string namespace_name;  ///< empty for pg_catalog, as sent
  std::string relation_name;
  ReplicaIdentity replica_identity = ReplicaIdentity::default_key;
  std::vector<Column> columns;

  OwnedRelation() = default;
  explicit OwnedRelation(const Relation& relation);
  [[nodiscard]] std::string_view schema() const noexcept;
  friend bool operator==(const OwnedRelation&, const OwnedRelation&) = default;
};

/// Type ('Y'): names a non-built-in type a Relation column uses (enum,
/// domain, composite, ...). A domain is sent as its own OID with its base
/// type's name.
struct Type {
  std::optional<TransactionId> xid;  ///< present inside a streamed transaction (protocol 2+)
  Oid type_oid = 0;
  std::string_view namespace_name;  ///< empty for pg_catalog, as sent
  std::string_view type_name;
};

/// A Type that outlives its message, for the apply's type cache.
struct OwnedType {
  std::optional<TransactionId> xid;
  Oid type_oid = 0;
  std::string namespace_name;
  std::string type_name;

  OwnedType() = default;
  explicit OwnedType(const Type& type);
  friend bool operator==(const OwnedType&, const OwnedType&) = default;
};

/// Insert ('I'): 'N' and the new row.
struct Insert {
  std::optional<TransactionId> xid;  ///< present inside a streamed transaction (protocol 2+)
  Oid relation_id = 0;
  TupleData new_tuple;
};

/// Which old image an Update or Delete carries.
enum class OldTupleKind : char {
  key = 'K',  ///< the replica identity columns only (the others are sent as null)
  old = 'O',  ///< the whole old row (REPLICA IDENTITY FULL)
};

/// Update ('U'): optional old image ('K' when the key changed, 'O' with
/// REPLICA IDENTITY FULL), then 'N' and the new row. Without an old image
/// the key is the new row's.
struct Update {
  std::optional<TransactionId> xid;  ///< present inside a streamed transaction (protocol 2+)
  Oid relation_id = 0;
  std::optional<OldTupleKind> old_kind;
  TupleData old_tuple;  ///< empty unless old_kind is set
  TupleData new_tuple;
};

/// Delete ('D'): 'K' or 'O' and the old image.
struct Delete {
  std::optional<TransactionId> xid;  ///< present inside a streamed transaction (protocol 2+)
  Oid relation_id = 0;
  OldTupleKind old_kind = OldTupleKind::key;
  TupleData old_tuple;
};

/// Truncate ('T'): the relations one TRUNCATE emptied.
struct Truncate {
  std::optional<TransactionId> xid;  ///< present inside a streamed transaction (protocol 2+)
  bool cascade = false;           ///< option bit 1
  bool restart_identity = false;  ///< option bit 2
  IntArray<Oid> relation_ids;     ///< borrowed; Int32 count on the wire
};

/// Stream Start ('S'): a chunk of a large in-progress transaction follows
/// (protocol 2+, "streaming" option). Until Stream Stop, Relation, Type,
/// Message and the changes carry this xid.
struct StreamStart {
  TransactionId xid = 0;
  bool first_segment = false;
};

/// Stream Stop ('E'): the chunk ends.
struct StreamStop {};

/// Stream Commit ('c'): the streamed transaction committed.
struct StreamCommit {
  TransactionId xid = 0;
  // Flags (Int8, currently unused) must be 0.
  XLogRecPtr commit_lsn = 0;
  XLogRecPtr end_lsn = 0;
  TimestampTz commit_time = 0;
};

/// Stream Abort ('A'): the streamed (sub)transaction aborted; its streamed
/// changes are discarded. xid == subxid for the top-level transaction.
struct StreamAbort {
  TransactionId xid = 0;
  TransactionId subxid = 0;
};

/// Begin Prepare ('b'): a two-phase transaction's changes follow
/// (protocol 3, "two_phase" option).
struct BeginPrepare {
  XLogRecPtr prepare_lsn = 0;
  XLogRecPtr end_lsn = 0;
  TimestampTz prepare_time = 0;
  TransactionId xid = 0;
  std::string_view gid;
};

/// The fields Prepare and Stream Prepare share. Flags (Int8, currently
/// unused) come first and must be 0.
struct PrepareFields {
  XLogRecPtr prepare_lsn = 0;
  XLogRecPtr end_lsn = 0;
  TimestampTz prepare_time = 0;
  TransactionId xid = 0;
  std::string_view gid;
};

/// Prepare ('P'): PREPARE TRANSACTION of the transaction Begin Prepare opened.
struct Prepare : PrepareFields {};

/// Stream Prepare ('p'): PREPARE TRANSACTION of a streamed transaction.
struct StreamPrepare : PrepareFields {};

/// Commit Prepared ('K'): COMMIT PREPARED.
struct CommitPrepared {
  // Flags (Int8, currently unused) must be 0.
  XLogRecPtr commit_lsn = 0;
  XLogRecPtr end_lsn = 0;
  TimestampTz commit_time = 0;
  TransactionId xid = 0;
  std::string_view gid;
};

/// Rollback Prepared ('r'): ROLLBACK PREPARED.
struct RollbackPrepared {
  // Flags (Int8, currently unused) must be 0.
  XLogRecPtr prepare_end_lsn = 0;
  XLogRecPtr rollback_end_lsn = 0;
  TimestampTz prepare_time = 0;
  TimestampTz rollback_time = 0;
  TransactionId xid = 0;
  std::string_view gid;
};

using LogicalReplicationMessage =
    std::variant<Begin, Message, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate, StreamStart,
                 StreamStop, StreamCommit, StreamAbort, BeginPrepare, Prepare, CommitPrepared, RollbackPrepared,
                 StreamPrepare>;

/// What decoding needs to know of the messages before: inside a streamed
/// transaction (between Stream Start and Stream Stop) Message, Relation,
/// Type, Insert, Update, Delete and Truncate start with the transaction's
/// xid, and nothing in those messages says so.
struct DecodeState {
  bool in_streamed_transaction = false;
};

/// The state after `message`: Stream Start enters a streamed transaction,
/// Stream Stop leaves it, everything else keeps `before`.
[[nodiscard]] DecodeState next_state(DecodeState before, const LogicalReplicationMessage& message) noexcept;

/// Decodes one logical replication message (an XLogData's data) by its type byte.
///
/// @retval LogicalReplicationMessage     borrows from `message`
/// @retval CodecError::unknown_tag       empty, or a type byte PostgreSQL 15's pgoutput does not send
/// @retval CodecError::unexpected_value  nonzero unused flags; unknown Message, Truncate or column
///                                       flag bits; a replica identity, tuple marker or column kind
///                                       not listed above; a first-segment byte other than 0 or 1
/// @retval the common errors listed at the top of this file
[[nodiscard]] Expected<LogicalReplicationMessage> decode(Bytes message, DecodeState state) noexcept;

void encode(const Begin& message, Writer& out);
void encode(const Message& message, Writer& out);
void encode(const Commit& message, Writer& out);
void encode(const Origin& message, Writer& out);
void encode(const Relation& message, Writer& out);
void encode(const OwnedRelation& message, Writer& out);
void encode(const Type& message, Writer& out);
void encode(const OwnedType& message, Writer& out);
void encode(const Insert& message, Writer& out);
void encode(const Update& message, Writer& out);
void encode(const Delete& message, Writer& out);
void encode(const Truncate& message, Writer& out);
void encode(const StreamStart& message, Writer& out);
void encode(const StreamStop& message, Writer& out);
void encode(const StreamCommit& message, Writer& out);
void encode(const StreamAbort& message, Writer& out);
void encode(const BeginPrepare& message, Writer& out);
void encode(const Prepare& message, Writer& out);
void encode(const CommitPrepared& message, Writer& out);
void encode(const RollbackPrepared& message, Writer& out);
void encode(const StreamPrepare& message, Writer& out);
void encode(const LogicalReplicationMessage& message, Writer& out);

}  // namespace pgdual::protocol::logicalrep
