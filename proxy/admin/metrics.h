#pragma once

// The proxy's Prometheus metrics (issue 5): counters the sessions bump as events happen, and the
// text exposition the HTTP endpoint serves. Counts only: no statement text, no row data, no
// constants ever reach a label.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/compare.h"
#include "protocol/sql/classification.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/shadow_judgement.h"

namespace pgdual::proxy {

/// One database's WAL mirror, as WalMirrors::progress() reads it.
struct WalMirrorGauges {
  std::string database;
  std::uint64_t lag_bytes = 0;
  double lag_seconds = 0.0;
  std::uint64_t retained_bytes = 0;
  std::uint64_t applied_transactions = 0;  ///< since pgdual started
  bool up = false;  ///< the apply reads the slot (streaming or catching up)
  /// pgdual sync's record on the mirror (SyncRecord): its state as a number (SyncState: 0 none,
  /// 1 waiting, 2 copying, 3 catching up, 4 in sync), and the copy's progress.
  int sync_state = 0;
  std::int64_t sync_tables_total = 0;
  std::int64_t sync_tables_done = 0;
  std::int64_t sync_rows_copied = 0;
  std::int64_t sync_bytes_copied = 0;
  /// Several instances (docs/deployment.md): this one holds the database's apply lease.
  bool applying = false;
  std::size_t instances = 0;     ///< pgdual instances the database's pgdual.instances lists
  std::uint64_t keys_heard = 0;  ///< unit keys another instance's apply committed for sessions here
};

/// The values Metrics does not count itself, read by the caller when the metrics are rendered.
struct MetricsGauges {
  double read_percent = 0.0;  ///< the global read percent in force (ReadSteering)
  bool braked = false;        ///< whether the read brake holds read steering at 0
  std::size_t sessions = 0;   ///< client sessions open now
  std::size_t logins_in_progress = 0;  ///< ClientSlots::logins_in_progress()
  std::vector<WalMirrorGauges> wal_mirrors{};  ///< wal mode: one per database clients used
  double shadow_percent = 0.0;                 ///< the shadow percent in force (ReadSteering)
  std::vector<ShadowCounts> shadows{};         ///< ShadowLedger::counts()
  double latency_ratio_p99 = 0.0;              ///< ReadBrake::relative_p99(): 0 without samples
  bool writes_paused = false;                  ///< the WriteGate pausing or paused
  std::size_t writes_waiting = 0;              ///< sessions held at the WriteGate
  std::size_t write_transactions_in_flight = 0;  ///< the WriteGate's passes out
  /// SWAP ROLES made the primary another backend than routing.primary in the file says.
  bool roles_swapped = false;
};

/// The upper bounds of pgdual_query_duration_seconds's finite buckets, in microseconds, so an
/// observation is placed by integer comparison; the +Inf bucket follows them.
inline constexpr std::array<std::int64_t, 14> kLatencyBucketBoundsMicros = {
    500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000,
    5'000'000, 10'000'000};

/// Counts what the proxy does, per backend, and renders it in the Prometheus text exposition
/// format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
///
///   pgdual_queries_total{backend,role,kind}          statements sent, by sql::StatementKind
///   pgdual_errors_total{backend,role,class}          ErrorResponses, by SQLSTATE class
///   pgdual_query_duration_seconds{backend,role}      histogram of query latencies
///   pgdual_wal_ack_wait_seconds                      histogram of wal-mode COMMITs' waits for the mirror
///   pgdual_conflicts_total{kind}                     conflicts, every conflict::ConflictKind
///   pgdual_reads_total{served_by}                    steered reads, served_by primary|mirror
///   pgdual_read_failovers_total                      mirror reads retried on the primary
///   pgdual_brake_trips_total                         read brake trips
///   pgdual_sessions_total                            client sessions started
///   pgdual_logins_evicted_total                      logins in progress ended to admit a new connection
///                                                    (limits.max_logins_in_progress)
///   pgdual_shadow_reads_total{fingerprint,result}    shadow reads by what comparing them found (ShadowFinding)
///   pgdual_shadow_percent                            percent of eligible reads the primary answers that run
///                                                    on the mirror too
///   pgdual_mirror_latency_ratio_p99                  p99 of the mirror's latency over the primary's, same reads
///   pgdual_wal_acks_total{result}                    wal mode: transactions the mirror applied before
///                                                    the client's answer, result applied|timed_out,
///                                                    or answered at once while verify held the apply
///                                                    (held_for_verify) or pgdual sync had not brought
///                                                    the mirror in sync yet (syncing)
///   pgdual_read_percent, pgdual_read_brake_engaged, pgdual_sessions,  gauges (MetricsGauges)
///   pgdual_logins_in_progress
///   pgdual_writes_paused, pgdual_writes_waiting,     gauges of the WriteGate (PAUSE WRITES): 1 while
///   pgdual_write_transactions_in_flight              pausing or paused, sessions held, passes out
///   pgdual_roles_swapped                             1 while the running primary is not the file's
///                                                    routing.primary (after SWAP ROLES)
///   pgdual_wal_lag_bytes{database}                   wal mode, from MetricsGauges::wal_mirrors: the
///   pgdual_wal_lag_seconds{database}                 primary's WAL the slot has not confirmed, how
///   pgdual_wal_retained_bytes{database}              long its oldest change has waited, the WAL the
///   pgdual_wal_applied_transactions_total{database}  slot keeps on the primary's disk, transactions
///   pgdual_wal_mirror_up{database}                   applied, and 1 while the apply reads the slot
///   pgdual_sync_state{database}                      pgdual sync's record on the mirror: its state
///   pgdual_sync_tables_total{database}               (0 none, 1 waiting, 2 copying, 3 catching up,
///   pgdual_sync_tables_done{database}                4 in sync), and the copy's progress as the
///   pgdual_sync_rows_copied{database}                sync last wrote it
///   pgdual_sync_bytes_copied{database}
///
/// The wal families are listed, without samples, in statement mode too.
///
/// `backend` is the backend's configured name and `role` its role (primary or mirror) at the time
/// of the event: after SWAP ROLES (swap_roles()) the cloud's answers as the primary are counted
/// apart from its answers as the mirror. Every series is present from the start with 0, except
/// errors, which appear per SQLSTATE class once one is counted (there are 1296 possible classes),
/// and the (backend, role) pairs a swap brings, which appear with it.
///
/// Thread safety: every member function may be called from any thread at any time. Counting is a
/// relaxed atomic increment or two, with no lock; render() reads the counters one by one, so a
/// scrape taken while events are counted may see some of them and not others.
class Metrics {
 public:
  /// `primary_name` and `mirror_name` label the backends (e.g. "onprem" and "cloud").
  Metrics(std::string primary_name, std::string mirror_name);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// One statement of `kind` sent to `backend`.
  void count_query(Backend backend, sql::StatementKind kind) noexcept;
  /// One ErrorResponse from `backend`, counted under its SQLSTATE's class (the first two
  /// characters). A code that is not five digits or upper-case letters counts as class "XX".
  void count_error(Backend backend, std::string_view sqlstate) noexcept;
  /// One query `backend` answered after `latency`; a negative latency counts as 0.
  void observe_latency(Backend backend, std::chrono::microseconds latency) noexcept;
  /// One conflict of `kind`.
  void count_conflict(conflict::ConflictKind kind) noexcept;
  /// One eligible read steered, served by the mirror or the primary.
  void count_steered_read(bool served_by_mirror) noexcept;
  /// One read that failed on the mirror and was retried on the primary.
  void count_read_failover() noexcept;
  /// One trip of the read brake.
  void count_brake_trip() noexcept;
  /// One client session started.
  void count_session_started() noexcept;
  /// One login in progress ended to admit a new connection.
  void count_login_evicted() noexcept;
  /// wal mode: one transaction the client's answer waited for, applied on the mirror in time, or
  /// not within mirror.timeout_ms (then lag, applied later).
  /// How a wal-mode COMMIT's answer went: the mirror applied it in time, not, or the answer did
  /// not wait because verify held the apply.
  enum class WalAck : std::uint8_t { timed_out, applied, held_for_verify, syncing };
  void count_wal_ack(WalAck ack) noexcept;
  /// A wal-mode COMMIT waited `wait` for the mirror's apply after the primary answered it (whatever
  /// the wait's end); a negative wait counts as 0.
  void observe_wal_ack_wait(std::chrono::microseconds wait) noexcept;

  /// SWAP ROLES took effect: from now on each role is counted under the other backend's name. The
  /// pairs counted so far keep their series, so that no counter goes back: after the first swap
  /// all four (backend, role) pairs are listed.
  void swap_roles() noexcept;

  /// Every family, in the order listed above, each with `# HELP` and `# TYPE` before its samples,
  /// label values escaped, every line ending in "\n".
  [[nodiscard]] std::string render(const MetricsGauges& gauges) const;

 private:
  using Counter = std::atomic<std::uint64_t>;
  static constexpr std::size_t kBackends = 2;
  /// StatementKind::write is the last enumerator.
  static constexpr std::size_t kStatementKinds = static_cast<std::size_t>(sql::StatementKind::write) + 1;
  /// An SQLSTATE character is a digit or an upper-case letter: 36 ** 2 classes.
  static constexpr std::size_t kErrorClasses = 36 * 36;

  struct Latencies {
    std::array<Counter, kLatencyBucketBoundsMicros.size() + 1> buckets{};  ///< not cumulative; +Inf last
    Counter sum_micros{0};
    void observe(std::chrono::microseconds latency) noexcept;
  };

  void render_queries(std::string& out) const;
  void render_errors(std::string& out) const;
  void render_latencies(std::string& out) const;
  /// One histogram's buckets, sum and count, with `labels` (empty: none).
  static void render_histogram(std::string& out, std::string_view name, const std::string& labels,
                               const Latencies& latencies);
  void render_conflicts(std::string& out) const;
  void render_reads(std::string& out) const;
  /// A (backend, role) pair's place in the per-backend counters: the backend as named at the
  /// start times two, plus the role (Backend).
  static constexpr std::size_t kPairs = kBackends * 2;
  /// Where `role` is counted now.
  [[nodiscard]] std::size_t pair_of(Backend role) const noexcept;
  /// Whether `pair` is listed: the pairs in use now, and every pair once the roles were swapped.
  [[nodiscard]] bool listed(std::size_t pair) const noexcept;
  /// The `backend="...",role="..."` labels of `pair`, escaped.
  [[nodiscard]] std::string backend_labels(std::size_t pair) const;

  std::array<std::string, kBackends> names_;  ///< by Backend, as the roles were at the start
  std::atomic<bool> swapped_{false};          ///< the roles are the other way round from the start's
  std::atomic<bool> ever_swapped_{false};
  std::array<std::array<Counter, kStatementKinds>, kPairs> queries_{};  ///< by pair_of()
  std::array<std::array<Counter, kErrorClasses>, kPairs> errors_{};    ///< by pair_of()
  std::array<Latencies, kPairs> latencies_{};                          ///< by pair_of()
  std::array<Counter, conflict::kAllConflictKinds.size()> conflicts_{};
  std::array<Counter, kBackends> steered_reads_{};  ///< indexed by the Backend that served them
  Counter read_failovers_{0};
  Counter brake_trips_{0};
  Counter sessions_started_{0};
  Counter logins_evicted_{0};
  std::array<Counter, 4> wal_acks_{};  ///< by WalAck
  Latencies wal_ack_waits_{};
};

}  // namespace pgdual::proxy
