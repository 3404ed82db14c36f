#include "conflict/redact.h"

#include <string_view>

namespace pgdual::conflict {
namespace {

// Error fields the protocol layer does not name (protocol-error-fields.html).
constexpr char kRoutine = 'R';

// The function in PostgreSQL's pl_exec.c that reports RAISE; it is the
// routine of every RAISE, whatever ERRCODE the function chose.
constexpr std::string_view kPlpgsqlRaiseRoutine = "exec_stmt_raise";

bool written_by_application(const protocol::ErrorFields& error) {
  return error.sqlstate().starts_with("P0") || error.field(kRoutine) == kPlpgsqlRaiseRoutine;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// One past the last quote of the kind opened at `open`, or npos when it is
// the only one. PostgreSQL does not escape quotes inside the values it
// quotes ("Jane "JD" Doe"), so no quote in between can be trusted to end a
// value: everything up to the last one is hidden.
std::size_t skip_quoted(std::string_view text, std::size_t open) {
  const auto close = text.rfind(text[open]);
  return close > open ? close + 1 : std::string_view::npos;
}

// One past the parenthesis that closes the one at `open`, or npos.
std::size_t skip_parenthesized(std::string_view text, std::size_t open) {
  std::size_t depth = 0;
  for (auto at = open; at < text.size(); ++at) {
    if (text[at] == '(') ++depth;
    if (text[at] == ')' && --depth == 0) return at + 1;
  }
  return std::string_view::npos;
}

// Cuts before a UTF-8 continuation byte would be split from its lead byte.
void truncate_at_character(std::string& text, std::size_t limit) {
  if (text.size() <= limit) return;
  auto cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  text.resize(cut);
}

}  // namespace

std::string redact_error_message(const protocol::ErrorFields& error) {
  if (written_by_application(error)) return {};
  const auto message = error.message();
  std::string out;
  out.reserve(message.size());
  for (std::size_t at = 0; at < message.size() && out.size() <= kMaxRedactedMessageBytes;) {
    const char c = message[at];
    std::size_t next = at + 1;
    if (c == '"' || c == '\'') {
      next = skip_quoted(message, at);
      out.append({c, '?', c});
    } else if (c == '(') {
      next = skip_parenthesized(message, at);
      out.append("(?)");
    } else if (is_digit(c)) {
      while (next < message.size() && is_digit(message[next])) ++next;
      out.push_back('?');
    } else {
      out.push_back(c);
    }
    if (next == std::string_view::npos) break;
    at = next;
  }
  truncate_at_character(out, kMaxRedactedMessageBytes);
  return out;
}

}  // namespace pgdual::conflict
