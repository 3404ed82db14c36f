#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "protocol/expected.h"
#include "proxy/net/asio.h"
#include "proxy/net/wire_io.h"

/// The admin console: psql connected to pgdual's own port and the virtual database "pgdual"
/// (DESIGN.md, "Operator surfaces"; docs/read-ramp.md). It answers simple queries only, as
/// PgBouncer's console does.
namespace pgdual::proxy {

class ConflictSink;
class LiveSettings;
class Metrics;
class ReadBrake;
class ReadSteering;
class RunningRoles;
class SessionRegistry;
class ShadowLedger;
class WalMirrors;
class WriteGate;

/// The virtual database a client names to reach the console.
inline constexpr std::string_view kAdminDatabase = "pgdual";

enum class AdminVerb {
  show_backends,
  show_stats,
  show_sessions,
  show_conflicts,
  show_config,
  show_wal,
  show_shadows,
  show_instances,  ///< SHOW INSTANCES: proxy/admin/instances_table.h
  set_read_percent,
  set_shadow_percent,
  reload,
  hold_apply,    ///< HOLD APPLY database [AT 'lsn']: proxy/admin/apply_hold_console.h
  resume_apply,  ///< RESUME APPLY database
  start_apply,   ///< START APPLY database: runs the database's WAL mirror now, for pgdual sync
  show_version,  ///< proxy/admin/console_commands.h, as the three below
  show_help,
  show_checks,   ///< SHOW CHECKS [database]: proxy/admin/console_commands.h
  kill,          ///< KILL id: a session id as SHOW SESSIONS shows it
  shutdown,      ///< SHUTDOWN: as SIGTERM, once answered
  pause_writes,   ///< PAUSE WRITES [TIMEOUT n]: proxy/admin/cutover_console.h, as the two below
  resume_writes,  ///< RESUME WRITES
  show_cutover,   ///< SHOW CUTOVER
  swap_roles,     ///< SWAP ROLES [TIMEOUT n]
};

struct AdminCommand {
  AdminVerb verb = AdminVerb::show_backends;
  double read_percent = 0;    ///< with set_read_percent
  /// With set_read_percent: raise the ramp past the guard's objections. With swap_roles: swap
  /// although sessions hold state that cannot move (they end at their next statement).
  bool force = false;
  double shadow_percent = 0;  ///< with set_shadow_percent
  std::string database{};     ///< with hold_apply, resume_apply, start_apply; with show_checks, empty for all
  std::uint64_t at = 0;       ///< with hold_apply: the LSN to hold at; 0 for the next transaction
  std::uint64_t session = 0;  ///< with kill
  std::chrono::milliseconds pause_timeout{30'000};  ///< with pause_writes and swap_roles
};

/// Why a statement is no console command: PostgreSQL's SQLSTATE and message.
struct AdminError {
  std::string sqlstate;
  std::string message;
};

/// Reads one console statement: SHOW BACKENDS | STATS | SESSIONS | CONFLICTS | CONFIG | WAL |
/// SHADOWS | CUTOVER | VERSION | HELP | CHECKS [database], SET read_percent = N [FORCE],
/// SET shadow_percent = N (or TO N; 0..100, fractions allowed), RELOAD, HOLD APPLY and RESUME
/// APPLY (parse_apply_hold_command), PAUSE WRITES [TIMEOUT n], RESUME WRITES and SWAP ROLES
/// [TIMEOUT n] (parse_cutover_command), KILL id, SHUTDOWN. Keywords in any case, a trailing semicolon
/// allowed. Pure.
/// Errors: 22023 for a percent that is no number from 0 to 100, a KILL id that is no positive
/// integer or a PAUSE WRITES or SWAP ROLES TIMEOUT out of range, 42704 for another parameter, 42601 for
/// anything else (FORCE after shadow_percent too), the last naming every command
/// (console_commands()).
[[nodiscard]] Expected<AdminCommand, AdminError> parse_admin_command(std::string_view text);

/// A console answer: text columns and rows.
struct AdminTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

/// RowDescription (every column text), the DataRows and CommandComplete "SHOW", appended to `out`. Pure.
void encode_table(const AdminTable& table, std::vector<std::byte>& out);

/// What the console shows and changes: the server's live state.
struct AdminContext {
  LiveSettings& settings;
  ReadSteering& steering;
  ReadBrake& brake;
  const ShadowLedger& shadows;
  SessionRegistry& sessions;
  ConflictSink& conflicts;
  std::shared_ptr<spdlog::logger> log;
  WriteGate& write_gate;              ///< PAUSE WRITES, RESUME WRITES, SHOW CUTOVER
  RunningRoles& roles;                ///< SWAP ROLES, SHOW CUTOVER
  Metrics& metrics;                   ///< SWAP ROLES: the roles its families name
  WalMirrors* wal_mirrors = nullptr;  ///< in mirror.mode wal; SHOW WAL lists no database without
};

/// Serves one admitted console client, logged in as `user`, from its greeting until it leaves.
/// `reader` has read the startup packet. Its commands are logged, and its pauses named, as
/// user@address (the client's). Throws as the session's I/O does.
Awaitable<void> serve_admin_console(Stream& client, MessageReader& reader, const AdminContext& context,
                                    std::string user);

}  // namespace pgdual::proxy
