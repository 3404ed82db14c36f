// pgoutput's logical replication messages: every message a real PostgreSQL 15
// sent in tests/data/pgoutput (capture.sh) decodes and encodes back to the
// same bytes, the fields hold what the workload wrote, and malformed
// messages are refused.

#include "protocol/pgoutput.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/protocol/hex.h"

using namespace pgdual::protocol;
using namespace pgdual::protocol::logicalrep;
using pgdual::protocol::test::bytes_from_hex;
using pgdual::protocol::test::encoded;
using pgdual::protocol::test::hex_lines;
using pgdual::protocol::test::to_hex;

namespace {

const std::filesystem::path kCaptureDir = std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests" / "data" / "pgoutput";

/// A capture file's messages and their decoding; the messages borrow from `bytes`.
struct Capture {
  std::vector<std::vector<std::byte>> bytes;
  std::vector<LogicalReplicationMessage> messages;

  template <class Message>
  std::vector<Message> all() const {
    std::vector<Message> found;
    for (const auto& message : messages) {
      if (const auto* each = std::get_if<Message>(&message)) found.push_back(*each);
    }
    return found;
  }

  const Relation& relation(std::string_view name) const {
    for (const auto& message : messages) {
      const auto* relation = std::get_if<Relation>(&message);
      if (relation != nullptr && relation->relation_name == name) return *relation;
    }
    FAIL("no Relation message for " << name);
    throw std::logic_error("unreachable");
  }

  template <class Change>
  std::vector<Change> changes_of(std::string_view name) const {
    const auto id = relation(name).relation_id;
    std::vector<Change> found;
    for (const auto& change : all<Change>()) {
      if (change.relation_id == id) found.push_back(change);
    }
    return found;
  }
};

// Decodes a whole capture as a subscriber would: in order, tracking whether
// the stream is inside a streamed transaction.
Capture decode_capture(const std::string& file) {
  Capture capture;
  capture.bytes = hex_lines(kCaptureDir / file);
  DecodeState state;
  for (const auto& bytes : capture.bytes) {
    auto message = decode(bytes, state);
    INFO(file << ": " << to_hex(bytes));
    REQUIRE(message);
    state = next_state(state, *message);
    capture.messages.push_back(std::move(*message));
  }
  return capture;
}

std::vector<ColumnKind> kinds(const TupleData& tuple) {
  std::vector<ColumnKind> out;
  for (const auto column : tuple) out.push_back(column.kind);
  return out;
}

std::vector<std::string> texts(const TupleData& tuple) {
  std::vector<std::string> out;
  for (const auto column : tuple) out.emplace_back(column.text());
  return out;
}

}  // namespace

TEST_CASE("Every captured pgoutput message decodes and encodes back to the same bytes", "[unit][protocol]") {
  const std::string file = GENERATE("v1.hex", "v1_binary.hex", "v3_streaming_two_phase.hex");
  CAPTURE(file);
  const auto capture = decode_capture(file);
  REQUIRE(capture.messages.size() > 50);
  for (std::size_t i = 0; i < capture.messages.size(); ++i) {
    CHECK(to_hex(encoded(capture.messages[i])) == to_hex(capture.bytes[i]));
  }
}

TEST_CASE("Captured transactions are bracketed by Begin and Commit with increasing LSNs", "[unit][protocol]") {
  const auto capture = decode_capture("v1.hex");
  const auto begins = capture.all<Begin>();
  const auto commits = capture.all<Commit>();
  REQUIRE(begins.size() == commits.size());
  for (std::size_t i = 0; i < begins.size(); ++i) {
    CAPTURE(i);
    CHECK(begins[i].final_lsn == commits[i].commit_lsn);
    CHECK(commits[i].commit_lsn < commits[i].end_lsn);
    CHECK(begins[i].commit_time == commits[i].commit_time);
    if (i > 0) CHECK(commits[i - 1].end_lsn <= commits[i].commit_lsn);
    if (i > 0) CHECK(begins[i - 1].xid < begins[i].xid);
  }
}

TEST_CASE("A captured Relation names its columns, types and replica identity", "[unit][protocol]") {
  const auto capture = decode_capture("v1.hex");
  const auto& parent = capture.relation("parent");
  CHECK(parent.schema() == "public");
  CHECK(parent.replica_identity == ReplicaIdentity::default_key);
  REQUIRE(parent.columns.size() == 2);
  CHECK(parent.columns[0].name == "id");
  CHECK(parent.columns[0].key);
  CHECK(parent.columns[0].type_oid == 23);  // int4
  CHECK(parent.columns[1].name == "note");
  CHECK_FALSE(parent.columns[1].key);
  CHECK(parent.columns[1].type_oid == 25);  // text
  CHECK(parent.columns[1].type_modifier == -1);

  const auto& kinds_table = capture.relation("kinds");
  std::vector<std::string> names;
  for (const auto& column : kinds_table.columns) names.emplace_back(column.name);
  CHECK(names == std::vector<std::string>{"id", "m", "d", "c", "r", "b", "j", "a", "t", "n", "v", "big"});
  CHECK(kinds_table.columns[4].type_oid == 3904);   // int4range
  CHECK(kinds_table.columns[5].type_oid == 17);     // bytea
  CHECK(kinds_table.columns[6].type_oid == 3802);   // jsonb
  CHECK(kinds_table.columns[7].type_oid == 1007);   // int4[]
  CHECK(kinds_table.columns[9].type_oid == 1700);   // numeric(10, 2): typmod (10 << 16 | 2) + 4
  CHECK(kinds_table.columns[9].type_modifier == (10 << 16 | 2) + 4);
  CHECK(kinds_table.columns[10].type_modifier == 20 + 4);  // varchar(20)

  CHECK(capture.relation("full_row").replica_identity == ReplicaIdentity::full);
  for (const auto& column : capture.relation("full_row").columns) CHECK(column.key);
  CHECK(capture.relation("by_index").replica_identity == ReplicaIdentity::index);
  const auto& mixed = capture.relation("Mixed Case");
  CHECK(mixed.columns[0].name == "Key");
  CHECK(mixed.columns[1].name == "a b");

  // The column added in the middle of the capture: parent is described again
  // (and again after each invalidation of its relcache entry, TRUNCATE's say).
  std::vector<std::size_t> parent_shapes;
  for (const auto& relation : capture.all<Relation>()) {
    if (relation.relation_name == "parent") parent_shapes.push_back(relation.columns.size());
  }
  REQUIRE(parent_shapes.size() >= 2);
  CHECK(parent_shapes.front() == 2);
  CHECK(parent_shapes.back() == 3);
}

TEST_CASE("Captured Type messages name the enum, the domain's base type and the composite", "[unit][protocol]") {
  const auto capture = decode_capture("v1.hex");
  const auto& kinds_table = capture.relation("kinds");
  std::vector<std::string> names;
  for (const auto& type : capture.all<Type>()) {
    names.push_back(std::string{type.namespace_name} + "." + std::string{type.type_name});
    const auto used = std::find_if(kinds_table.columns.begin(), kinds_table.columns.end(),
                                   [&](const RelationColumn& column) { return column.type_oid == type.type_oid; });
    CHECK(used != kinds_table.columns.end());
  }
  // A domain travels under its own OID with its base type's name; pg_catalog is sent empty.
  CHECK(names == std::vector<std::string>{"public.mood", ".int4", "public.pair"});
}

TEST_CASE("Captured tuples carry null, unchanged TOAST and text columns", "[unit][protocol]") {
  const auto capture = decode_capture("v1.hex");
  const auto inserts = capture.changes_of<Insert>("kinds");
  REQUIRE(inserts.size() == 1);
  const auto row = texts(inserts[0].new_tuple);
  CHECK(row[1] == "happy");
  CHECK(row[2] == "7");
  CHECK(row[3] == "(1,\"x y\")");
  CHECK(row[4] == "[1,5)");
  CHECK(row[5] == "\\xdeadbeef");
  CHECK(row[6] == "{\"k\": [1, 2], \"s\": \"é\"}");
  CHECK(row[7] == "{1,NULL,3}");
  CHECK(kinds(inserts[0].new_tuple)[8] == ColumnKind::null);
  CHECK(row[9] == "3.14");
  CHECK(row[11].size() == 10'000);

  const auto updates = capture.changes_of<Update>("kinds");
  REQUIRE(updates.size() == 1);
  CHECK_FALSE(updates[0].old_kind);
  CHECK(kinds(updates[0].new_tuple).back() == ColumnKind::unchanged_toast);
  CHECK(texts(updates[0].new_tuple)[8] == "changed");

  const auto mixed = capture.changes_of<Insert>("Mixed Case");
  REQUIRE(mixed.size() == 1);
  CHECK(texts(mixed[0].new_tuple)[1] == "tab\tand 'quote'");
}

TEST_CASE("Captured updates and deletes carry the old key or the old row", "[unit][protocol]") {
  const auto capture = decode_capture("v1.hex");
  const auto parent_updates = capture.changes_of<Update>("parent");
  REQUIRE(parent_updates.size() == 2);
  CHECK_FALSE(parent_updates[0].old_kind);  // the key did not change
  REQUIRE(parent_updates[1].old_kind == OldTupleKind::key);
  CHECK(kinds(parent_updates[1].old_tuple) == std::vector{ColumnKind::text, ColumnKind::null});
  CHECK(texts(parent_updates[1].old_tuple)[0] == "2");
  CHECK(texts(parent_updates[1].new_tuple)[0] == "3");

  const auto full_updates = capture.changes_of<Update>("full_row");
  REQUIRE(full_updates.size() == 1);
  CHECK(full_updates[0].old_kind == OldTupleKind::old);
  CHECK(texts(full_updates[0].old_tuple) == std::vector<std::string>{"1", "a"});
  const auto full_deletes = capture.changes_of<Delete>("full_row");
  REQUIRE(full_deletes.size() == 1);
  CHECK(full_deletes[0].old_kind == OldTupleKind::old);
  CHECK(kinds(full_deletes[0].old_tuple) == std::vector{ColumnKind::text, ColumnKind::null});

  const auto index_updates = capture.changes_of<Update>("by_index");
  REQUIRE(index_updates.size() == 2);
  CHECK_FALSE(index_updates[0].old_kind);
  CHECK(index_updates[1].old_kind == OldTupleKind::key);
  const auto child_deletes = capture.changes_of<Delete>("child");
  REQUIRE(child_deletes.size() == 1);
  CHECK(child_deletes[0].old_kind == OldTupleKind::key);
  CHECK(kinds(child_deletes[0].old_tuple) == std::vector{ColumnKind::text, ColumnKind::null, ColumnKind::null});
}

TEST_CASE("Captured Truncate, Message and Origin hold what the workload did", "[unit][protocol]") {
  const auto capture = decode_capture("v1.hex");
  const auto truncates = capture.all<Truncate>();
  REQUIRE(truncates.size() == 1);
  CHECK(truncates[0].cascade);
  CHECK(truncates[0].restart_identity);
  const std::vector<Oid> truncated(truncates[0].relation_ids.begin(), truncates[0].relation_ids.end());
  CHECK(truncated == std::vector<Oid>{capture.relation("parent").relation_id, capture.relation("child").relation_id});

  const auto messages = capture.all<Message>();
  REQUIRE(messages.size() == 3);
  CHECK(messages[0].transactional);
  CHECK(messages[0].prefix == "pgdual");
  CHECK(as_text(messages[0].content) == "x");
  CHECK_FALSE(messages[0].xid);
  CHECK_FALSE(messages[1].transactional);
  CHECK(as_text(messages[1].content) == "not in a transaction");

  const auto origins = capture.all<Origin>();
  REQUIRE(origins.size() == 1);
  CHECK(origins[0].name == "upstream");
  CHECK(origins[0].commit_lsn == parse_lsn("1/2345678").value());
}

TEST_CASE("The binary option sends columns in their binary form", "[unit][protocol]") {
  const auto capture = decode_capture("v1_binary.hex");
  const auto inserts = capture.changes_of<Insert>("parent");
  REQUIRE_FALSE(inserts.empty());
  const auto column = *inserts[0].new_tuple.begin();
  CHECK(column.kind == ColumnKind::binary);
  CHECK(to_hex(column.value) == "00000001");  // int4 1, as int4send writes it
}

TEST_CASE("Captured streamed transactions carry their xid inside Stream Start and Stop", "[unit][protocol]") {
  const auto capture = decode_capture("v3_streaming_two_phase.hex");
  const auto aborts = capture.all<StreamAbort>();
  REQUIRE(aborts.size() == 2);
  CHECK(aborts[0].xid != aborts[0].subxid);  // the savepoint rolled back
  CHECK(aborts[1].xid == aborts[1].subxid);  // the whole transaction rolled back

  // A streamed change carries its own (sub)transaction's xid: the top-level
  // one of Stream Start, or a subtransaction's (the aborted savepoint's; the
  // savepoint ROLLBACK TO re-establishes has another).
  // Not an optional: GCC 12 warns (maybe-uninitialized) comparing one here.
  bool streaming = false;
  TransactionId stream_xid = 0;
  std::size_t streamed_changes = 0;
  std::size_t savepoint_changes = 0;
  std::set<TransactionId> subtransactions;
  for (const auto& message : capture.messages) {
    if (const auto* start = std::get_if<StreamStart>(&message)) {
      streaming = true;
      stream_xid = start->xid;
    } else if (std::holds_alternative<StreamStop>(message)) {
      streaming = false;
    } else if (const auto* insert = std::get_if<Insert>(&message)) {
      REQUIRE(insert->xid.has_value() == streaming);
      if (!streaming) continue;
      ++streamed_changes;
      if (insert->xid == aborts[0].subxid) ++savepoint_changes;
      if (*insert->xid != stream_xid) subtransactions.insert(*insert->xid);
    }
  }
  CHECK(streamed_changes > 1500);
  // Only what passed logical_decoding_work_mem before ROLLBACK TO was streamed.
  CHECK(savepoint_changes > 0);
  CHECK(subtransactions.size() == 2);
  const auto starts = capture.all<StreamStart>();
  REQUIRE(starts.size() >= 3);
  CHECK(starts[0].first_segment);
  CHECK_FALSE(starts[1].first_segment);
  const auto commits = capture.all<StreamCommit>();
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].xid == aborts[0].xid);
  CHECK(commits[0].commit_lsn < commits[0].end_lsn);
}

TEST_CASE("Captured two-phase transactions are prepared, then committed or rolled back", "[unit][protocol]") {
  const auto capture = decode_capture("v3_streaming_two_phase.hex");
  std::vector<std::string> gids;
  for (const auto& message : capture.messages) {
    std::visit(
        [&gids](const auto& each) {
          if constexpr (requires { each.gid; }) gids.emplace_back(each.gid);
        },
        message);
  }
  CHECK(gids == std::vector<std::string>{"pgdual-2pc-commit", "pgdual-2pc-commit", "pgdual-2pc-commit",
                                         "pgdual-2pc-rollback", "pgdual-2pc-rollback", "pgdual-2pc-rollback",
                                         "pgdual-2pc-streamed", "pgdual-2pc-streamed"});
  const auto begin = capture.all<BeginPrepare>().at(0);
  const auto prepare = capture.all<Prepare>().at(0);
  const auto commit = capture.all<CommitPrepared>().at(0);
  CHECK(begin.prepare_lsn == prepare.prepare_lsn);
  CHECK(begin.end_lsn == prepare.end_lsn);
  CHECK(begin.xid == prepare.xid);
  CHECK(commit.xid == prepare.xid);
  CHECK(prepare.end_lsn <= commit.commit_lsn);
  const auto rollback = capture.all<RollbackPrepared>().at(0);
  CHECK(rollback.prepare_end_lsn == capture.all<Prepare>().at(1).end_lsn);
  const auto streamed = capture.all<StreamPrepare>().at(0);
  CHECK(streamed.xid == capture.all<StreamStart>().back().xid);
}

TEST_CASE("An OwnedRelation keeps the Relation and encodes the same", "[unit][protocol]") {
  const auto capture = decode_capture("v1.hex");
  const auto& kinds_table = capture.relation("kinds");
  const OwnedRelation owned{kinds_table};
  CHECK(owned.schema() == "public");
  CHECK(owned.columns.at(11).name == "big");
  CHECK(to_hex(encoded(owned)) == to_hex(encoded(kinds_table)));
  const auto type = capture.all<Type>().at(1);
  const OwnedType owned_type{type};
  CHECK(to_hex(encoded(owned_type)) == to_hex(encoded(type)));
}

TEST_CASE("Hand-written messages decode with and without the streamed xid", "[unit][protocol]") {
  struct Row {
    const char* name;
    bool streamed;
    const char* bytes;
  };
  const auto row = GENERATE(values<Row>({
      {"Insert", false, "'I' 00004000 'N' 0003 'n' 'u' 't' 00000002 '42'"},
      {"Insert, streamed", true, "'I' 000002f9 00004000 'N' 0001 'b' 00000000"},
      {"Update without an old image", false, "'U' 00004000 'N' 0000"},
      {"Update, streamed, old key", true, "'U' 000002f9 00004000 'K' 0001 'n' 'N' 0001 'n'"},
      {"Delete, old row", false, "'D' 00004000 'O' 0001 't' 00000000"},
      {"Truncate, no relations", false, "'T' 00000000 00"},
      {"Truncate, streamed", true, "'T' 000002f9 00000002 03 00004000 00004001"},
      {"Message, streamed", true, "'M' 000002f9 01 0000000001550708 'pgdual' 00 00000003 'ddl'"},
      {"Relation, streamed", true, "'R' 000002f9 00004000 00 'pg_class' 00 'n' 0000"},
      {"Type, streamed", true, "'Y' 000002f9 00004002 'public' 00 'mood' 00"},
      {"Stream Stop", false, "'E'"},
      {"Stream Abort", false, "'A' 000002f9 000002fa"},
  }));
  CAPTURE(row.name);
  const auto bytes = bytes_from_hex(row.bytes);
  const auto message = decode(bytes, DecodeState{row.streamed});
  REQUIRE(message);
  CHECK(to_hex(encoded(*message)) == to_hex(bytes));
}

TEST_CASE("pgoutput decoding refuses malformed messages", "[unit][protocol]") {
  struct Row {
    const char* name;
    bool streamed;
    const char* bytes;
    CodecError error;
  };
  const auto row = GENERATE(values<Row>({
      {"empty", false, "", CodecError::unknown_tag},
      {"unknown type", false, "'Z'", CodecError::unknown_tag},
      {"Begin cut short", false, "'B' 0000000001550708", CodecError::truncated},
      {"Commit with flags", false, "'C' 01 0000000000000001 0000000000000002 0000000000000003",
       CodecError::unexpected_value},
      {"Stream Stop with a body", false, "'E' 00", CodecError::trailing_bytes},
      {"Insert without 'N'", false, "'I' 00004000 'K' 0000", CodecError::unexpected_value},
      {"Insert missing its streamed xid", true, "'I' 00004000 'N' 0000", CodecError::truncated},
      {"Insert with an xid outside a stream", false, "'I' 000002f9 00004000 'N' 0000",
       CodecError::unexpected_value},
      {"unknown column kind", false, "'I' 00004000 'N' 0001 'x'", CodecError::unexpected_value},
      {"negative column length", false, "'I' 00004000 'N' 0001 't' ffffffff", CodecError::negative_count},
      {"column past the end", false, "'I' 00004000 'N' 0001 't' 00000005 'ab'", CodecError::truncated},
      {"fewer columns than counted", false, "'I' 00004000 'N' 0002 'n'", CodecError::truncated},
      {"Update with two old images", false, "'U' 00004000 'K' 0000 'O' 0000 'N' 0000",
       CodecError::unexpected_value},
      {"Delete without an old image", false, "'D' 00004000 'N' 0000", CodecError::unexpected_value},
      {"Truncate with an unknown option", false, "'T' 00000000 04", CodecError::unexpected_value},
      {"Truncate with a negative count", false, "'T' ffffffff 00", CodecError::negative_count},
      {"Truncate missing relation ids", false, "'T' 00000002 00 00004000", CodecError::truncated},
      {"Relation with an unknown replica identity", false, "'R' 00004000 00 't' 00 'x' 0000",
       CodecError::unexpected_value},
      {"Relation column with an unknown flag", false, "'R' 00004000 00 't' 00 'd' 0001 02 'c' 00 00000017 ffffffff",
       CodecError::unexpected_value},
      {"Relation name without NUL", false, "'R' 00004000 00 't'", CodecError::missing_terminator},
      {"Message with an unknown flag", false, "'M' 02 0000000000000001 'p' 00 00000000", CodecError::unexpected_value},
      {"Stream Start, first segment 2", false, "'S' 000002f9 02", CodecError::unexpected_value},
      {"Prepare with flags", false, "'P' 01 0000000000000001 0000000000000002 0000000000000003 000002f9 'g' 00",
       CodecError::unexpected_value},
  }));
  CAPTURE(row.name);
  const auto bytes = bytes_from_hex(row.bytes);
  const auto message = decode(bytes, DecodeState{row.streamed});
  REQUIRE_FALSE(message);
  CHECK(message.error() == make_error_code(row.error));
}
