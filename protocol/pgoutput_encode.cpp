// Encoding of pgoutput's logical replication messages (pgoutput.h), and the
// owned forms. Each encoder writes the message as proto.c does, so that
// encode(decode(bytes)) == bytes for everything PostgreSQL sends.
// https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html

#include "protocol/pgoutput.h"

namespace pgdual::protocol::logicalrep {
namespace {

constexpr std::string_view kPgCatalog = "pg_catalog";

void type_byte(Writer& out, char type) { out.uint8(static_cast<std::uint8_t>(type)); }

void lsn(Writer& out, XLogRecPtr value) { out.int64(static_cast<std::int64_t>(value)); }

void uint32(Writer& out, std::uint32_t value) { out.int32(static_cast<std::int32_t>(value)); }

void streamed_xid(Writer& out, const std::optional<TransactionId>& xid) {
  if (xid) uint32(out, *xid);
}

void tuple_data(Writer& out, const TupleData& tuple) {
  write_count16(out, tuple.size());
  out.bytes(tuple.raw());
}

void counted_bytes(Writer& out, Bytes value) {
  out.int32(static_cast<std::int32_t>(value.size()));
  out.bytes(value);
}

template <class Column>
void relation_column(Writer& out, const Column& column) {
  out.uint8(column.key ? 1 : 0);
  out.cstring(column.name);
  uint32(out, column.type_oid);
  out.int32(column.type_modifier);
}

template <class Relation>
void relation(Writer& out, const Relation& message) {
  type_byte(out, message_type::kRelation);
  streamed_xid(out, message.xid);
  uint32(out, message.relation_id);
  out.cstring(message.namespace_name);
  out.cstring(message.relation_name);
  out.uint8(static_cast<std::uint8_t>(message.replica_identity));
  write_count16(out, message.columns.size());
  for (const auto& column : message.columns) relation_column(out, column);
}

template <class Type>
void type(Writer& out, const Type& message) {
  type_byte(out, message_type::kType);
  streamed_xid(out, message.xid);
  uint32(out, message.type_oid);
  out.cstring(message.namespace_name);
  out.cstring(message.type_name);
}

void prepare_fields(Writer& out, char type, const PrepareFields& message) {
  type_byte(out, type);
  out.uint8(0);  // flags
  lsn(out, message.prepare_lsn);
  lsn(out, message.end_lsn);
  out.int64(message.prepare_time);
  uint32(out, message.xid);
  out.cstring(message.gid);
}

}  // namespace

std::string_view Relation::schema() const noexcept {
  return namespace_name.empty() ? kPgCatalog : namespace_name;
}

OwnedRelation::OwnedRelation(const Relation& relation)
    : xid{relation.xid},
      relation_id{relation.relation_id},
      namespace_name{relation.namespace_name},
      relation_name{relation.relation_name},
      replica_identity{relation.replica_identity} {
  columns.reserve(relation.columns.size());
  for (const auto& column : relation.columns) {
    columns.push_back(Column{column.key, std::string{column.name}, column.type_oid, column.type_modifier});
  }
}

std::string_view OwnedRelation::schema() const noexcept {
  return namespace_name.empty() ? kPgCatalog : std::string_view{namespace_name};
}

OwnedType::OwnedType(const Type& type)
    : xid{type.xid}, type_oid{type.type_oid}, namespace_name{type.namespace_name}, type_name{type.type_name} {}

void encode(const Begin& message, Writer& out) {
  type_byte(out, message_type::kBegin);
  lsn(out, message.final_lsn);
  out.int64(message.commit_time);
  uint32(out, message.xid);
}

void encode(const Message& message, Writer& out) {
  type_byte(out, message_type::kMessage);
  streamed_xid(out, message.xid);
  out.uint8(message.transactional ? 1 : 0);
  lsn(out, message.lsn);
  out.cstring(message.prefix);
  counted_bytes(out, message.content);
}

void encode(const Commit& message, Writer& out) {
  type_byte(out, message_type::kCommit);
  out.uint8(0);  // flags
  lsn(out, message.commit_lsn);
  lsn(out, message.end_lsn);
  out.int64(message.commit_time);
}

void encode(const Origin& message, Writer& out) {
  type_byte(out, message_type::kOrigin);
  lsn(out, message.commit_lsn);
  out.cstring(message.name);
}

void encode(const Relation& message, Writer& out) { relation(out, message); }

void encode(const OwnedRelation& message, Writer& out) { relation(out, message); }

void encode(const Type& message, Writer& out) { type(out, message); }

void encode(const OwnedType& message, Writer& out) { type(out, message); }

void encode(const Insert& message, Writer& out) {
  type_byte(out, message_type::kInsert);
  streamed_xid(out, message.xid);
  uint32(out, message.relation_id);
  type_byte(out, 'N');
  tuple_data(out, message.new_tuple);
}

void encode(const Update& message, Writer& out) {
  type_byte(out, message_type::kUpdate);
  streamed_xid(out, message.xid);
  uint32(out, message.relation_id);
  if (message.old_kind) {
    type_byte(out, static_cast<char>(*message.old_kind));
    tuple_data(out, message.old_tuple);
  }
  type_byte(out, 'N');
  tuple_data(out, message.new_tuple);
}

void encode(const Delete& message, Writer& out) {
  type_byte(out, message_type::kDelete);
  streamed_xid(out, message.xid);
  uint32(out, message.relation_id);
  type_byte(out, static_cast<char>(message.old_kind));
  tuple_data(out, message.old_tuple);
}

void encode(const Truncate& message, Writer& out) {
  type_byte(out, message_type::kTruncate);
  streamed_xid(out, message.xid);
  out.int32(static_cast<std::int32_t>(message.relation_ids.size()));
  out.uint8(static_cast<std::uint8_t>((message.cascade ? 1U : 0U) | (message.restart_identity ? 2U : 0U)));
  out.bytes(message.relation_ids.raw());
}

void encode(const StreamStart& message, Writer& out) {
  type_byte(out, message_type::kStreamStart);
  uint32(out, message.xid);
  out.uint8(message.first_segment ? 1 : 0);
}

void encode(const StreamStop&, Writer& out) { type_byte(out, message_type::kStreamStop); }

void encode(const StreamCommit& message, Writer& out) {
  type_byte(out, message_type::kStreamCommit);
  uint32(out, message.xid);
  out.uint8(0);  // flags
  lsn(out, message.commit_lsn);
  lsn(out, message.end_lsn);
  out.int64(message.commit_time);
}

void encode(const StreamAbort& message, Writer& out) {
  type_byte(out, message_type::kStreamAbort);
  uint32(out, message.xid);
  uint32(out, message.subxid);
}

void encode(const BeginPrepare& message, Writer& out) {
  type_byte(out, message_type::kBeginPrepare);
  lsn(out, message.prepare_lsn);
  lsn(out, message.end_lsn);
  out.int64(message.prepare_time);
  uint32(out, message.xid);
  out.cstring(message.gid);
}

void encode(const Prepare& message, Writer& out) { prepare_fields(out, message_type::kPrepare, message); }

void encode(const StreamPrepare& message, Writer& out) {
  prepare_fields(out, message_type::kStreamPrepare, message);
}

void encode(const CommitPrepared& message, Writer& out) {
  type_byte(out, message_type::kCommitPrepared);
  out.uint8(0);  // flags
  lsn(out, message.commit_lsn);
  lsn(out, message.end_lsn);
  out.int64(message.commit_time);
  uint32(out, message.xid);
  out.cstring(message.gid);
}

void encode(const RollbackPrepared& message, Writer& out) {
  type_byte(out, message_type::kRollbackPrepared);
  out.uint8(0);  // flags
  lsn(out, message.prepare_end_lsn);
  lsn(out, message.rollback_end_lsn);
  out.int64(message.prepare_time);
  out.int64(message.rollback_time);
  uint32(out, message.xid);
  out.cstring(message.gid);
}

void encode(const LogicalReplicationMessage& message, Writer& out) {
  std::visit([&out](const auto& each) { encode(each, out); }, message);
}

}  // namespace pgdual::protocol::logicalrep
