#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/pg_client.h"
#include "conflict/jobs/verifier.h"

/// `pgdual verify` at one point in time (docs/verify.md, "At one point in time (wal mode)"): both
/// databases as they were at one position of the primary's WAL, whatever the write load, without
/// pausing the writes.
namespace pgdual::jobs {

/// Why verify cannot compare at one point: pgdual serve is not reachable, not in wal mode, has no
/// WAL mirror running for the database, or refuses the login or the hold.
class PointUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Both sides' snapshots at one point, kept alive for as long as this lives.
///
/// How it is taken, with the apply of pgdual serve (proxy/mirror/apply_hold.h), through its admin
/// console:
/// 1. `HOLD APPLY db`: the apply stops before its next transaction, every transaction before it
///    committed on the mirror. Meanwhile verify commits tiny transactions on the primary (a logical
///    message pgdual's apply ignores), so that a quiet primary has a next transaction too.
/// 2. A temporary logical slot on the primary, created with an exported snapshot, gives its
///    consistent point X: the snapshot sees exactly the transactions committed before X. Made
///    while the apply stands, so that the apply cannot have gone past X before verify knows X.
/// 3. `HOLD APPLY db AT 'X'`: the apply goes on up to X (a last tiny transaction after X makes
///    sure there is one to stop before) and stops again; the mirror then holds exactly what the
///    primary's snapshot sees. A snapshot of the mirror is exported at once.
/// 4. `RESUME APPLY db`: the apply goes on; serve says how long it stood still.
/// The replication connection stays idle, and the mirror's transaction open, until destruction:
/// the snapshots stay importable by every connection of the comparison (Snapshot).
class PointInTime {
 public:
  /// Takes both snapshots, logging in to the console as an admin user (`user` when it is one) and
  /// to the primary's replication connection as mirror.replication_user. A failed attempt (the
  /// hold expired while the slot was made, say) is tried again, a few times. Throws
  /// PointUnavailable.
  PointInTime(const config::ProxyConfig& config, const config::UserConfig& user, const std::string& database);
  ~PointInTime();
  PointInTime(const PointInTime&) = delete;
  PointInTime& operator=(const PointInTime&) = delete;

  [[nodiscard]] const PointSnapshots& snapshots() const noexcept { return snapshots_; }
  /// The primary's position X, as PostgreSQL prints an LSN.
  [[nodiscard]] const std::string& position() const noexcept { return position_; }
  /// How long the apply stood still, as serve measured it, in milliseconds.
  [[nodiscard]] const std::string& held_ms() const noexcept { return held_ms_; }
  /// Of which, how long clients' COMMITs waited for it (the hold at X), in milliseconds.
  [[nodiscard]] const std::string& commits_waited_ms() const noexcept { return commits_waited_ms_; }
  /// Why the attempts before the one that succeeded failed, in order.
  [[nodiscard]] const std::vector<std::string>& failed_attempts() const noexcept { return failed_attempts_; }

 private:
  struct Connections;

  /// One attempt. Throws PgClientError or PointUnavailable.
  void take(Connections& connections);

  const config::ProxyConfig& config_;
  const config::UserConfig& user_;
  std::string database_;
  std::unique_ptr<Connections> connections_;
  PointSnapshots snapshots_;
  std::string position_;
  std::string held_ms_;
  std::string commits_waited_ms_;
  std::vector<std::string> failed_attempts_;
};

/// What verify does about the point: `asked` is --at-one-point (true), --no-at-one-point (false)
/// or neither. Without either, it tries in mirror.mode wal and falls back. Returns the point, or
/// std::nullopt with `note` saying why not (empty when it was not tried). Throws PointUnavailable
/// when it was asked for and cannot be had.
[[nodiscard]] std::unique_ptr<PointInTime> point_in_time(const config::ProxyConfig& config,
                                                         const config::UserConfig& user, const std::string& database,
                                                         std::optional<bool> asked, std::string& note);

}  // namespace pgdual::jobs
