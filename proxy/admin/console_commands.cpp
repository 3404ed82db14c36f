#include "proxy/admin/console_commands.h"

#include <array>
#include <charconv>
#include <csignal>

#include <unistd.h>

#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/session_registry.h"
#include "proxy/session/session.h"

namespace pgdual::proxy {
namespace {

constexpr std::array<ConsoleCommandHelp, 16> kCommands{{
    {"SHOW BACKENDS", "both servers: role, address, state, sessions, reads, errors and latency"},
    {"SHOW STATS", "sessions, read_percent, the brake, shadow reads and conflicts, in figures"},
    {"SHOW SESSIONS", "every client session, by the id KILL takes"},
    {"SHOW CONFLICTS", "conflicts since the start by kind, and the last 20"},
    {"SHOW CONFIG", "the settings in force, passwords left out"},
    {"SHOW WAL", "in mirror.mode wal, each database's WAL mirror: state and lag"},
    {"SHOW SHADOWS", "shadow reads compared, by statement fingerprint"},
    {"SHOW VERSION", "pgdual's version"},
    {"SHOW HELP", "these commands"},
    {"SET read_percent = N [FORCE]", "steers N% of the eligible reads to the mirror"},
    {"SET shadow_percent = N", "shadows N% of the eligible reads the primary answers"},
    {"RELOAD", "reads the configuration file again, as SIGHUP"},
    {"HOLD APPLY database [AT 'lsn']", "in mirror.mode wal, holds the WAL mirror's apply, for pgdual verify"},
    {"RESUME APPLY database", "lets the apply this console held go on"},
    {"KILL id", "ends client session id (SHOW SESSIONS) with FATAL 57P01 once its statement is answered"},
    {"SHUTDOWN", "shuts pgdual down gracefully, as SIGTERM"},
}};

}  // namespace

std::span<const ConsoleCommandHelp> console_commands() { return kCommands; }

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

void begin_shutdown() { ::kill(::getpid(), SIGTERM); }

}  // namespace pgdual::proxy
