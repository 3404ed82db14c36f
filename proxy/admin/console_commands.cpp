#include "proxy/admin/console_commands.h"

#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <exception>
#include <future>
#include <thread>
#include <utility>

#include <unistd.h>

#include "conflict/jobs/readiness_checks.h"
#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/admin/live_settings.h"
#include "proxy/session_registry.h"
#include "proxy/session/session.h"

namespace pgdual::proxy {
namespace {

constexpr std::array<ConsoleCommandHelp, 23> kCommands{{
    {"SHOW BACKENDS", "both servers: role, address, state, sessions, reads, errors and latency"},
    {"SHOW STATS", "sessions, read_percent, the brake, shadow reads and conflicts, in figures"},
    {"SHOW SESSIONS", "every client session, by the id KILL takes"},
    {"SHOW CONFLICTS", "conflicts since the start by kind, and the last 20"},
    {"SHOW CONFIG", "the settings in force, passwords left out"},
    {"SHOW WAL", "in mirror.mode wal, each database's WAL mirror: state and lag"},
    {"SHOW SHADOWS", "shadow reads compared, by statement fingerprint"},
    {"SHOW INSTANCES", "in mirror.mode wal, every pgdual instance in front of these servers, and which one applies"},
    {"SHOW CUTOVER", "the write gate (open, pausing, paused, swapping), writes running and held, the running roles"},
    {"SHOW CHECKS [database]", "pgdual check's checks against the configuration in force, each with its fix"},
    {"SHOW VERSION", "pgdual's version"},
    {"SHOW HELP", "these commands"},
    {"SET read_percent = N [FORCE]", "steers N% of the eligible reads to the mirror"},
    {"SET shadow_percent = N", "shadows N% of the eligible reads the primary answers"},
    {"RELOAD", "reads the configuration file again, as SIGHUP"},
    {"HOLD APPLY database [AT 'lsn']", "in mirror.mode wal, holds the WAL mirror's apply, for pgdual verify"},
    {"RESUME APPLY database", "lets the apply this console held go on"},
    {"START APPLY database", "in mirror.mode wal, runs the database's WAL mirror now rather than at its first login"},
    {"PAUSE WRITES [TIMEOUT seconds]",
     "holds every new write transaction and answers once the running ones have ended (30 s at most by default)"},
    {"SWAP ROLES [FORCE] [TIMEOUT seconds]",
     "while writes are paused, in mirror.mode wal: drains the mirror and makes it the primary (30 s at most by default)"},
    {"RESUME WRITES", "lets the held write transactions go on"},
    {"KILL id", "ends client session id (SHOW SESSIONS) with FATAL 57P01 once its statement is answered"},
    {"SHUTDOWN", "shuts pgdual down gracefully, as SIGTERM"},
}};

/// A database named as a bare word or a double-quoted identifier ("a""b" is a"b).
std::string database_name(const std::string& word) {
  if (word.size() < 2 || word.front() != '"' || word.back() != '"') return word;
  std::string name;
  for (std::size_t at = 1; at + 1 < word.size(); ++at) {
    name.push_back(word[at]);
    if (word[at] == '"') ++at;
  }
  return name;
}

AdminTable checks_table(const std::vector<jobs::ReadinessCheck>& checks) {
  AdminTable table{{"subject", "check", "verdict", "detail", "fix"}, {}};
  for (const auto& check : checks) {
    table.rows.push_back({check.subject, check.name, std::string{jobs::to_string(check.verdict)}, check.found,
                          check.fix});
  }
  return table;
}

/// check_readiness() on a thread of its own. The thread holds what it reads (the configuration, the
/// scope), so a console session that ends, or stops waiting, leaves it nothing dangling.
std::future<std::vector<jobs::ReadinessCheck>> start_checks(std::shared_ptr<const config::ProxyConfig> config,
                                                            jobs::ReadinessScope scope) {
  std::promise<std::vector<jobs::ReadinessCheck>> promise;
  auto future = promise.get_future();
  std::thread{[config = std::move(config), scope = std::move(scope), promise = std::move(promise)]() mutable {
    try {
      promise.set_value(jobs::check_readiness(*config, scope));
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  }}.detach();
  return future;
}

}  // namespace

std::span<const ConsoleCommandHelp> console_commands() { return kCommands; }

std::vector<std::string> console_words(std::string_view text) {
  while (!text.empty() && (std::isspace(static_cast<unsigned char>(text.back())) != 0 || text.back() == ';')) {
    text.remove_suffix(1);
  }
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) {
      word.push_back(c);
    } else if (!word.empty()) {
      words.push_back(std::exchange(word, {}));
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

bool is_keyword(std::string_view word, std::string_view keyword) {
  return word.size() == keyword.size() && std::equal(word.begin(), word.end(), keyword.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

std::string console_command_list() {
  std::string list;
  for (const auto& command : kCommands) list += (list.empty() ? "" : ", ") + std::string{command.syntax};
  return list;
}

std::string_view pgdual_version() { return PGDUAL_VERSION; }

AdminTable version_table() { return {{"version"}, {{"pgdual " + std::string{pgdual_version()}}}}; }

AdminTable help_table() {
  AdminTable table{{"command", "description"}, {}};
  for (const auto& command : kCommands) {
    table.rows.push_back({std::string{command.syntax}, std::string{command.description}});
  }
  return table;
}

Expected<AdminCommand, AdminError> parse_kill(const std::vector<std::string>& words) {
  std::uint64_t id = 0;
  const auto& text = words.size() == 2 ? words[1] : std::string{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (words.size() != 2 || error != std::errc{} || end != text.data() + text.size() || id == 0) {
    return unexpected{AdminError{protocol::sqlstate::kInvalidParameterValue,
                                 "KILL takes a session id as SHOW SESSIONS shows it, a positive integer"}};
  }
  return AdminCommand{.verb = AdminVerb::kill, .session = id};
}

void kill_session(const AdminCommand& command, const AdminContext& context, std::vector<std::byte>& out) {
  protocol::Writer writer{out};
  const bool listed =
      context.sessions.with_client_session(command.session, [](Session& session) { session.request_shutdown(); });
  if (!listed) {
    return protocol::encode(protocol::make_error("ERROR", protocol::sqlstate::kUndefinedObject,
                                                 "no client session " + std::to_string(command.session) +
                                                     " (SHOW SESSIONS lists them)"),
                            writer);
  }
  protocol::encode(protocol::CommandComplete{"KILL"}, writer);
}

std::optional<Expected<AdminCommand, AdminError>> parse_show_checks(std::string_view text) {
  const auto words = console_words(text);
  if (words.size() < 2 || !is_keyword(words[0], "show") || !is_keyword(words[1], "checks")) return std::nullopt;
  if (words.size() > 3) {
    return unexpected{AdminError{protocol::sqlstate::kSyntaxError, "SHOW CHECKS takes one database at most"}};
  }
  AdminCommand command{.verb = AdminVerb::show_checks};
  if (words.size() == 3) command.database = database_name(words[2]);
  return command;
}

Awaitable<std::vector<std::byte>> answer_show_checks(const AdminCommand& command, const AdminContext& context) {
  jobs::ReadinessScope scope;
  if (!command.database.empty()) scope.databases.push_back(command.database);
  auto checks = start_checks(context.settings.current(), std::move(scope));
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer pause{executor};
  const auto deadline = std::chrono::steady_clock::now() + kShowChecksLimit;
  // Polled rather than signalled: the thread then never touches this session's executor, which
  // may be gone by the time it ends.
  while (checks.wait_for(std::chrono::seconds{0}) != std::future_status::ready &&
         std::chrono::steady_clock::now() < deadline) {
    pause.expires_after(std::chrono::milliseconds{20});
    co_await pause.async_wait(use_awaitable);
  }
  std::vector<std::byte> out;
  protocol::Writer writer{out};
  if (checks.wait_for(std::chrono::seconds{0}) != std::future_status::ready) {
    protocol::encode(protocol::make_error("ERROR", protocol::sqlstate::kQueryCanceled,
                                          "SHOW CHECKS did not end within " +
                                              std::to_string(kShowChecksLimit.count()) +
                                              " s; pgdual check --config FILE runs the same checks without a limit"),
                     writer);
  } else {
    try {
      encode_table(checks_table(checks.get()), out);
    } catch (const std::exception& error) {
      protocol::encode(protocol::make_error("ERROR", protocol::sqlstate::kInternalError,
                                            std::string{"SHOW CHECKS failed: "} + error.what()),
                       writer);
    }
  }
  protocol::encode(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, writer);
  co_return out;
}

void begin_shutdown() { ::kill(::getpid(), SIGTERM); }

}  // namespace pgdual::proxy
