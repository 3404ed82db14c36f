#include "proxy/route/unit_marker.h"

#include <algorithm>

#include "conflict/sha256.h"
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

/// The marker's prepared statement and portal, closed before each use: a marker cut short
/// (cancelled) must not leave a name behind that the next one's Parse or Bind would trip on.
constexpr std::string_view kMarkerName = "pgdual_unit_marker";

/// Statement answers a marker draws: RowDescription (a Query only), DataRow, CommandComplete.
constexpr unsigned kQueryTextAnswers = 3;
/// The Execute's DataRow and CommandComplete, and the CloseComplete of its portal, after
/// prepare_own_portal()'s four.
constexpr unsigned kExecuteAnswers = 3;

/// The walsender sends only WAL that is flushed: with synchronous_commit off, a commit waits for the
/// WAL writer (up to wal_writer_delay, 200 ms by default) before the mirror can have it, and the
/// client waits for the mirror. Its transaction flushes its own commit instead, as "local" does;
/// a stronger setting (on, remote_write, remote_apply) stays as it is.
constexpr std::string_view kFlushedCommit =
    ", CASE pg_catalog.current_setting('synchronous_commit') WHEN 'off' THEN "
    "pg_catalog.set_config('synchronous_commit', 'local', true) END";

/// The client's `text` as a text value, written in hex digits: a function body in it must appear in
/// the Query's text once, or PostgreSQL cannot place a compile error of the body's in the client's
/// statement (it then shows the body as a QUERY of its own). The bytes are the client's, in its
/// client_encoding, which the server converts as it converts the Query around them.
std::string text_in_hex(std::string_view text) {
  return "pg_catalog.convert_from(pg_catalog.decode('" + conflict::to_hex(protocol::as_bytes(text)) +
         "', 'hex'), pg_catalog.current_setting('client_encoding'))";
}

bool ends_transaction_that_wrote(const MarkerFacts& facts) {
  // A prepared transaction commits at COMMIT PREPARED, if ever, and only then reaches the apply:
  // a key riding in it would keep its client waiting for mirror.timeout_ms. The COMMIT PREPARED
  // announces a key of its own (plan_announcement), so the prepared one carries none.
  if (facts.unit.prepares_transaction) return false;
  if (facts.status == TransactionStatus::idle) return facts.writes;
  if (facts.status == TransactionStatus::in_transaction) return facts.transaction_wrote && facts.unit.plain_commit;
  return false;
}

/// The answers the server gives a client's message of an extended-protocol unit that succeeds, when
/// it executes no statement that returns rows.
unsigned answers_to(const protocol::Frame& frame) {
  namespace tags = protocol::frontend_tag;
  switch (frame.tag) {
    case tags::kDescribe:  // a statement's ParameterDescription, and NoData or RowDescription
      return !frame.body.empty() && static_cast<char>(frame.body.front()) == 'S' ? 2 : 1;
    case tags::kFlush: return 0;
    default: return 1;  // ParseComplete, BindComplete, CommandComplete, CloseComplete
  }
}

MarkerForm form_for(std::span<const protocol::Frame> frames) {
  namespace tags = protocol::frontend_tag;
  if (frames.size() == 1 && frames.front().tag == tags::kQuery) {
    // A Query the server cannot read is refused whatever comes before it: nothing to mark.
    return protocol::decode_query(frames.front().body) ? MarkerForm::query_text : MarkerForm::none;
  }
  const bool extended = std::ranges::none_of(frames, [](const protocol::Frame& frame) {
    return frame.tag == tags::kQuery || frame.tag == tags::kFunctionCall;
  });
  return extended ? MarkerForm::messages : MarkerForm::none;
}

// The DDL goes with the role and search_path it runs under on the primary, read as the statement
// runs (proxy/mirror/ddl_message.h). In a transaction, pgdual.emit_ddl writes it, with the proof of
// origin the apply requires (conflict/jobs/pgdual_schema.cpp, schema version 6).
std::string emit_statement(std::string_view key, std::string_view schema_change, bool transactional) {
  const std::string emit = std::string{"pg_catalog.pg_logical_emit_message("} + (transactional ? "true" : "false");
  std::string statement = "SELECT ";
  if (!schema_change.empty() && transactional) {
    statement += "pgdual.emit_ddl(current_user, pg_catalog.current_setting('search_path'), " +
                 text_in_hex(schema_change) + ")";
  } else if (!schema_change.empty()) {
    statement += emit + ", " +
                 conflict::quote_literal(conflict::kSchemaChangeMessagePrefix) +
                 ", current_user || E'\\n' || pg_catalog.current_setting('search_path') || E'\\n' || " +
                 text_in_hex(schema_change) + ")";
  }
  if (!schema_change.empty() && !key.empty()) statement += ", ";
  if (!key.empty()) {
    statement += emit + ", " + conflict::quote_literal(conflict::kUnitKeyMessagePrefix) + ", " +
                 conflict::quote_literal(key) + ")";
  }
  if (transactional && !key.empty()) statement += kFlushedCommit;
  return statement;
}

}  // namespace

MarkerPlan plan_marker(const MarkerFacts& facts) {
  const auto& unit = facts.unit;
  if (unit.unparsable || unit.alone_in_transaction || facts.status == TransactionStatus::failed) return {};
  const bool carries_key = ends_transaction_that_wrote(facts);
  if (!carries_key && unit.schema_change_text.empty()) return {};
  const auto form = form_for(facts.frames);
  if (form == MarkerForm::none) return {};
  MarkerPlan plan{.form = form, .carries_key = carries_key, .schema_change = unit.schema_change_text};
  if (form == MarkerForm::query_text && unit.representative && unit.representative->transaction_setup_end > 0) {
    plan.text_offset = unit.representative->transaction_setup_end;
    plan.statements_before = unit.representative->transaction_setup_statements;
  } else if (form == MarkerForm::messages) {
    plan.statements_before = unit.setup_executes;
  }
  return plan;
}

std::string marker_statement(std::string_view key, std::string_view schema_change) {
  return emit_statement(key, schema_change, true);
}

AnnouncementPlan plan_announcement(const UnitSummary& unit, TransactionStatus status) {
  if (status != TransactionStatus::idle || unit.unparsable) return {};
  if (unit.commit_prepared) return AnnouncementPlan{.announces = true, .schema_change = {}};
  const bool schema_change_alone = unit.alone_in_transaction && unit.statements == 1 &&
                                   !unit.schema_change_text.empty() && !unit.schema_change_late;
  if (!schema_change_alone) return {};
  return AnnouncementPlan{.announces = true, .schema_change = unit.schema_change_text};
}

std::string announcement_statement(std::string_view key, std::string_view schema_change) {
  return emit_statement(key, schema_change, false);
}

// A position in the statements before the marker would be moved too, were it past the marker's
// length: the setup statements raise no error with a position (a syntax error leaves no marker).
UnitPrefix mark_query_text(std::string_view statement, const MarkerPlan& plan, std::vector<std::byte>& segment,
                           std::vector<protocol::Frame>& frames) {
  const auto query = protocol::decode_query(frames.front().body);
  const std::string inserted = std::string{statement} + ";";
  const auto offset = std::min(plan.text_offset, query->query.size());
  std::string text{query->query.substr(0, offset)};
  text += inserted;
  text += query->query.substr(offset);
  std::vector<std::byte> rewritten;
  protocol::Writer writer{rewritten};
  protocol::encode(protocol::Query{.query = text}, writer);
  segment = std::move(rewritten);
  frames = protocol::split_frames(segment);
  UnitPrefix marker;
  marker.answers = kQueryTextAnswers;
  marker.client_answers_first = static_cast<unsigned>(plan.statements_before);
  marker.text_shift = static_cast<std::uint32_t>(inserted.size());
  return marker;
}

UnitPrefix marker_messages(std::string_view statement, const MarkerPlan& plan,
                           std::span<const protocol::Frame> frames) {
  UnitPrefix prefix;
  for (std::size_t executes = 0; executes < plan.statements_before && prefix.frames_first < frames.size();
       ++prefix.frames_first) {
    const auto& frame = frames[prefix.frames_first];
    if (frame.tag == protocol::frontend_tag::kExecute) ++executes;
    prefix.client_answers_first += answers_to(frame);
  }
  prepare_own_portal(kMarkerName, statement, prefix);
  protocol::Writer writer{prefix.statements};
  protocol::encode(protocol::Execute{.portal_name = kMarkerName}, writer);
  // A portal left open is "prior transaction activity" to a COPY FREEZE after it (SQLSTATE 25000).
  protocol::encode(protocol::Close{.kind = protocol::ObjectKind::portal, .name = kMarkerName}, writer);
  prefix.answers += kExecuteAnswers;
  return prefix;
}

}  // namespace pgdual::proxy
