#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin/admin_console.h"

/// The console's list of commands (SHOW HELP and the unknown-command error), SHOW VERSION, SHOW
/// CHECKS, KILL and SHUTDOWN: the commands that act on pgdual itself rather than show or steer the
/// routing.
namespace pgdual::proxy {

/// One console command as SHOW HELP lists it.
struct ConsoleCommandHelp {
  std::string_view syntax;
  std::string_view description;
};

/// Every console command, in the order SHOW HELP lists them: the one list of them.
[[nodiscard]] std::span<const ConsoleCommandHelp> console_commands();

/// Their syntaxes, comma separated, for the unknown-command error. Pure.
[[nodiscard]] std::string console_command_list();

/// The words of `text`, split at white space, a trailing semicolon dropped, case kept. Pure.
[[nodiscard]] std::vector<std::string> console_words(std::string_view text);

/// Whether `word` is `keyword` (lower case) in any case. Pure.
[[nodiscard]] bool is_keyword(std::string_view word, std::string_view keyword);

/// pgdual's version, as `pgdual --version` prints it.
[[nodiscard]] std::string_view pgdual_version();

/// SHOW VERSION: one row, "pgdual X.Y.Z". Pure.
[[nodiscard]] AdminTable version_table();

/// SHOW HELP: one row per command, its syntax and what it does. Pure.
[[nodiscard]] AdminTable help_table();

/// Reads "KILL <id>": the session id as SHOW SESSIONS shows it. 22023 for an id that is no
/// positive integer. Pure.
[[nodiscard]] Expected<AdminCommand, AdminError> parse_kill(const std::vector<std::string>& words);

/// KILL: asks client session `command.session` to end as pg_terminate_backend ends a backend (57P01
/// once its running statement is answered, its servers' connections closed), and answers
/// CommandComplete "KILL"; an id SHOW SESSIONS does not list is 42704, naming it.
void kill_session(const AdminCommand& command, const AdminContext& context, std::vector<std::byte>& out);

/// Reads "SHOW CHECKS [database]", keywords in any case, the database as a bare name (its case
/// kept) or a double-quoted identifier, a trailing semicolon allowed. std::nullopt when the text is
/// no SHOW CHECKS; 42601 for one with more words. Pure.
[[nodiscard]] std::optional<Expected<AdminCommand, AdminError>> parse_show_checks(std::string_view text);

/// SHOW CHECKS: `pgdual check`'s checks (jobs::check_readiness) against the configuration in force,
/// of `command.database` or, when empty, of every database check_readiness picks. One row per check:
/// subject, check, verdict (ok, warning, failed), detail, fix; then ReadyForQuery. The checks block
/// on libpq, so they run on a thread of their own while the console's thread serves other sessions;
/// past kShowChecksLimit the answer is 57014 and the thread is left to end on its own timeouts.
Awaitable<std::vector<std::byte>> answer_show_checks(const AdminCommand& command, const AdminContext& context);

/// How long SHOW CHECKS waits for its checks.
inline constexpr std::chrono::seconds kShowChecksLimit{120};

/// SHUTDOWN, once its answer is sent: the graceful shutdown SIGTERM starts, by sending pgdual
/// SIGTERM, so both take one path (proxy/server.cpp).
void begin_shutdown();

}  // namespace pgdual::proxy
