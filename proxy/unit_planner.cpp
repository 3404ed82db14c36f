#include "proxy/unit_planner.h"

#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::frontend_tag;

bool commits(sql::TransactionControl control) {
  return control == sql::TransactionControl::commit || control == sql::TransactionControl::commit_prepared ||
         control == sql::TransactionControl::prepare_transaction;
}

}  // namespace

std::string_view to_string(MirrorMode mode) noexcept {
  switch (mode) {
    case MirrorMode::none: return "none";
    case MirrorMode::parallel: return "parallel";
    case MirrorMode::wrapped: return "wrapped";
    case MirrorMode::after_primary: return "after_primary";
  }
  return "unknown";
}

void UnitPlanner::observe(const protocol::Frame& frame) {
  switch (frame.tag) {
    case tags::kQuery: return observe_query(frame.body);
    case tags::kParse: return observe_parse(frame);
    case tags::kBind: return observe_bind(frame.body);
    case tags::kExecute: return observe_execute(frame.body);
    case tags::kClose: return observe_close(frame.body);
    case tags::kFunctionCall: return note_unknown_write();
    default: return;
  }
}

void UnitPlanner::observe_query(protocol::Bytes body) {
  const auto query = protocol::decode_query(body);
  if (!query) return note_unknown_write();
  note_executed(std::make_shared<const sql::Classification>(classifier_.classify(query->query)));
}

void UnitPlanner::observe_parse(const protocol::Frame& frame) {
  const auto parse = protocol::decode_parse(frame.body);
  if (!parse) return;
  auto& statement = statements_[std::string{parse->statement_name}];
  statement.parse_message.clear();
  protocol::append_frame(frame, statement.parse_message);
  statement.verdict = std::make_shared<const sql::Classification>(classifier_.classify(parse->query));
  statement.on_mirror = false;
}

void UnitPlanner::observe_bind(protocol::Bytes body) {
  const auto bind = protocol::decode_bind(body);
  if (!bind) return;
  const auto statement = statements_.find(std::string{bind->statement_name});
  auto& portal = portals_[std::string{bind->portal_name}];
  portal = statement == statements_.end() ? nullptr : statement->second.verdict;
}

void UnitPlanner::observe_execute(protocol::Bytes body) {
  const auto execute = protocol::decode_execute(body);
  if (!execute) return note_unknown_write();
  const auto portal = portals_.find(std::string{execute->portal_name});
  if (portal == portals_.end() || portal->second == nullptr) return note_unknown_write();
  note_executed(portal->second);
}

void UnitPlanner::observe_close(protocol::Bytes body) {
  const auto close = protocol::decode_close(body);
  if (!close) return;
  if (close->kind == protocol::ObjectKind::portal) {
    portals_.erase(std::string{close->name});
  } else if (!close->name.empty()) {
    statements_.erase(std::string{close->name});
  }
}

void UnitPlanner::note_executed(const std::shared_ptr<const sql::Classification>& verdict) {
  const bool first = !summary_.executes;
  summary_.executes = true;
  summary_.kind = sql::strongest(summary_.kind, verdict->kind);
  summary_.unparsable = summary_.unparsable || (!verdict->parsed && !verdict->too_deep);
  for (const auto kind : verdict->statements) {
    summary_.transaction_control = summary_.transaction_control || kind == sql::StatementKind::transaction_control;
  }
  summary_.commits = first && verdict->statements.size() == 1 && commits(verdict->transaction);
  const bool changes = verdict->kind >= sql::StatementKind::session_state;
  const bool representative_changes =
      summary_.representative && summary_.representative->kind >= sql::StatementKind::session_state;
  if (!summary_.representative || (changes && !representative_changes)) summary_.representative = verdict;
}

void UnitPlanner::note_unknown_write() {
  summary_.executes = true;
  summary_.kind = sql::StatementKind::write;
  summary_.commits = false;
}

UnitPlan UnitPlanner::plan(protocol::TransactionStatus primary_status) const {
  const auto& unit = summary_;
  if (!unit.executes) return {};
  if (unit.unparsable) return {.mirror = MirrorMode::none, .unclassified = true};
  if (unit.kind == sql::StatementKind::read || unit.kind == sql::StatementKind::copy_out ||
      unit.kind == sql::StatementKind::listen) {
    return {};
  }
  const bool writes = unit.kind >= sql::StatementKind::copy_in;
  if (unit.commits) return {.mirror = MirrorMode::after_primary, .writes = false};
  if (!writes || unit.transaction_control || primary_status != protocol::TransactionStatus::idle) {
    return {.mirror = MirrorMode::parallel, .writes = writes};
  }
  return {.mirror = MirrorMode::wrapped, .writes = true};
}

void UnitPlanner::copy_for_mirror(std::span<const protocol::Frame> frames, std::vector<std::byte>& out) {
  for (const auto& frame : frames) {
    if (frame.tag == tags::kParse) {
      if (const auto parse = protocol::decode_parse(frame.body)) {
        statements_[std::string{parse->statement_name}].on_mirror = true;
      }
    } else if (frame.tag == tags::kBind) {
      const auto bind = protocol::decode_bind(frame.body);
      const auto statement = bind ? statements_.find(std::string{bind->statement_name}) : statements_.end();
      if (statement != statements_.end() && !statement->second.on_mirror) {
        protocol::Writer writer{out};
        protocol::encode(protocol::Close{protocol::ObjectKind::statement, statement->first}, writer);
        out.insert(out.end(), statement->second.parse_message.begin(), statement->second.parse_message.end());
        statement->second.on_mirror = true;
      }
    }
    protocol::append_frame(frame, out);
  }
}

void UnitPlanner::sent_to_primary_only(std::span<const protocol::Frame> frames) {
  for (const auto& frame : frames) {
    if (frame.tag != tags::kParse) continue;
    if (const auto parse = protocol::decode_parse(frame.body)) {
      statements_[std::string{parse->statement_name}].on_mirror = false;
    }
  }
}

void UnitPlanner::forget_mirror_statements() {
  for (auto& [name, statement] : statements_) statement.on_mirror = false;
}

}  // namespace pgdual::proxy
