// Decoding of pgoutput's logical replication messages (pgoutput.h).
// https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html

#include <algorithm>

#include "protocol/decode_helpers.h"
#include "protocol/pgoutput.h"
#include "protocol/reader.h"

namespace pgdual::protocol::logicalrep {
namespace {

using detail::finished;

// proto.c: MESSAGE_TRANSACTIONAL, TRUNCATE_CASCADE, TRUNCATE_RESTART_SEQS and
// LOGICALREP_IS_REPLICA_IDENTITY. Other bits are refused: PostgreSQL 15 sets
// none, and a bit we do not know could change what a change means.
constexpr std::uint8_t kMessageTransactional = 1U << 0U;
constexpr std::uint8_t kTruncateCascade = 1U << 0U;
constexpr std::uint8_t kTruncateRestartSeqs = 1U << 1U;
constexpr std::uint8_t kColumnIsReplicaIdentity = 1U << 0U;

// The smallest RelationColumn: flags, an empty name's NUL, type OID, typmod.
constexpr std::size_t kMinRelationColumnSize = 1 + 1 + 4 + 4;

XLogRecPtr lsn(Reader& in) noexcept { return static_cast<XLogRecPtr>(in.int64()); }

std::uint32_t uint32(Reader& in) noexcept { return static_cast<std::uint32_t>(in.int32()); }

// The xid that proto.c writes first in these messages when the change is part
// of a streamed transaction (TransactionIdIsValid(xid) there).
std::optional<TransactionId> streamed_xid(Reader& in, DecodeState state) noexcept {
  if (!state.in_streamed_transaction) return std::nullopt;
  return uint32(in);
}

// The flags byte proto.c writes as 0 and its readers refuse otherwise.
void unused_flags(Reader& in) noexcept {
  if (in.uint8() != 0) in.fail(CodecError::unexpected_value);
}

// Length and bytes of a text or binary column.
Bytes column_value(Reader& in) noexcept {
  const auto length = in.int32();
  if (length < 0) {
    in.fail(CodecError::negative_count);
    return {};
  }
  return in.bytes(static_cast<std::size_t>(length));
}

// Reads one column from `in` (which is known to be valid after decoding).
TupleColumn read_column(Reader& in) noexcept {
  TupleColumn column;
  column.kind = static_cast<ColumnKind>(in.uint8());
  switch (column.kind) {
    case ColumnKind::null:
    case ColumnKind::unchanged_toast:
      break;
    case ColumnKind::text:
    case ColumnKind::binary:
      column.value = column_value(in);
      break;
    default:
      in.fail(CodecError::unexpected_value);
  }
  return column;
}

TupleData read_tuple_data(Reader& in) noexcept {
  const auto count = in.count16();
  // Validate on a copy of the cursor, then take the columns as one span.
  Reader probe = in;
  for (std::size_t i = 0; i < count && probe.ok(); ++i) read_column(probe);
  if (!probe.ok()) {
    in.fail(*probe.finish());
    return {};
  }
  return TupleData{count, in.bytes(in.remaining() - probe.remaining())};
}

// The marker byte before a tuple: 'N', 'K' or 'O'.
char tuple_marker(Reader& in) noexcept { return static_cast<char>(in.uint8()); }

std::optional<OldTupleKind> old_tuple_kind(char marker) noexcept {
  switch (marker) {
    case static_cast<char>(OldTupleKind::key): return OldTupleKind::key;
    case static_cast<char>(OldTupleKind::old): return OldTupleKind::old;
    default: return std::nullopt;
  }
}

ReplicaIdentity replica_identity(Reader& in) noexcept {
  const auto value = static_cast<ReplicaIdentity>(in.uint8());
  switch (value) {
    case ReplicaIdentity::default_key:
    case ReplicaIdentity::nothing:
    case ReplicaIdentity::full:
    case ReplicaIdentity::index:
      break;
    default:
      in.fail(CodecError::unexpected_value);
  }
  return value;
}

Expected<LogicalReplicationMessage> decode_begin(Reader& in) {
  Begin message;
  message.final_lsn = lsn(in);
  message.commit_time = in.int64();
  message.xid = uint32(in);
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_message(Reader& in, DecodeState state) {
  Message message;
  message.xid = streamed_xid(in, state);
  const auto flags = in.uint8();
  if ((flags & ~kMessageTransactional) != 0) in.fail(CodecError::unexpected_value);
  message.transactional = (flags & kMessageTransactional) != 0;
  message.lsn = lsn(in);
  message.prefix = in.cstring();
  message.content = column_value(in);
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_commit(Reader& in) {
  Commit message;
  unused_flags(in);
  message.commit_lsn = lsn(in);
  message.end_lsn = lsn(in);
  message.commit_time = in.int64();
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_origin(Reader& in) {
  Origin message;
  message.commit_lsn = lsn(in);
  message.name = in.cstring();
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_relation(Reader& in, DecodeState state) {
  Relation message;
  message.xid = streamed_xid(in, state);
  message.relation_id = uint32(in);
  message.namespace_name = in.cstring();
  message.relation_name = in.cstring();
  message.replica_identity = replica_identity(in);
  const auto count = in.count16();
  // The count comes off the wire: reserve no more than the message can hold.
  message.columns.reserve(std::min<std::size_t>(count, in.remaining() / kMinRelationColumnSize));
  for (std::size_t i = 0; i < count && in.ok(); ++i) {
    RelationColumn column;
    const auto flags = in.uint8();
    if ((flags & ~kColumnIsReplicaIdentity) != 0) in.fail(CodecError::unexpected_value);
    column.key = (flags & kColumnIsReplicaIdentity) != 0;
    column.name = in.cstring();
    column.type_oid = uint32(in);
    column.type_modifier = in.int32();
    message.columns.push_back(column);
  }
  return finished(in, LogicalReplicationMessage{std::move(message)});
}

Expected<LogicalReplicationMessage> decode_type(Reader& in, DecodeState state) {
  Type message;
  message.xid = streamed_xid(in, state);
  message.type_oid = uint32(in);
  message.namespace_name = in.cstring();
  message.type_name = in.cstring();
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_insert(Reader& in, DecodeState state) {
  Insert message;
  message.xid = streamed_xid(in, state);
  message.relation_id = uint32(in);
  if (tuple_marker(in) != 'N') in.fail(CodecError::unexpected_value);
  message.new_tuple = read_tuple_data(in);
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_update(Reader& in, DecodeState state) {
  Update message;
  message.xid = streamed_xid(in, state);
  message.relation_id = uint32(in);
  auto marker = tuple_marker(in);
  message.old_kind = old_tuple_kind(marker);
  if (message.old_kind) {
    message.old_tuple = read_tuple_data(in);
    marker = tuple_marker(in);
  }
  if (marker != 'N') in.fail(CodecError::unexpected_value);
  message.new_tuple = read_tuple_data(in);
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_delete(Reader& in, DecodeState state) {
  Delete message;
  message.xid = streamed_xid(in, state);
  message.relation_id = uint32(in);
  const auto kind = old_tuple_kind(tuple_marker(in));
  if (!kind) in.fail(CodecError::unexpected_value);
  message.old_kind = kind.value_or(OldTupleKind::key);
  message.old_tuple = read_tuple_data(in);
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_truncate(Reader& in, DecodeState state) {
  Truncate message;
  message.xid = streamed_xid(in, state);
  const auto count = in.int32();
  if (count < 0) in.fail(CodecError::negative_count);
  const auto options = in.uint8();
  if ((options & ~(kTruncateCascade | kTruncateRestartSeqs)) != 0) in.fail(CodecError::unexpected_value);
  message.cascade = (options & kTruncateCascade) != 0;
  message.restart_identity = (options & kTruncateRestartSeqs) != 0;
  if (in.ok()) message.relation_ids = IntArray<Oid>{in.bytes(static_cast<std::size_t>(count) * sizeof(Oid))};
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_stream_start(Reader& in) {
  StreamStart message;
  message.xid = uint32(in);
  const auto first_segment = in.uint8();
  if (first_segment > 1) in.fail(CodecError::unexpected_value);
  message.first_segment = first_segment == 1;
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_stream_commit(Reader& in) {
  StreamCommit message;
  message.xid = uint32(in);
  unused_flags(in);
  message.commit_lsn = lsn(in);
  message.end_lsn = lsn(in);
  message.commit_time = in.int64();
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_stream_abort(Reader& in) {
  StreamAbort message;
  message.xid = uint32(in);
  message.subxid = uint32(in);
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_begin_prepare(Reader& in) {
  BeginPrepare message;
  message.prepare_lsn = lsn(in);
  message.end_lsn = lsn(in);
  message.prepare_time = in.int64();
  message.xid = uint32(in);
  message.gid = in.cstring();
  return finished(in, LogicalReplicationMessage{message});
}

template <class Message>
Expected<LogicalReplicationMessage> decode_prepare_fields(Reader& in) {
  Message message;
  unused_flags(in);
  message.prepare_lsn = lsn(in);
  message.end_lsn = lsn(in);
  message.prepare_time = in.int64();
  message.xid = uint32(in);
  message.gid = in.cstring();
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_commit_prepared(Reader& in) {
  CommitPrepared message;
  unused_flags(in);
  message.commit_lsn = lsn(in);
  message.end_lsn = lsn(in);
  message.commit_time = in.int64();
  message.xid = uint32(in);
  message.gid = in.cstring();
  return finished(in, LogicalReplicationMessage{message});
}

Expected<LogicalReplicationMessage> decode_rollback_prepared(Reader& in) {
  RollbackPrepared message;
  unused_flags(in);
  message.prepare_end_lsn = lsn(in);
  message.rollback_end_lsn = lsn(in);
  message.prepare_time = in.int64();
  message.rollback_time = in.int64();
  message.xid = uint32(in);
  message.gid = in.cstring();
  return finished(in, LogicalReplicationMessage{message});
}

}  // namespace

TupleColumn TupleData::iterator::operator*() const noexcept {
  Reader in{rest_};
  return read_column(in);
}

TupleData::iterator& TupleData::iterator::operator++() noexcept {
  Reader in{rest_};
  read_column(in);
  rest_ = rest_.subspan(rest_.size() - in.remaining());
  return *this;
}

DecodeState next_state(DecodeState before, const LogicalReplicationMessage& message) noexcept {
  if (std::holds_alternative<StreamStart>(message)) return DecodeState{true};
  if (std::holds_alternative<StreamStop>(message)) return DecodeState{false};
  return before;
}

Expected<LogicalReplicationMessage> decode(Bytes message, DecodeState state) noexcept {
  if (message.empty()) return unexpected{CodecError::unknown_tag};
  Reader in{message.subspan(1)};
  switch (std::to_integer<char>(message[0])) {
    case message_type::kBegin: return decode_begin(in);
    case message_type::kMessage: return decode_message(in, state);
    case message_type::kCommit: return decode_commit(in);
    case message_type::kOrigin: return decode_origin(in);
    case message_type::kRelation: return decode_relation(in, state);
    case message_type::kType: return decode_type(in, state);
    case message_type::kInsert: return decode_insert(in, state);
    case message_type::kUpdate: return decode_update(in, state);
    case message_type::kDelete: return decode_delete(in, state);
    case message_type::kTruncate: return decode_truncate(in, state);
    case message_type::kStreamStart: return decode_stream_start(in);
    case message_type::kStreamStop: return finished(in, LogicalReplicationMessage{StreamStop{}});
    case message_type::kStreamCommit: return decode_stream_commit(in);
    case message_type::kStreamAbort: return decode_stream_abort(in);
    case message_type::kBeginPrepare: return decode_begin_prepare(in);
    case message_type::kPrepare: return decode_prepare_fields<Prepare>(in);
    case message_type::kCommitPrepared: return decode_commit_prepared(in);
    case message_type::kRollbackPrepared: return decode_rollback_prepared(in);
    case message_type::kStreamPrepare: return decode_prepare_fields<StreamPrepare>(in);
    default: return unexpected{CodecError::unknown_tag};
  }
}

}  // namespace pgdual::protocol::logicalrep
