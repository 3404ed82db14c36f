#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "proxy/backend/backend_tls.h"

namespace pgdual::proxy {

class CancelRegistry;
class ConflictSink;
class DatabaseSetup;
class LedgerPruner;
class LiveSettings;
class Metrics;
class PrimaryLatencies;
class ReadBrake;
class ReadSteering;
class RunningRoles;
class SessionRegistry;
class ShadowLedger;
class WalMirrors;
class WriteGate;

/// What every session shares: the configuration it started with (its roles those running at its
/// login), and the server-wide registries.
struct SessionContext {
  std::shared_ptr<const config::ProxyConfig> config;
  CancelRegistry& cancels;
  SessionRegistry& sessions;
  std::shared_ptr<spdlog::logger> log;
  ConflictSink& conflicts;
  LedgerPruner& ledger_pruner;
  /// The key of the outcomes' rows digests (conflict/outcome.h), the same for every session.
  std::shared_ptr<const std::vector<std::byte>> rows_digest_key;
  ReadSteering& steering;
  ReadBrake& brake;
  /// The primary's typical latency per statement fingerprint, which the brake judges the mirror's
  /// latency against.
  PrimaryLatencies& primary_latencies;
  /// Every session's shadow reads: how many run at once, what they found.
  ShadowLedger& shadows;
  LiveSettings& settings;
  Metrics& metrics;
  /// The TLS context of each backend, for BackendConnection::open.
  const BackendTlsContexts& backend_tls;
  /// pgdual's schema in each database, set up by its first session.
  DatabaseSetup& database_setup;
  /// Where write transactions wait while writes are paused (PAUSE WRITES).
  WriteGate& write_gate;
  /// Which backend is the primary now (SWAP ROLES): a session follows a swap at its next transaction.
  RunningRoles& roles;
  /// The databases' WAL mirrors in mirror.mode wal; null in statement mode.
  WalMirrors* wal_mirrors = nullptr;
};

}  // namespace pgdual::proxy
