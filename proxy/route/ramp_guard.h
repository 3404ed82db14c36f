#pragma once

// Whether an operator may raise the share of reads the mirror serves (docs/read-ramp.md, "Runbook"):
// not while the conflict log holds open conflicts or the mirror is out of step, unless the operator
// insists (SET read_percent = N FORCE). Lowering the ramp is never refused: it is how one pulls
// back. Pure: the console gathers the facts, this decides and says why.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace pgdual::proxy {

/// One database's WAL mirror (mirror.mode wal), as SHOW WAL shows it.
struct WalMirrorFact {
  std::string database{};
  std::string state{};  ///< "streaming", "catching_up", "failing" or "given_up"
  std::chrono::milliseconds lag{0};
  std::string problem{};  ///< why failing or given up; empty otherwise
};

/// What bears on whether the mirror is fit to serve more reads.
struct RampFacts {
  std::size_t open_conflicts = 0;
  bool wal_mode = false;
  std::vector<WalMirrorFact> wal_mirrors{};  ///< wal mode: every database's
  std::size_t sessions = 0;                  ///< statement mode: open client sessions
  std::size_t sessions_without_mirror = 0;   ///< statement mode: of those, the ones reconnecting to the mirror
};

/// What the ramp is and what it is asked to become.
struct RampChange {
  double from = 0;  ///< the share steered now: 0 while the brake holds
  double to = 0;
  bool forced = false;
};

/// Why the change is refused, naming every reason ("2 open conflicts in the conflict log; the WAL
/// mirror of database ehr is catching_up, 20.0 s behind"), or nothing when it may go ahead: it
/// does not raise the ramp, it is forced, or the mirror is in step (wal mode: every database's
/// WAL mirror streaming; statement mode: no session reconnecting to the mirror) and no conflict
/// is open.
[[nodiscard]] std::optional<std::string> ramp_refusal(const RampChange& change, const RampFacts& facts);

}  // namespace pgdual::proxy
