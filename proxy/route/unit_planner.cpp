#include "proxy/route/unit_planner.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

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

/// The statement a Bind or a statement Describe refers to; nothing for a
/// portal Describe or a malformed message (observe() skipped those too).
std::optional<std::string> referenced_statement(const protocol::Frame& frame) {
  if (frame.tag == tags::kBind) {
    const auto bind = protocol::decode_bind(frame.body);
    if (!bind) return std::nullopt;
    return std::string{bind->statement_name};
  }
  const auto describe = protocol::decode_describe(frame.body);
  if (!describe || describe->kind != protocol::ObjectKind::statement) return std::nullopt;
  return std::string{describe->name};
}

constexpr std::int32_t kLoOpen = 952;

// lo_open(oid, mode) opens for writing when mode has INV_WRITE (libpq/libpq-fs.h). Drivers send the
// mode as a binary int4 (libpq's PQfn, JDBC's Fastpath); any other form may have it set.
bool opens_for_writing(const protocol::FunctionCall& lo_open) {
  constexpr std::uint32_t kInvWrite = 0x00020000;
  constexpr std::int16_t kBinary = 1;
  // One format applies to both arguments; two are the oid's and the mode's; none means text.
  const auto& formats = lo_open.argument_formats;
  if (lo_open.arguments.size() != 2 || formats.empty() || formats.size() > 2) return true;
  if (formats[formats.size() - 1] != kBinary) return true;
  const auto mode = *std::next(lo_open.arguments.begin());
  if (!mode || mode->size() != 4) return true;
  std::uint32_t bits = 0;
  for (const std::byte part : *mode) bits = (bits << 8U) | std::to_integer<std::uint32_t>(part);
  return (bits & kInvWrite) != 0;
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
    case tags::kDescribe: return observe_describe(frame.body);
    case tags::kExecute: return observe_execute(frame.body);
    case tags::kClose: return observe_close(frame.body);
    case tags::kFunctionCall: return observe_function_call(frame.body);
    default: return;
  }
}

// The fast-path interface is how drivers (JDBC's LargeObjectManager, libpq's lo_* functions) write
// large objects: by the functions' OIDs, fixed in PostgreSQL's catalog (pg_proc.dat).
void UnitPlanner::observe_function_call(protocol::Bytes body) {
  static constexpr std::array<std::int32_t, 10> kLargeObjectWriters = {
      715 /* lo_create */, 764 /* lo_import */, 767 /* lo_import with oid */, 955 /* lowrite */, 957 /* lo_creat */,
      964 /* lo_unlink */, 1004 /* lo_truncate */, 3172 /* lo_truncate64 */, 3457 /* lo_from_bytea */,
      3460 /* lo_put */};
  note_unknown_write();
  const auto call = protocol::decode_function_call(body);
  if (!call) return;
  if (std::ranges::find(kLargeObjectWriters, call->function_oid) != kLargeObjectWriters.end() ||
      (call->function_oid == kLoOpen && opens_for_writing(*call))) {
    summary_.writes_large_objects = true;
  }
}

void UnitPlanner::observe_query(protocol::Bytes body) {
  const auto query = protocol::decode_query(body);
  if (!query) return note_unknown_write();
  note_executed(classifier_.classify_shared(query->query));
}

void UnitPlanner::observe_parse(const protocol::Frame& frame) {
  const auto parse = protocol::decode_parse(frame.body);
  if (!parse) return;
  (parse->statement_name.empty() ? summary_.parses_unnamed : summary_.parses_named) = true;
  auto version = std::make_shared<Version>();
  protocol::append_frame(frame, version->parse_message);
  version->verdict = classifier_.classify_shared(parse->query);
  statements_[std::string{parse->statement_name}] = version;
  in_flight_.push_back(std::move(version));
}

void UnitPlanner::observe_bind(protocol::Bytes body) {
  const auto bind = protocol::decode_bind(body);
  if (!bind) return;
  auto version = current(bind->statement_name);
  portals_[std::string{bind->portal_name}] = version ? version->verdict : nullptr;
  in_flight_.push_back(std::move(version));
}

void UnitPlanner::observe_describe(protocol::Bytes body) {
  const auto describe = protocol::decode_describe(body);
  if (!describe || describe->kind != protocol::ObjectKind::statement) return;
  in_flight_.push_back(current(describe->name));
}

std::optional<protocol::Bytes> UnitPlanner::parse_body(std::string_view statement) const {
  const auto version = current(statement);
  if (!version) return std::nullopt;
  return protocol::Bytes{version->parse_message}.subspan(protocol::kFrameHeaderSize);
}

UnitPlanner::VersionPtr UnitPlanner::current(std::string_view name) const {
  const auto found = statements_.find(std::string{name});
  return found == statements_.end() ? nullptr : found->second;
}

void UnitPlanner::observe_execute(protocol::Bytes body) {
  const std::uint32_t ordinal = executes_in_unit_++;
  const auto execute = protocol::decode_execute(body);
  if (!execute) return note_unknown_write();
  const auto portal = portals_.find(std::string{execute->portal_name});
  const bool known = portal != portals_.end() && portal->second != nullptr;
  if ((!known || portal->second->kind >= sql::StatementKind::copy_in) && !summary_.write_execute) {
    summary_.write_execute = ordinal;
  }
  if (!known) return note_unknown_write();
  const auto& verdict = *portal->second;
  if (verdict.writes_large_objects && !summary_.large_objects_execute) summary_.large_objects_execute = ordinal;
  if (verdict.creates_unlogged_table && !summary_.unlogged_table_execute) summary_.unlogged_table_execute = ordinal;
  const bool sets_up = verdict.parsed && !verdict.statements.empty() &&
                       verdict.transaction_setup_statements == verdict.statements.size();
  if (sets_up && ordinal == summary_.setup_executes) ++summary_.setup_executes;
  note_executed(portal->second);
}

void UnitPlanner::observe_close(protocol::Bytes body) {
  const auto close = protocol::decode_close(body);
  if (!close) return;
  if (close->kind == protocol::ObjectKind::portal) {
    portals_.erase(std::string{close->name});
  } else {
    summary_.closes_statement = true;
    if (!close->name.empty()) statements_.erase(std::string{close->name});
  }
}

void UnitPlanner::note_executed(const std::shared_ptr<const sql::Classification>& verdict) {
  const bool first = !summary_.executes;
  summary_.executes = true;
  summary_.kind = sql::strongest(summary_.kind, verdict->kind);
  summary_.unparsable = summary_.unparsable || (!verdict->parsed && !verdict->too_deep);
  const bool read_only_begin = verdict->transaction == sql::TransactionControl::begin_read_only;
  for (const auto kind : verdict->statements) {
    const bool controls = kind == sql::StatementKind::transaction_control;
    summary_.transaction_control = summary_.transaction_control || controls;
    summary_.may_begin_writes = summary_.may_begin_writes || (controls && !read_only_begin);
    summary_.listens = summary_.listens || kind == sql::StatementKind::listen;
  }
  summary_.commits = first && verdict->statements.size() == 1 && commits(verdict->transaction);
  summary_.plain_commit = summary_.commits && verdict->transaction == sql::TransactionControl::commit;
  summary_.commit_prepared = summary_.commits && verdict->transaction == sql::TransactionControl::commit_prepared;
  summary_.prepares_transaction = summary_.prepares_transaction || verdict->prepares_transaction;
  // Text that did not parse holds at least one statement.
  summary_.statements += std::max<std::size_t>(verdict->statements.size(), verdict->parsed ? 0 : 1);
  summary_.alone_in_transaction = summary_.alone_in_transaction || verdict->alone_in_transaction;
  summary_.writes_large_objects = summary_.writes_large_objects || verdict->writes_large_objects;
  summary_.creates_unlogged_table = summary_.creates_unlogged_table || verdict->creates_unlogged_table;
  summary_.fills_new_column = summary_.fills_new_column || verdict->fills_new_column;
  if (first) {
    summary_.schema_change_text = verdict->schema_change_text;
  } else if (!verdict->schema_change_text.empty()) {
    summary_.schema_change_late = true;
  }
  summary_.schema_change_late = summary_.schema_change_late || verdict->schema_change_late;
  summary_.primary_only = summary_.primary_only || verdict->primary_only;
  const bool changes = verdict->kind >= sql::StatementKind::session_state;
  const bool representative_changes =
      summary_.representative && summary_.representative->kind >= sql::StatementKind::session_state;
  if (!summary_.representative || (changes && !representative_changes)) summary_.representative = verdict;
}

void UnitPlanner::note_unknown_write() {
  summary_.executes = true;
  summary_.kind = sql::StatementKind::write;
  summary_.commits = false;
  summary_.plain_commit = false;
  summary_.commit_prepared = false;
  ++summary_.statements;
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

bool UnitPlanner::may_read_from_mirror() const noexcept {
  const auto& unit = summary_;
  const bool reads = unit.kind == sql::StatementKind::read || unit.kind == sql::StatementKind::copy_out;
  return unit.executes && reads && !unit.unparsable && !unit.transaction_control && !unit.primary_only &&
         !unit.parses_named && !unit.closes_statement;
}

void UnitPlanner::served_by_mirror() noexcept {
  unnamed_stale_on_primary_ = unnamed_stale_on_primary_ || summary_.parses_unnamed;
}

std::vector<std::byte> UnitPlanner::unnamed_parse_for_primary(std::span<const protocol::Frame> frames) {
  if (!unnamed_stale_on_primary_) return {};
  // in_flight_ holds, for each of the unit's Parse, Bind and statement Describe in order, the version it refers to.
  std::size_t routed = 0;
  for (const auto& frame : frames) {
    if (frame.tag == tags::kParse) {
      const auto parse = protocol::decode_parse(frame.body);
      if (!parse) continue;
      if (parse->statement_name.empty()) break;
      ++routed;
    } else if (frame.tag == tags::kBind || frame.tag == tags::kDescribe) {
      const auto name = referenced_statement(frame);
      if (!name) continue;
      const auto version = routed < in_flight_.size() ? in_flight_[routed] : nullptr;
      ++routed;
      if (!name->empty() || !version) continue;
      unnamed_stale_on_primary_ = false;
      return version->parse_message;
    }
  }
  unnamed_stale_on_primary_ = !summary_.parses_unnamed;
  return {};
}

UnitPlanner::VersionPtr UnitPlanner::next_in_flight() {
  if (in_flight_.empty()) return nullptr;  // only if the caller routes frames it did not observe
  auto version = std::move(in_flight_.front());
  in_flight_.pop_front();
  return version;
}

void UnitPlanner::give_mirror(const std::string& name, const VersionPtr& version, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  if (on_mirror_.contains(name)) protocol::encode(protocol::Close{protocol::ObjectKind::statement, name}, writer);
  if (version) out.insert(out.end(), version->parse_message.begin(), version->parse_message.end());
  on_mirror_[name] = version;
  given_to_mirror_.push_back(name);
}

void UnitPlanner::copy_for_mirror(std::span<const protocol::Frame> frames, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  for (const auto& name : closed_on_primary_only_) {
    protocol::encode(protocol::Close{protocol::ObjectKind::statement, name}, writer);
    on_mirror_.erase(name);
  }
  closed_on_primary_only_.clear();
  for (const auto& frame : frames) {
    if (frame.tag == tags::kParse) {
      if (const auto parse = protocol::decode_parse(frame.body)) {
        const std::string name{parse->statement_name};
        if (!name.empty() && on_mirror_.contains(name)) {
          protocol::encode(protocol::Close{protocol::ObjectKind::statement, name}, writer);
        }
        on_mirror_[name] = next_in_flight();
        given_to_mirror_.push_back(name);
      }
    } else if (frame.tag == tags::kBind || frame.tag == tags::kDescribe) {
      const auto name = referenced_statement(frame);
      if (name) {
        const auto version = next_in_flight();
        const auto held = on_mirror_.find(*name);
        if (version && (held == on_mirror_.end() || held->second != version)) give_mirror(*name, version, out);
      }
    } else if (frame.tag == tags::kClose) {
      if (const auto close = protocol::decode_close(frame.body);
          close && close->kind == protocol::ObjectKind::statement) {
        on_mirror_.erase(std::string{close->name});
      }
    }
    protocol::append_frame(frame, out);
  }
}

void UnitPlanner::sent_to_primary_only(std::span<const protocol::Frame> frames) {
  for (const auto& frame : frames) {
    if (frame.tag == tags::kParse) {
      if (protocol::decode_parse(frame.body)) static_cast<void>(next_in_flight());
    } else if (frame.tag == tags::kBind || frame.tag == tags::kDescribe) {
      if (referenced_statement(frame)) static_cast<void>(next_in_flight());
    } else if (frame.tag == tags::kClose) {
      const auto close = protocol::decode_close(frame.body);
      if (close && close->kind == protocol::ObjectKind::statement && on_mirror_.contains(std::string{close->name})) {
        closed_on_primary_only_.emplace_back(close->name);
      }
    }
  }
}

void UnitPlanner::forget_mirror_statements() {
  on_mirror_.clear();
  closed_on_primary_only_.clear();
  given_to_mirror_.clear();
}

std::vector<std::byte> UnitPlanner::parses_held() const {
  std::vector<std::byte> parses;
  for (const auto& [name, version] : statements_) {
    if (version) parses.insert(parses.end(), version->parse_message.begin(), version->parse_message.end());
  }
  return parses;
}

std::vector<std::string> UnitPlanner::take_given_to_mirror() { return std::exchange(given_to_mirror_, {}); }

// A held version of null matches no Bind's version, so the next use gives the statement again,
// and being held it is closed first: whether the failed Parse left it or not, the new one works.
void UnitPlanner::mirror_may_lack(std::span<const std::string> statements) {
  for (const auto& name : statements) {
    if (const auto held = on_mirror_.find(name); held != on_mirror_.end()) held->second = nullptr;
  }
}

}  // namespace pgdual::proxy
