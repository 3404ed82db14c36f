#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "protocol/expected.h"
#include "proxy/admin/admin_console.h"
#include "proxy/cutover/role_swap.h"
#include "proxy/cutover/write_gate.h"
#include "proxy/net/asio.h"

/// The console's side of the cutover (docs/cutover.md): PAUSE WRITES, RESUME WRITES, SWAP ROLES
/// and SHOW CUTOVER, over the server's WriteGate, RunningRoles and WalMirrors.
namespace pgdual::proxy {

/// Reads `PAUSE WRITES [TIMEOUT seconds]`, `RESUME WRITES` or `SWAP ROLES [FORCE] [TIMEOUT seconds]`,
/// keywords in any case, a trailing semicolon allowed; the seconds a number from 0.001 to 3600,
/// fractions allowed (30 without TIMEOUT). std::nullopt when the text starts with neither PAUSE,
/// SWAP nor RESUME WRITES (RESUME APPLY is parse_apply_hold_command's). Errors: 22023 for seconds
/// out of range or no number, naming them; 42601 for another form. Pure.
[[nodiscard]] std::optional<Expected<AdminCommand, AdminError>> parse_cutover_command(std::string_view text);

/// The audit trail of `context`: the conflict log's chain (role_swap.h).
[[nodiscard]] CutoverAudit audit_trail(const AdminContext& context);

/// Runs PAUSE WRITES for `who` (user@address, as logs and SHOW CUTOVER name it): waits until no
/// write transaction runs, or until the command's timeout. Its answer, then ReadyForQuery: a
/// one-row table (state, drained_ms, were_running), or 55P03 when the running writes did not end in
/// time (naming their sessions), 55000 when writes are paused already or RESUME WRITES ended the
/// pause first, 57P01 when pgdual shuts down meanwhile. In each failure the gate is open again.
Awaitable<std::vector<std::byte>> answer_pause_writes(const AdminCommand& command, const AdminContext& context,
                                                      std::string who);
/// The same on `gate`, logging to `log` and `audit`: all that PAUSE WRITES uses of the console's context.
Awaitable<std::vector<std::byte>> answer_pause_writes(const AdminCommand& command, WriteGate& gate,
                                                      spdlog::logger& log, CutoverAudit audit, std::string who);

/// RESUME WRITES for `who` on `gate`, logged to `log` and `audit`: a one-row table (state,
/// paused_ms, released), or 55000 when writes are not paused or a swap runs; appended to `out`.
void resume_writes(WriteGate& gate, spdlog::logger& log, const CutoverAudit& audit, const std::string& who,
                   std::vector<std::byte>& out);

/// Runs SWAP ROLES for `who`: while writes are paused, in wal mode, drains every database's mirror
/// and turns the roles round (WalMirrors::swap_roles), within the command's timeout. Its answer,
/// then ReadyForQuery: a one-row table (primary, mirror, databases, drained_ms, sequences_set,
/// swap_ms), or 55000 naming what stood in the way, the roles then as they were and writes still
/// paused; 0A000 in statement mode. Sessions whose state cannot move (SessionSummary::unmovable)
/// stand in the way, named, unless FORCE: they then end at their next statement.
Awaitable<std::vector<std::byte>> answer_swap_roles(const AdminCommand& command, const AdminContext& context,
                                                    std::string who);

/// What SHOW CUTOVER tells of the roles.
struct RolesFacts {
  std::string primary;       ///< the running primary's name
  std::string file_primary;  ///< routing.primary as the file said at the last start or reload
  std::uint64_t swaps = 0;   ///< since pgdual started
  std::string last_swap;     ///< who made the last swap and when; empty before the first
};

/// SHOW CUTOVER: one row of the gate's state (state, writes_in_flight, writes_waiting, paused_by,
/// paused_ms, last_event), drain_lag_bytes: in wal mode the most WAL any database's slot has not
/// confirmed, what a swap waits to drain (std::nullopt, shown empty, in statement mode); then the
/// roles (primary, file_primary, swaps, last_swap). Pure.
[[nodiscard]] AdminTable cutover_table(const WriteGate::Snapshot& snapshot,
                                       std::optional<std::uint64_t> drain_lag_bytes, const RolesFacts& roles);
/// SHOW CUTOVER as it stands in `context`.
[[nodiscard]] AdminTable cutover_table(const AdminContext& context);

/// The 55P03 message of a pause that timed out after `timeout`: the sessions still writing, the
/// first ten by name, oldest first. Pure.
[[nodiscard]] std::string pause_timed_out_message(const std::vector<WriteGate::Holder>& still_running,
                                                  std::chrono::milliseconds timeout);

}  // namespace pgdual::proxy
