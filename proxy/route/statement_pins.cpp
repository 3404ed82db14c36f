#include "proxy/route/statement_pins.h"

#include <algorithm>

#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::frontend_tag;

/// pgdual's names for its pinned copies; PostgreSQL drivers use other prefixes
/// (JDBC "S_", psycopg "_pg3_", node user-chosen), and a clash only fails the unit.
std::string copy_name(std::size_t index) { return "pgdual_pinned_" + std::to_string(index); }

void add_copy(const protocol::Parse& original, const std::string& text, const std::string& name, UnitPrefix& pins) {
  protocol::Writer out{pins.statements};
  protocol::encode(protocol::Close{protocol::ObjectKind::statement, name}, out);
  protocol::encode(protocol::Parse{name, text, original.parameter_type_oids}, out);
  pins.answers += 2;
}

}  // namespace

UnitPrefix pin_statements(std::span<const protocol::Frame> frames, const sql::PinnedTimes& times,
                             const PreparedLookup& prepared, const NeedsPin& needs_pin) {
  UnitPrefix pins;
  std::unordered_map<std::string, protocol::Bytes> parsed_here;  // Parse bodies seen so far in `frames`
  for (const auto& frame : frames) {
    if (frame.tag == tags::kParse) {
      if (const auto parse = protocol::decode_parse(frame.body)) parsed_here[std::string{parse->statement_name}] = frame.body;
      continue;
    }
    if (frame.tag != tags::kBind) continue;
    const auto bind = protocol::decode_bind(frame.body);
    if (!bind || pins.renamed.contains(std::string{bind->statement_name})) continue;
    const auto here = parsed_here.find(std::string{bind->statement_name});
    const auto body = here != parsed_here.end() ? std::optional{here->second} : prepared(bind->statement_name);
    if (!body) continue;
    const auto parse = protocol::decode_parse(*body);
    if (!parse || !needs_pin(parse->query)) continue;
    const auto pinned = sql::pin_times(parse->query, times);
    if (!pinned || pinned->pinned == 0) continue;
    const auto name = copy_name(pins.renamed.size());
    add_copy(*parse, pinned->text, name, pins);
    pins.renamed.emplace(bind->statement_name, name);
  }
  return pins;
}

void apply_pins(const UnitPrefix& pins, std::span<const protocol::Frame> frames, std::vector<std::byte>& out) {
  const auto first = std::min(pins.frames_first, frames.size());
  for (const auto& frame : frames.first(first)) protocol::append_frame(frame, out);
  out.insert(out.end(), pins.statements.begin(), pins.statements.end());
  for (const auto& frame : frames.subspan(first)) {
    if (frame.tag == tags::kBind) {
      auto bind = protocol::decode_bind(frame.body);
      const auto copy = bind ? pins.renamed.find(std::string{bind->statement_name}) : pins.renamed.end();
      if (copy != pins.renamed.end()) {
        bind->statement_name = copy->second;
        protocol::Writer writer{out};
        protocol::encode(*bind, writer);
        continue;
      }
    }
    protocol::append_frame(frame, out);
  }
}

namespace {

/// The messages pgdual's own statements may answer with: the ones this filter removes.
bool own_answer_tag(char tag) {
  namespace tags = protocol::backend_tag;
  return tag == tags::kParseComplete || tag == tags::kCloseComplete || tag == tags::kBindComplete ||
         tag == tags::kRowDescription || tag == tags::kDataRow || tag == tags::kCommandComplete;
}

/// Messages the server may send at any time, before an own answer too: a notice raised while it
/// parsed the whole Query (an identifier truncated), a changed setting. They are the client's.
bool passes_through(char tag) {
  namespace tags = protocol::backend_tag;
  return tag == tags::kNoticeResponse || tag == tags::kParameterStatus || tag == tags::kNotificationResponse;
}

}  // namespace

void OwnAnswerFilter::filter(protocol::Bytes chunk, std::vector<std::byte>& out) {
  while (messages_left_ > 0 && !chunk.empty()) {
    if (header_seen_ == 0) {
      const char tag = static_cast<char>(chunk.front());
      namespace tags = protocol::backend_tag;
      const bool ends_unit = tag == tags::kErrorResponse || tag == tags::kReadyForQuery;
      client_answer_ = client_answers_left_ > 0 && !ends_unit && !passes_through(tag);
      passing_ = client_answer_ || passes_through(tag);
      if (!passing_ && (client_answers_left_ > 0 || !own_answer_tag(tag))) {
        messages_left_ = 0;
        client_answers_left_ = 0;
        break;
      }
    }
    chunk = take_message(chunk, out);
  }
  out.insert(out.end(), chunk.begin(), chunk.end());
}

// The length field counts itself: the body is length - 4 bytes. A length below 4 cannot come from
// a server that passed the relay's frame scanner, which checks every length first.
protocol::Bytes OwnAnswerFilter::take_message(protocol::Bytes chunk, std::vector<std::byte>& out) {
  const auto start = chunk;
  while (header_seen_ < kHeaderSize && !chunk.empty()) {
    if (header_seen_ > 0) length_ = (length_ << 8) | std::to_integer<std::uint32_t>(chunk.front());
    ++header_seen_;
    chunk = chunk.subspan(1);
    if (header_seen_ == kHeaderSize) body_left_ = length_ >= 4 ? length_ - 4 : 0;
  }
  if (header_seen_ == kHeaderSize) {
    const auto taken = std::min(body_left_, chunk.size());
    body_left_ -= taken;
    chunk = chunk.subspan(taken);
    if (body_left_ == 0) {
      if (client_answer_) --client_answers_left_;
      if (!passing_) --messages_left_;
      header_seen_ = 0;
      length_ = 0;
    }
  }
  if (passing_) out.insert(out.end(), start.begin(), start.begin() + static_cast<std::ptrdiff_t>(start.size() - chunk.size()));
  return chunk;
}

void prepare_own_portal(std::string_view name, std::string_view statement, UnitPrefix& prefix) {
  protocol::Writer writer{prefix.statements};
  protocol::encode(protocol::Close{.kind = protocol::ObjectKind::statement, .name = name}, writer);
  protocol::encode(protocol::Close{.kind = protocol::ObjectKind::portal, .name = name}, writer);
  protocol::Parse parse;
  parse.statement_name = name;
  parse.query = statement;
  protocol::encode(parse, writer);
  protocol::Bind bind;
  bind.portal_name = name;
  bind.statement_name = name;
  protocol::encode(bind, writer);
  prefix.answers += 4;
}

}  // namespace pgdual::proxy
