#include "proxy/admin/apply_hold_console.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <string>
#include <utility>

#include <spdlog/fmt/fmt.h>

#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/replication.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/mirror/wal_mirrors.h"

namespace pgdual::proxy {
namespace {

constexpr std::string_view kHoldForm = "HOLD APPLY database [AT 'lsn']";
constexpr std::string_view kResumeForm = "RESUME APPLY database";
constexpr std::string_view kStartForm = "START APPLY database";

struct Token {
  std::string text;
  bool quoted = false;  ///< in double quotes: an identifier, taken as it is
};

std::string lowered(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Words split at blanks; "..." and '...' are one word each, their doubled quotes unescaped.
std::optional<std::vector<Token>> tokens_of(std::string_view text) {
  while (!text.empty() && (std::isspace(static_cast<unsigned char>(text.back())) != 0 || text.back() == ';')) {
    text.remove_suffix(1);
  }
  std::vector<Token> tokens;
  std::size_t at = 0;
  while (at < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[at])) != 0) {
      ++at;
      continue;
    }
    Token token;
    const char quote = text[at];
    if (quote == '"' || quote == '\'') {
      token.quoted = quote == '"';
      for (++at;; ++at) {
        if (at >= text.size()) return std::nullopt;  // unterminated
        if (text[at] != quote) {
          token.text.push_back(text[at]);
        } else if (at + 1 < text.size() && text[at + 1] == quote) {
          token.text.push_back(text[++at]);
        } else {
          break;
        }
      }
      ++at;
    } else {
      for (; at < text.size() && std::isspace(static_cast<unsigned char>(text[at])) == 0; ++at) {
        token.text.push_back(text[at]);
      }
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

bool is_keyword(const Token& token, std::string_view keyword) { return !token.quoted && lowered(token.text) == keyword; }

Expected<AdminCommand, AdminError> syntax_error(std::string_view form) {
  return unexpected{AdminError{protocol::sqlstate::kSyntaxError, "expected " + std::string{form}}};
}

AdminVerb verb_of(const Token& first) {
  if (is_keyword(first, "hold")) return AdminVerb::hold_apply;
  return is_keyword(first, "start") ? AdminVerb::start_apply : AdminVerb::resume_apply;
}

Expected<AdminCommand, AdminError> parse_tokens(const std::vector<Token>& tokens) {
  const auto verb = verb_of(tokens[0]);
  const bool hold = verb == AdminVerb::hold_apply;
  const auto form = hold ? kHoldForm : verb == AdminVerb::start_apply ? kStartForm : kResumeForm;
  const bool bare = tokens.size() == 3;
  const bool at = hold && tokens.size() == 5 && is_keyword(tokens[3], "at");
  if ((!bare && !at) || !is_keyword(tokens[1], "apply") || tokens[2].text.empty()) return syntax_error(form);
  AdminCommand command{.verb = verb, .database = tokens[2].text};
  if (!at) return command;
  const auto lsn = protocol::parse_lsn(tokens[4].text);
  if (!lsn) {
    return unexpected{AdminError{protocol::sqlstate::kInvalidTextRepresentation,
                                 "invalid input syntax for type pg_lsn: \"" + tokens[4].text + "\""}};
  }
  command.at = *lsn;
  return command;
}

AdminTable one_row(std::vector<std::string> columns, std::vector<std::string> row) {
  return AdminTable{.columns = std::move(columns), .rows = {std::move(row)}};
}

void encode_refusal(std::string message, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  protocol::encode(protocol::make_error("ERROR", protocol::sqlstate::kObjectNotInPrerequisiteState, message), writer);
}

Awaitable<void> hold(const AdminCommand& command, const AdminContext& context, std::uint64_t console,
                     std::vector<std::byte>& out) {
  const auto held = co_await context.wal_mirrors->hold_apply(command.database, console, command.at);
  if (!held) {
    encode_refusal("apply of database " + command.database + " not held: " + held.error(), out);
    co_return;
  }
  encode_table(one_row({"database", "held_before"}, {command.database, protocol::format_lsn(*held)}), out);
}

// The mirror starts as at a database's first login; what its apply finds on the mirror (pgdual
// sync's record) shows in SHOW WAL a moment later.
void start(const AdminCommand& command, const AdminContext& context, std::vector<std::byte>& out) {
  static_cast<void>(context.wal_mirrors->units_for(command.database));
  encode_table(one_row({"database", "started"}, {command.database, "yes"}), out);
}

Awaitable<void> resume(const AdminCommand& command, const AdminContext& context, std::uint64_t console,
                       std::vector<std::byte>& out) {
  const auto held = co_await context.wal_mirrors->resume_apply(command.database, console);
  if (!held) {
    encode_refusal("this session holds no apply of database " + command.database, out);
    co_return;
  }
  const auto milliseconds = [](std::chrono::microseconds duration) {
    return fmt::format("{:.3f}", static_cast<double>(duration.count()) / 1000.0);
  };
  const auto stood_still = milliseconds(held->stood_still);
  const auto commits_waited = milliseconds(held->commits_waited);
  context.log->info("admin console: apply of database {} resumed; it stood still {} ms, COMMITs waiting for it "
                    "{} ms of that",
                    command.database, stood_still, commits_waited);
  encode_table(one_row({"database", "held_ms", "commits_waited_ms"}, {command.database, stood_still, commits_waited}),
               out);
}

}  // namespace

std::optional<Expected<AdminCommand, AdminError>> parse_apply_hold_command(std::string_view text) {
  const auto tokens = tokens_of(text);
  if (!tokens || tokens->empty()) return std::nullopt;
  const auto& first = tokens->front();
  if (!is_keyword(first, "hold") && !is_keyword(first, "resume") && !is_keyword(first, "start")) return std::nullopt;
  return parse_tokens(*tokens);
}

bool holds_apply(AdminVerb verb) noexcept {
  return verb == AdminVerb::hold_apply || verb == AdminVerb::resume_apply || verb == AdminVerb::start_apply;
}

Awaitable<std::vector<std::byte>> answer_apply_hold(const AdminCommand& command, const AdminContext& context,
                                                    std::uint64_t console) {
  std::vector<std::byte> out;
  if (context.wal_mirrors == nullptr) {
    encode_refusal("the apply is held only in mirror.mode = \"wal\"", out);
  } else if (command.verb == AdminVerb::start_apply) {
    start(command, context, out);
  } else if (command.verb == AdminVerb::hold_apply) {
    co_await hold(command, context, console, out);
  } else {
    co_await resume(command, context, console, out);
  }
  protocol::Writer writer{out};
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, writer);
  co_return out;
}

std::uint64_t next_console_number() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return ++last;
}

ApplyHoldRelease::~ApplyHoldRelease() {
  if (mirrors_ != nullptr) mirrors_->release_holds(console_);
}

}  // namespace pgdual::proxy
