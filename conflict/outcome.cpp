#include "conflict/outcome.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>
#include <utility>

#include "conflict/redact.h"
#include "protocol/error_response.h"
#include "protocol/message_tags.h"

namespace pgdual::conflict {
namespace {

// Error field 'n', which protocol/ does not name (protocol-error-fields.html).
constexpr char kConstraintName = 'n';

// The commands whose tag ends in a row count (CommandComplete in protocol-message-formats.html).
constexpr std::array<std::string_view, 8> kCountedCommands = {"INSERT", "DELETE", "UPDATE", "MERGE",
                                                              "SELECT", "MOVE",   "FETCH",  "COPY"};

bool is_counted(std::string_view command) {
  return std::ranges::find(kCountedCommands, command) != kCountedCommands.end();
}

BackendError keep_loggable_part(const protocol::ErrorResponse& error) {
  return {std::string(error.sqlstate()), std::string(error.field(kConstraintName)), redact_error_message(error)};
}

}  // namespace

std::optional<std::uint64_t> parse_row_count(std::string_view command_tag) noexcept {
  const auto first_space = command_tag.find(' ');
  const auto last_space = command_tag.rfind(' ');
  if (first_space == std::string_view::npos || !is_counted(command_tag.substr(0, first_space))) return std::nullopt;
  const auto digits = command_tag.substr(last_space + 1);
  std::uint64_t count = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return count;
}

OutcomeBuilder::OutcomeBuilder(protocol::Bytes rows_digest_key) : rows_{rows_digest_key} {
  if (rows_digest_key.size() < kMinRowsDigestKeyBytes) {
    throw std::invalid_argument("the rows digest key must have at least 32 bytes");
  }
}

Expected<void> OutcomeBuilder::add(char tag, protocol::Bytes body) {
  namespace tags = protocol::backend_tag;
  switch (tag) {
    case tags::kDataRow:
      rows_.update(body);
      ++outcome_.rows_returned;
      return {};
    case tags::kCommandComplete: {
      const auto complete = protocol::decode_command_complete(body);
      if (!complete) return unexpected{complete.error()};
      add_command_tag(complete->command_tag);
      return {};
    }
    case tags::kErrorResponse: {
      const auto error = protocol::decode_error_response(body);
      if (!error) return unexpected{error.error()};
      if (!outcome_.error) outcome_.error = keep_loggable_part(*error);
      return {};
    }
    case tags::kReadyForQuery: {
      const auto ready = protocol::decode_ready_for_query(body);
      if (!ready) return unexpected{ready.error()};
      outcome_.transaction_status = ready->status;
      return {};
    }
    default:
      return {};
  }
}

void OutcomeBuilder::add_command_tag(std::string_view tag) {
  outcome_.command_tag = tag;
  ++outcome_.command_count;
  tags_.update(tag);
  tags_.update(std::string_view{"\0", 1});
  if (const auto count = parse_row_count(tag)) outcome_.row_count = outcome_.row_count.value_or(0) + *count;
}

Outcome OutcomeBuilder::finish() {
  outcome_.tags_digest = tags_.finish();
  outcome_.rows_digest = rows_.finish();
  return std::exchange(outcome_, Outcome{});
}

}  // namespace pgdual::conflict
