#pragma once

#include <string>

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

/// The databases pgdual sync has not brought in sync yet, for SHOW BACKENDS' mirror row, e.g.
/// "not in sync: ehr copying 3/12 tables, lab waiting for pgdual sync"; "" when there is none.
[[nodiscard]] std::string databases_not_in_sync(const WalMirrors* wal_mirrors);

}  // namespace pgdual::proxy
