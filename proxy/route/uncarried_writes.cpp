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

/// A statement that fails with feature_not_supported and `message`. PL/pgSQL's RAISE is the one
/// way SQL has to raise an error of one's choosing; the server adds a CONTEXT line naming the
/// inline block. The message holds no quote, so the literal needs no escaping.
std::string refusal_statement(Uncarried what) {
  return "DO $pgdual$BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = '" +
         refusal_message(what) + "'; END$pgdual$";
}

std::vector<std::byte> query_message(std::string_view text) {
  std::vector<std::byte> message;
  protocol::Writer writer{message};
  protocol::encode(protocol::Query{.query = text}, writer);
  return message;
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

bool is_single(std::span<const protocol::Frame> frames, char tag) {
  return frames.size() == 1 && frames.front().tag == tag;
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
  if (is_single(facts.frames, tags::kQuery) && protocol::decode_query(facts.frames.front().body)) {
    return {.form = RefusalForm::query_text, .what = *refused};
  }
  if (is_single(facts.frames, tags::kFunctionCall)) return {.form = RefusalForm::function_call, .what = *refused};
  const bool extended = std::ranges::none_of(facts.frames, [](const protocol::Frame& frame) {
    return frame.tag == tags::kQuery || frame.tag == tags::kFunctionCall;
  });
  if (!extended || facts.status == protocol::TransactionStatus::failed) return {};
  const auto plan = first_refused_execute(unit, facts.mirror);
  const auto executes = std::ranges::count(facts.frames, tags::kExecute, &protocol::Frame::tag);
  if (!plan || plan->execute >= executes) return {};
  return *plan;
}

UnitPrefix refuse_unit(const RefusalPlan& plan, std::vector<std::byte>& segment, std::vector<protocol::Frame>& frames) {
  UnitPrefix prefix;
  const auto statement = refusal_statement(plan.what);
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
