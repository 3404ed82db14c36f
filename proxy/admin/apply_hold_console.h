#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/expected.h"
#include "proxy/admin/admin_console.h"
#include "proxy/net/asio.h"

/// The console's commands that hold a database's WAL apply at one point, for `pgdual verify`
/// (docs/verify.md, "At one point in time"): HOLD APPLY and RESUME APPLY; and START APPLY, which
/// runs a database's WAL mirror before any client logs in to it, for `pgdual sync` (docs/sync.md).
namespace pgdual::proxy {

/// Reads `HOLD APPLY database [AT 'lsn']`, `RESUME APPLY database` or `START APPLY database`,
/// keywords in any case, the database as a bare name (its case kept) or a double-quoted
/// identifier, the LSN quoted or not, a trailing semicolon allowed. std::nullopt when the text
/// starts with none of HOLD, RESUME and START.
/// Errors: 42601 for another form, 22P02 for an LSN that is none. Pure.
[[nodiscard]] std::optional<Expected<AdminCommand, AdminError>> parse_apply_hold_command(std::string_view text);

/// Whether `verb` is one of these commands, which wait for the apply: answer_apply_hold() runs them.
[[nodiscard]] bool holds_apply(AdminVerb verb) noexcept;

/// Runs a HOLD APPLY, RESUME APPLY or START APPLY of console session `console`: its answer (a
/// one-row table, or an error, 55000 when the apply cannot be held) and ReadyForQuery.
Awaitable<std::vector<std::byte>> answer_apply_hold(const AdminCommand& command, const AdminContext& context,
                                                    std::uint64_t console);

/// A number for each console session, that its holds carry.
[[nodiscard]] std::uint64_t next_console_number() noexcept;

/// Ends a console session's holds when it ends, however it ends: a verify that died, or lost its
/// connection, must not leave the apply standing (until ApplyHold::kLimit).
class ApplyHoldRelease {
 public:
  ApplyHoldRelease(WalMirrors* mirrors, std::uint64_t console) noexcept : mirrors_{mirrors}, console_{console} {}
  ~ApplyHoldRelease();
  ApplyHoldRelease(const ApplyHoldRelease&) = delete;
  ApplyHoldRelease& operator=(const ApplyHoldRelease&) = delete;

 private:
  WalMirrors* mirrors_;
  std::uint64_t console_;
};

}  // namespace pgdual::proxy
