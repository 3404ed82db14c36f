#include "proxy/route/statement_pins.h"

#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::frontend_tag;

/// pgdual's names for its pinned copies; PostgreSQL drivers use other prefixes
/// (JDBC "S_", psycopg "_pg3_", node user-chosen), and a clash only fails the unit.
std::string copy_name(std::size_t index) { return "pgdual_pinned_" + std::to_string(index); }

void add_copy(const protocol::Parse& original, const std::string& text, const std::string& name, StatementPins& pins) {
  protocol::Writer out{pins.statements};
  protocol::encode(protocol::Close{protocol::ObjectKind::statement, name}, out);
  protocol::encode(protocol::Parse{name, text, original.parameter_type_oids}, out);
  pins.answers += 2;
}

}  // namespace

StatementPins pin_statements(std::span<const protocol::Frame> frames, const sql::PinnedTimes& times,
                             const PreparedLookup& prepared, const NeedsPin& needs_pin) {
  StatementPins pins;
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

void apply_pins(const StatementPins& pins, std::span<const protocol::Frame> frames, std::vector<std::byte>& out) {
  out.insert(out.end(), pins.statements.begin(), pins.statements.end());
  for (const auto& frame : frames) {
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

void OwnAnswerFilter::filter(protocol::Bytes chunk, std::vector<std::byte>& out) {
  while (remaining_ > 0 && !chunk.empty()) {
    const bool at_tag = remaining_ % kAnswerSize == 0;
    const auto tag = static_cast<char>(chunk.front());
    if (at_tag && tag != protocol::backend_tag::kParseComplete && tag != protocol::backend_tag::kCloseComplete) {
      remaining_ = 0;
      break;
    }
    --remaining_;
    chunk = chunk.subspan(1);
  }
  out.insert(out.end(), chunk.begin(), chunk.end());
}

}  // namespace pgdual::proxy
