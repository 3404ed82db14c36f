#include "proxy/route/unit_marker.h"

#include <algorithm>

#include "conflict/sql_text.h"
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
/// CloseComplete twice, ParseComplete, BindComplete, DataRow, CommandComplete.
constexpr unsigned kMessageAnswers = 6;

bool ends_transaction_that_wrote(const MarkerFacts& facts) {
  if (facts.status == TransactionStatus::idle) return facts.writes;
  if (facts.status == TransactionStatus::in_transaction) return facts.transaction_wrote && facts.unit.plain_commit;
  return false;
}

}  // namespace

MarkerForm marker_form(const MarkerFacts& facts) {
  namespace tags = protocol::frontend_tag;
  if (facts.unit.unparsable || facts.unit.alone_in_transaction || !ends_transaction_that_wrote(facts)) {
    return MarkerForm::none;
  }
  if (facts.frames.size() == 1 && facts.frames.front().tag == tags::kQuery) {
    // A Query the server cannot read is refused whatever comes before it: nothing to mark.
    return protocol::decode_query(facts.frames.front().body) ? MarkerForm::query_text : MarkerForm::none;
  }
  const bool extended = std::ranges::none_of(facts.frames, [](const protocol::Frame& frame) {
    return frame.tag == tags::kQuery || frame.tag == tags::kFunctionCall;
  });
  return extended ? MarkerForm::messages : MarkerForm::none;
}

std::string marker_statement(std::string_view key) {
  return "SELECT pg_catalog.pg_logical_emit_message(true, " + conflict::quote_literal(kUnitMarkerPrefix) + ", " +
         conflict::quote_literal(key) + ")";
}

UnitPrefix mark_query_text(std::string_view key, std::vector<std::byte>& segment,
                           std::vector<protocol::Frame>& frames) {
  const auto query = protocol::decode_query(frames.front().body);
  const std::string prefix = marker_statement(key) + ";";
  const std::string text = prefix + std::string{query->query};
  std::vector<std::byte> rewritten;
  protocol::Writer writer{rewritten};
  protocol::encode(protocol::Query{.query = text}, writer);
  segment = std::move(rewritten);
  frames = protocol::split_frames(segment);
  UnitPrefix marker;
  marker.answers = kQueryTextAnswers;
  marker.text_shift = static_cast<std::uint32_t>(prefix.size());
  return marker;
}

UnitPrefix marker_messages(std::string_view key) {
  const std::string statement = marker_statement(key);
  UnitPrefix prefix;
  protocol::Writer writer{prefix.statements};
  protocol::encode(protocol::Close{.kind = protocol::ObjectKind::statement, .name = kMarkerName}, writer);
  protocol::encode(protocol::Close{.kind = protocol::ObjectKind::portal, .name = kMarkerName}, writer);
  protocol::Parse parse;
  parse.statement_name = kMarkerName;
  parse.query = statement;
  protocol::encode(parse, writer);
  protocol::Bind bind;
  bind.portal_name = kMarkerName;
  bind.statement_name = kMarkerName;
  protocol::encode(bind, writer);
  protocol::encode(protocol::Execute{.portal_name = kMarkerName}, writer);
  prefix.answers = kMessageAnswers;
  return prefix;
}

}  // namespace pgdual::proxy
