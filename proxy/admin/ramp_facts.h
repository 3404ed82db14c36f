#pragma once

#include "config/proxy_config.h"
#include "proxy/route/ramp_guard.h"

namespace pgdual::proxy {

class ConflictSink;
class SessionRegistry;
class WalMirrors;

/// What the read ramp's guard (ramp_guard.h) weighs, as the server knows it now: the open
/// conflicts the sink counts, in wal mode each database's WAL mirror, in statement mode the
/// sessions reconnecting to the mirror. Cheap: counters and snapshots, no I/O.
[[nodiscard]] RampFacts ramp_facts(config::MirrorMode mode, const ConflictSink& conflicts,
                                   const SessionRegistry& sessions, const WalMirrors* wal_mirrors);

}  // namespace pgdual::proxy
