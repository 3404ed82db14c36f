#include "proxy/route/uncarried_writes.h"

#include <algorithm>
#include <optional>

#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::frontend_tag;
using config::UncarriedWrites;

/// pgdual's statement and portal that raise the refusal, closed before each use: a refusal whose
/// Execute never ran (an earlier message of its unit failed) leaves its portal behind.
constexpr std::string_view kRefusalName = "pgdual_refusal";

UncarriedWrites setting_of(Uncarried what, const config::MirrorConfig& mirror) noexcept {
  return what == Uncarried::large_objects ? mirror.large_objects : mirror.unlogged_tables;
}

bool refuses(Uncarried what, const config::MirrorConfig& mirror) noexcept {
  return setting_of(what, mirror) == UncarriedWrites::refuse;
}

std::string refusal_statement(Uncarried what) { return raise_statement("feature_not_supported", refusal_message(what)); }

std::vector<std::byte> query_message(std::string_view text) {
  std::vector<std::byte> message;
  protocol::Writer writer{message};
  protocol::encode(protocol::Query{.query = text}, writer);
  return message;
}

bool is_single(std::span<const protocol::Frame> frames, char tag) {
  return frames.size() == 1 && frames.front().tag == tag;
}

/// How a unit of `frames` is refused: a lone Query or FunctionCall as a whole; extended-protocol
/// messages at their Execute `execute`, unless the transaction has failed already. Not at all
/// when the segment mixes both, or has no such Execute.
RefusalPlan refusal_form(std::span<const protocol::Frame> frames, protocol::TransactionStatus status,
                         std::optional<std::uint32_t> execute) {
  if (is_single(frames, tags::kQuery) && protocol::decode_query(frames.front().body)) {
    return {.form = RefusalForm::query_text};
  }
  if (is_single(frames, tags::kFunctionCall)) return {.form = RefusalForm::function_call};
  const bool extended = std::ranges::none_of(frames, [](const protocol::Frame& frame) {
    return frame.tag == tags::kQuery || frame.tag == tags::kFunctionCall;
  });
  if (!extended || status == protocol::TransactionStatus::failed || !execute) return {};
  const auto executes = std::ranges::count(frames, tags::kExecute, &protocol::Frame::tag);
  if (*execute >= executes) return {};
  return {.form = RefusalForm::messages, .execute = *execute};
}

/// Which refused Execute of an extended-protocol unit comes first, if any.
std::optional<RefusalPlan> first_refused_execute(const UnitSummary& unit, const config::MirrorConfig& mirror) {
  std::optional<RefusalPlan> first;
  const auto consider = [&](Uncarried what, const std::optional<std::uint32_t>& execute) {
    if (!execute || !refuses(what, mirror) || (first && first->execute <= *execute)) return;
    first = RefusalPlan{.form = RefusalForm::messages, .what = what, .execute = *execute};
  };
  consider(Uncarried::large_objects, unit.large_objects_execute);
  consider(Uncarried::unlogged_tables, unit.unlogged_table_execute);
  return first;
}

std::string note_for(Uncarried what, const config::MirrorConfig& mirror) {
  std::string note = what == Uncarried::large_objects
                         ? "a change of large objects, which the WAL stream does not carry; copy them to the mirror"
                         : "a table made unlogged, whose rows the WAL stream does not carry; they stay on the primary";
  note.append(" (").append(setting_name(what));
  note += refuses(what, mirror) ? " = \"refuse\", but its unit could not be refused before it ran)" : " = \"record\")";
  return note;
}

}  // namespace

std::string_view setting_name(Uncarried what) noexcept {
  return what == Uncarried::large_objects ? "mirror.large_objects" : "mirror.unlogged_tables";
}

std::string refusal_message(Uncarried what) {
  const bool objects = what == Uncarried::large_objects;
  return std::string{"pgdual: "} + (objects ? "large objects are" : "unlogged tables are") +
         " not carried by the WAL mirror; the " + (objects ? "write" : "statement") + " was not run. Set " +
         std::string{setting_name(what)} +
         " = \"record\" to run it on the primary only and record it for repair, or mirror.mode = \"statement\"";
}

RefusalPlan plan_refusal(const UncarriedFacts& facts) {
  const auto& unit = facts.unit;
  if (facts.mirror.mode != config::MirrorMode::wal) return {};
  std::optional<Uncarried> refused;
  if (unit.writes_large_objects && refuses(Uncarried::large_objects, facts.mirror)) {
    refused = Uncarried::large_objects;
  } else if (unit.creates_unlogged_table && refuses(Uncarried::unlogged_tables, facts.mirror)) {
    refused = Uncarried::unlogged_tables;
  }
  if (!refused) return {};
  const auto first = first_refused_execute(unit, facts.mirror);
  auto plan = refusal_form(facts.frames, facts.status, first ? std::optional{first->execute} : std::nullopt);
  plan.what = plan.form == RefusalForm::messages ? first->what : *refused;
  return plan;
}

RefusalPlan plan_write_refusal(const UnitSummary& unit, std::span<const protocol::Frame> frames,
                               protocol::TransactionStatus status) {
  if (unit.kind < sql::StatementKind::copy_in) return {};
  return refusal_form(frames, status, unit.write_execute);
}

std::string raise_statement(std::string_view condition, std::string_view message) {
  std::string literal;
  for (const char c : message) literal += c == '\'' ? std::string{"''"} : std::string{c};
  // The body is dollar-quoted: a message holding the quote's tag would end it early.
  for (auto at = literal.find("$pgdual$"); at != std::string::npos; at = literal.find("$pgdual$", at)) {
    literal.replace(at, 1, " ");
  }
  return "DO $pgdual$BEGIN RAISE EXCEPTION USING ERRCODE = '" + std::string{condition} + "', MESSAGE = '" + literal +
         "'; END$pgdual$";
}

UnitPrefix refuse_unit(const RefusalPlan& plan, std::vector<std::byte>& segment, std::vector<protocol::Frame>& frames) {
  return refuse_unit(plan, refusal_statement(plan.what), segment, frames);
}

UnitPrefix refuse_unit(const RefusalPlan& plan, const std::string& statement, std::vector<std::byte>& segment,
                       std::vector<protocol::Frame>& frames) {
  UnitPrefix prefix;
  if (plan.form == RefusalForm::query_text || plan.form == RefusalForm::function_call) {
    segment = query_message(statement);
    frames = protocol::split_frames(segment);
    return prefix;
  }
  prepare_own_portal(kRefusalName, statement, prefix);

  std::vector<std::byte> rewritten;
  protocol::Writer writer{rewritten};
  std::uint32_t executes = 0;
  for (const auto& frame : frames) {
    if (frame.tag == tags::kExecute && executes++ == plan.execute) {
      protocol::encode(protocol::Execute{.portal_name = kRefusalName}, writer);
    } else {
      protocol::append_frame(frame, rewritten);
    }
  }
  segment = std::move(rewritten);
  frames = protocol::split_frames(segment);
  return prefix;
}

std::string uncarried_note(const UnitSummary& unit, const config::MirrorConfig& mirror) {
  std::string note;
  if (unit.writes_large_objects) note = note_for(Uncarried::large_objects, mirror);
  if (unit.creates_unlogged_table) {
    if (!note.empty()) note += "; and ";
    note += note_for(Uncarried::unlogged_tables, mirror);
  }
  return note;
}

}  // namespace pgdual::proxy
