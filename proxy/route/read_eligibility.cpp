#include "proxy/route/read_eligibility.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <utility>

namespace pgdual::proxy {
namespace {

// The migration's target, as config::ProxyConfig names its backends.
constexpr std::string_view kReadTargetBackend = "cloud";

/// The word of `text` at `at` or after, and where it ends.
std::pair<std::string_view, std::size_t> next_word(std::string_view text, std::size_t at) {
  at = std::min(text.find_first_not_of(" \t\n\r", at), text.size());
  const auto end = std::min(text.find_first_of(" \t\n\r;", at), text.size());
  return {text.substr(at, end - at), end};
}

bool is_keyword(std::string_view word, std::string_view keyword) {
  return word.size() == keyword.size() && std::ranges::equal(word, keyword, [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

/// The first two words of a text of one statement: the normalized text has no comments, so they
/// are its first keywords. Empty for a text of several statements.
std::pair<std::string_view, std::string_view> first_keywords(const sql::Classification& statement) {
  if (statement.statements.size() != 1) return {};
  const auto [first, end] = next_word(statement.normalized, 0);
  return {first, next_word(statement.normalized, end).first};
}

}  // namespace

bool serves_steered_reads(const config::BackendConfig& backend) noexcept { return backend.name == kReadTargetBackend; }

std::string_view to_string(ReadVerdict verdict) noexcept {
  switch (verdict) {
    case ReadVerdict::eligible: return "eligible";
    case ReadVerdict::mirror_not_read_target: return "mirror_not_read_target";
    case ReadVerdict::reads_kept_on_primary: return "reads_kept_on_primary";
    case ReadVerdict::unit_incomplete: return "unit_incomplete";
    case ReadVerdict::primary_transaction_failed: return "primary_transaction_failed";
    case ReadVerdict::transaction_on_primary: return "transaction_on_primary";
    case ReadVerdict::mirror_transaction_lost: return "mirror_transaction_lost";
    case ReadVerdict::unknown_commits_pending: return "unknown_commits_pending";
    case ReadVerdict::own_writes_unapplied: return "own_writes_unapplied";
    case ReadVerdict::own_answers_pending: return "own_answers_pending";
    case ReadVerdict::not_a_mirror_read: return "not_a_mirror_read";
  }
  return "unknown";
}

ReadVerdict read_eligibility(const ReadFacts& facts) noexcept {
  using protocol::TransactionStatus;
  if (!facts.mirror_serves_reads) return ReadVerdict::mirror_not_read_target;
  if (!facts.reads_on_primary_only.empty()) return ReadVerdict::reads_kept_on_primary;
  if (!facts.whole_unit) return ReadVerdict::unit_incomplete;
  if (facts.primary_status == TransactionStatus::in_transaction) {
    if (!facts.transaction_reads_on_mirror) return ReadVerdict::transaction_on_primary;
    // The mirror's own transaction, begun alongside the primary's, must still be open and healthy:
    // its snapshot is the one the transaction's reads share.
    if (facts.mirror_status != TransactionStatus::in_transaction) return ReadVerdict::mirror_transaction_lost;
  } else if (facts.primary_status != TransactionStatus::idle) {
    return ReadVerdict::primary_transaction_failed;
  }
  if (facts.unknown_commits_pending) return ReadVerdict::unknown_commits_pending;
  if (facts.own_writes_unapplied) return ReadVerdict::own_writes_unapplied;
  if (facts.own_answers_filtered) return ReadVerdict::own_answers_pending;
  if (!facts.planner_allows) return ReadVerdict::not_a_mirror_read;
  return ReadVerdict::eligible;
}

bool passes_to_mirror(const sql::Classification& statement) noexcept {
  if (statement.kind != sql::StatementKind::session_state) return false;
  const auto keyword = first_keywords(statement).first;
  constexpr std::array<std::string_view, 4> kPassed = {"set", "reset", "prepare", "deallocate"};
  return std::ranges::any_of(kPassed, [keyword](std::string_view passed) { return is_keyword(keyword, passed); });
}

bool resets_session(const sql::Classification& statement) noexcept {
  const auto [first, second] = first_keywords(statement);
  return is_keyword(first, "discard") && is_keyword(second, "all");
}

bool discards_temporary_relations(const sql::Classification& statement) noexcept {
  const auto [first, second] = first_keywords(statement);
  return is_keyword(first, "discard") &&
         (is_keyword(second, "all") || is_keyword(second, "temp") || is_keyword(second, "temporary"));
}

}  // namespace pgdual::proxy
