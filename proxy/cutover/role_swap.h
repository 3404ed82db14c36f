#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include <spdlog/logger.h>

#include "protocol/expected.h"
#include "proxy/net/asio.h"

/// SWAP ROLES itself (docs/cutover.md, "Swapping the roles"), as the admin console and the
/// automatic rollback run it.
namespace pgdual::proxy {

class ConflictSink;
class LiveSettings;
class Metrics;
class RunningRoles;
class WalMirrors;
class WriteGate;

/// Writes what an operator (or pgdual itself) did to the cutover's audit trail: who, and what, in words.
using CutoverAudit = std::function<void(const std::string& who, std::string what)>;
/// The audit trail in `conflicts`: the conflict log's chain (conflict::ConflictKind::cutover
/// records, resolved, resolved_by who).
[[nodiscard]] CutoverAudit audit_trail(ConflictSink& conflicts);

/// What a swap changes, and where it says so.
struct SwapParts {
  WriteGate& gate;
  RunningRoles& roles;
  WalMirrors& mirrors;
  LiveSettings& settings;
  Metrics& metrics;
  CutoverAudit audit;
  spdlog::logger& log;
};

/// What a swap did.
struct SwapReport {
  std::string primary;  ///< the new primary's name
  std::string mirror;
  std::size_t databases = 0;              ///< WAL mirrors turned round
  std::chrono::milliseconds drained{0};   ///< the longest drain of one database
  std::size_t sequences_set = 0;          ///< over every database
  std::chrono::milliseconds took{0};
};

/// Turns the roles round for `who`, once parts.gate is held for it (WriteGate::begin_swap()):
/// WalMirrors::swap_roles within `timeout`, then the roles new sessions take and open ones follow.
/// Ends the gate's swap either way, writes still paused; logs and audits what came of it. The
/// error says why nothing changed.
Awaitable<Expected<SwapReport, std::string>> swap_roles(const SwapParts& parts, const std::string& who,
                                                        std::chrono::milliseconds timeout);

}  // namespace pgdual::proxy
