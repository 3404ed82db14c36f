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

// Adds `digest`, read as a big-endian 256-bit integer, to `sum` (least significant limb first), mod 2^256.
void add_to_sum(std::array<std::uint64_t, 4>& sum, const Digest& digest) noexcept {
  std::uint64_t carry = 0;
  for (std::size_t limb = 0; limb < sum.size(); ++limb) {
    std::uint64_t value = 0;
    const std::size_t first_byte = (sum.size() - 1 - limb) * 8;
    for (std::size_t i = first_byte; i < first_byte + 8; ++i) {
      value = (value << 8U) | std::to_integer<std::uint64_t>(digest[i]);
    }
    const std::uint64_t partial = sum[limb] + value;
    const std::uint64_t total = partial + carry;
    // At most one of the two additions wraps: after a wrap, partial is at most 2^64 - 2.
    carry = std::uint64_t{partial < value} + std::uint64_t{total < partial};
    sum[limb] = total;
  }
}

// The sum's 32 bytes, most significant first.
Digest big_endian_bytes(const std::array<std::uint64_t, 4>& sum) noexcept {
  Digest bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::uint64_t limb = sum[sum.size() - 1 - i / 8];
    bytes[i] = static_cast<std::byte>((limb >> (8U * (7U - i % 8))) & 0xffU);
  }
  return bytes;
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
      add_row_part(body, /*first_part=*/true);
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

void OutcomeBuilder::add_unordered_row_part(protocol::Bytes part, bool first_part) {
  if (first_part) {
    end_unordered_row();
    ++outcome_.rows_returned;
  }
  if (!row_hash_) row_hash_.emplace();
  row_hash_->update(part);
  row_open_ = true;
}

void OutcomeBuilder::end_unordered_row() {
  if (!row_open_) return;
  add_to_sum(row_sum_, row_hash_->finish());
  row_open_ = false;
  rows_summed_ = true;
}

Outcome OutcomeBuilder::finish() {
  outcome_.tags_digest = tags_.finish();
  // Rows summed in the ignored order put their sum under the MAC; with none, the MAC of nothing
  // stays what the kept order gives.
  end_unordered_row();
  if (rows_summed_) {
    rows_.update(big_endian_bytes(row_sum_));
    row_sum_ = {};
    rows_summed_ = false;
  }
  outcome_.rows_digest = rows_.finish();
  return std::exchange(outcome_, Outcome{});
}

}  // namespace pgdual::conflict
