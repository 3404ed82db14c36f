#include "proxy/admin/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

namespace pgdual::proxy {
namespace {

// The `le` labels of kLatencyBucketBoundsMicros, in seconds, then +Inf.
constexpr std::array<std::string_view, kLatencyBucketBoundsMicros.size() + 1> kLatencyBucketLabels = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "+Inf"};

constexpr std::array<std::string_view, 2> kRoleNames = {"primary", "mirror"};  // indexed by Backend

// conflicts_ is indexed by the enumerator's value, which must be its place in kAllConflictKinds.
constexpr bool conflict_kinds_in_declaration_order() {
  for (std::size_t i = 0; i < conflict::kAllConflictKinds.size(); ++i) {
    if (static_cast<std::size_t>(conflict::kAllConflictKinds[i]) != i) return false;
  }
  return true;
}
static_assert(conflict_kinds_in_declaration_order());

constexpr std::size_t index_of(Backend backend) noexcept { return static_cast<std::size_t>(backend); }

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  counter.fetch_add(by, std::memory_order_relaxed);
}

std::uint64_t read(const std::atomic<std::uint64_t>& counter) noexcept {
  return counter.load(std::memory_order_relaxed);
}

// An SQLSTATE character's place among 0-9A-Z, or -1.
int sqlstate_char_index(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return 10 + (c - 'A');
  return -1;
}

char sqlstate_char(std::size_t index) noexcept {
  return index < 10 ? static_cast<char>('0' + index) : static_cast<char>('A' + (index - 10));
}

// The class index of a well-formed SQLSTATE, else class XX's (internal_error).
std::size_t error_class_index(std::string_view sqlstate) noexcept {
  bool well_formed = sqlstate.size() == 5;
  for (const char c : sqlstate) well_formed = well_formed && sqlstate_char_index(c) >= 0;
  if (!well_formed) sqlstate = "XX";
  return static_cast<std::size_t>(sqlstate_char_index(sqlstate[0]) * 36 + sqlstate_char_index(sqlstate[1]));
}

// A label value as the exposition format quotes it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// A sample value: the shortest text that reads back as `value`, or NaN, +Inf, -Inf.
std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, 32> text{};
  const auto [end, error] = std::to_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc{} ? std::string(text.data(), end) : "NaN";
}

void append_family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// `labels` is empty or the escaped `key="value",...` list, without braces.
void append_sample(std::string& out, std::string_view name, std::string_view labels, std::string_view value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
  append_sample(out, name, labels, std::to_string(value));
}

void append_counter(std::string& out, std::string_view name, std::string_view help, std::uint64_t value) {
  append_family(out, name, "counter", help);
  append_sample(out, name, "", value);
}

void append_gauge(std::string& out, std::string_view name, std::string_view help, double value) {
  append_family(out, name, "gauge", help);
  append_sample(out, name, "", format_value(value));
}

// One family at a time, as the exposition format wants a family's samples together.
void render_wal_mirrors(std::string& out, const std::vector<WalMirrorGauges>& mirrors) {
  struct Family {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    std::string (*value)(const WalMirrorGauges&);
  };
  static constexpr std::array<Family, 13> kFamilies{{
      {"pgdual_wal_lag_bytes", "gauge", "WAL the primary wrote that the database's slot has not confirmed, in bytes.",
       [](const WalMirrorGauges& m) { return std::to_string(m.lag_bytes); }},
      {"pgdual_wal_lag_seconds", "gauge",
       "How long the oldest change the slot has not confirmed has waited, at least; 1 s resolution.",
       [](const WalMirrorGauges& m) { return format_value(m.lag_seconds); }},
      {"pgdual_wal_retained_bytes", "gauge", "WAL the database's slot keeps on the primary's disk, in bytes.",
       [](const WalMirrorGauges& m) { return std::to_string(m.retained_bytes); }},
      {"pgdual_wal_applied_transactions_total", "counter",
       "Transactions of the database the apply committed on the mirror since pgdual started.",
       [](const WalMirrorGauges& m) { return std::to_string(m.applied_transactions); }},
      {"pgdual_wal_mirror_up", "gauge", "1 while the apply reads the database's slot; 0 when failing or given up.",
       [](const WalMirrorGauges& m) { return std::string{m.up ? "1" : "0"}; }},
      {"pgdual_wal_applying", "gauge",
       "1 while this pgdual instance holds the database's apply lease and applies its WAL to the mirror.",
       [](const WalMirrorGauges& m) { return std::string{m.applying ? "1" : "0"}; }},
      {"pgdual_instances", "gauge", "pgdual instances in front of the database's servers, this one included.",
       [](const WalMirrorGauges& m) { return std::to_string(m.instances); }},
      {"pgdual_wal_keys_heard_total", "counter",
       "Transactions of this instance's sessions that another instance's apply committed on the mirror.",
       [](const WalMirrorGauges& m) { return std::to_string(m.keys_heard); }},
      {"pgdual_sync_state", "gauge",
       "pgdual sync's state for the database: 0 never synced, 1 waiting for a sync, 2 copying, 3 catching up, 4 in sync.",
       [](const WalMirrorGauges& m) { return std::to_string(m.sync_state); }},
      {"pgdual_sync_tables_total", "gauge", "Tables pgdual sync copies for the database.",
       [](const WalMirrorGauges& m) { return std::to_string(m.sync_tables_total); }},
      {"pgdual_sync_tables_done", "gauge", "Tables pgdual sync has copied for the database.",
       [](const WalMirrorGauges& m) { return std::to_string(m.sync_tables_done); }},
      {"pgdual_sync_rows_copied", "gauge", "Rows pgdual sync has copied for the database.",
       [](const WalMirrorGauges& m) { return std::to_string(m.sync_rows_copied); }},
      {"pgdual_sync_bytes_copied", "gauge", "Bytes of COPY data pgdual sync has copied for the database.",
       [](const WalMirrorGauges& m) { return std::to_string(m.sync_bytes_copied); }},
  }};
  for (const auto& family : kFamilies) {
    append_family(out, family.name, family.type, family.help);
    for (const auto& mirror : mirrors) {
      append_sample(out, family.name, "database=\"" + escape_label_value(mirror.database) + "\"",
                    family.value(mirror));
    }
  }
}

// One sample per fingerprint and finding; a fingerprint is a hash of the statement's shape, never its text.
void render_shadows(std::string& out, const MetricsGauges& gauges) {
  constexpr std::string_view kName = "pgdual_shadow_reads_total";
  append_family(out, kName, "counter",
                "Reads the primary answered that ran on the mirror too, by statement fingerprint and what comparing "
                "the answers found.");
  for (const auto& counts : gauges.shadows) {
    const auto fingerprint = "fingerprint=\"" + escape_label_value(counts.fingerprint) + "\",result=\"";
    for (std::size_t finding = 0; finding < kShadowFindings; ++finding) {
      append_sample(out, kName, fingerprint + std::string{to_string(static_cast<ShadowFinding>(finding))} + "\"",
                    counts.counts[finding]);
    }
  }
  append_gauge(out, "pgdual_shadow_percent", "Percent of the eligible reads the primary answers that run on the mirror too.",
               gauges.shadow_percent);
  append_gauge(out, "pgdual_mirror_latency_ratio_p99",
               "99th percentile of the mirror's latency over the primary's for the same statements; 0 without samples.",
               gauges.latency_ratio_p99);
}

}  // namespace

Metrics::Metrics(std::string primary_name, std::string mirror_name)
    : names_{std::move(primary_name), std::move(mirror_name)} {}

std::size_t Metrics::pair_of(Backend role) const noexcept {
  const auto index = index_of(role);
  const auto named = swapped_.load(std::memory_order_relaxed) ? 1 - index : index;
  return named * 2 + index;
}

bool Metrics::listed(std::size_t pair) const noexcept {
  if (ever_swapped_.load(std::memory_order_relaxed)) return true;
  return pair == pair_of(Backend::primary) || pair == pair_of(Backend::mirror);
}

void Metrics::swap_roles() noexcept {
  ever_swapped_ = true;
  swapped_ = !swapped_.load();
}

void Metrics::count_query(Backend backend, sql::StatementKind kind) noexcept {
  bump(queries_[pair_of(backend)][static_cast<std::size_t>(kind)]);
}

void Metrics::count_error(Backend backend, std::string_view sqlstate) noexcept {
  bump(errors_[pair_of(backend)][error_class_index(sqlstate)]);
}

void Metrics::Latencies::observe(std::chrono::microseconds latency) noexcept {
  const auto micros = std::max<std::int64_t>(latency.count(), 0);
  std::size_t bucket = 0;
  while (bucket < kLatencyBucketBoundsMicros.size() && micros > kLatencyBucketBoundsMicros[bucket]) ++bucket;
  bump(buckets[bucket]);
  bump(sum_micros, static_cast<std::uint64_t>(micros));
}

void Metrics::observe_latency(Backend backend, std::chrono::microseconds latency) noexcept {
  latencies_[pair_of(backend)].observe(latency);
}

void Metrics::observe_wal_ack_wait(std::chrono::microseconds wait) noexcept { wal_ack_waits_.observe(wait); }

void Metrics::count_conflict(conflict::ConflictKind kind) noexcept { bump(conflicts_[static_cast<std::size_t>(kind)]); }

void Metrics::count_steered_read(bool served_by_mirror) noexcept {
  bump(steered_reads_[index_of(served_by_mirror ? Backend::mirror : Backend::primary)]);
}

void Metrics::count_read_failover() noexcept { bump(read_failovers_); }

void Metrics::count_brake_trip() noexcept { bump(brake_trips_); }

void Metrics::count_session_started() noexcept { bump(sessions_started_); }

void Metrics::count_login_evicted() noexcept { bump(logins_evicted_); }

void Metrics::count_wal_ack(WalAck ack) noexcept { bump(wal_acks_[static_cast<std::size_t>(ack)]); }

std::string Metrics::render(const MetricsGauges& gauges) const {
  std::string out;
  out.reserve(8192);
  render_queries(out);
  render_errors(out);
  render_latencies(out);
  render_conflicts(out);
  render_reads(out);
  append_counter(out, "pgdual_read_failovers_total", "Reads that failed on the mirror and were retried on the primary.",
                 read(read_failovers_));
  append_counter(out, "pgdual_brake_trips_total", "Times the read brake stopped steering reads to the mirror.",
                 read(brake_trips_));
  append_counter(out, "pgdual_sessions_total", "Client sessions started.", read(sessions_started_));
  append_counter(out, "pgdual_logins_evicted_total",
                 "Connections still logging in that pgdual ended to admit a new one (limits.max_logins_in_progress).",
                 read(logins_evicted_));
  constexpr std::string_view kWalAcks = "pgdual_wal_acks_total";
  append_family(
      out, kWalAcks, "counter",
      "Transactions answered in wal mode: the mirror applied them within mirror.timeout_ms, not, or the answer "
      "did not wait while pgdual verify held the apply or pgdual sync had not brought the mirror in sync.");
  append_sample(out, kWalAcks, "result=\"applied\"", read(wal_acks_[static_cast<std::size_t>(WalAck::applied)]));
  append_sample(out, kWalAcks, "result=\"timed_out\"", read(wal_acks_[static_cast<std::size_t>(WalAck::timed_out)]));
  append_sample(out, kWalAcks, "result=\"held_for_verify\"",
                read(wal_acks_[static_cast<std::size_t>(WalAck::held_for_verify)]));
  append_sample(out, kWalAcks, "result=\"syncing\"", read(wal_acks_[static_cast<std::size_t>(WalAck::syncing)]));
  constexpr std::string_view kWalAckWait = "pgdual_wal_ack_wait_seconds";
  append_family(out, kWalAckWait, "histogram",
                "wal mode: how long a COMMIT's answer waited, once the primary had given it, for the mirror's apply.");
  render_histogram(out, kWalAckWait, {}, wal_ack_waits_);
  append_gauge(out, "pgdual_read_percent", "Percent of eligible reads steered to the mirror.", gauges.read_percent);
  append_gauge(out, "pgdual_read_brake_engaged", "1 while the read brake holds read steering at 0.",
               gauges.braked ? 1.0 : 0.0);
  append_gauge(out, "pgdual_sessions", "Client sessions open, logged in.", static_cast<double>(gauges.sessions));
  append_gauge(out, "pgdual_logins_in_progress", "Client connections still logging in.",
               static_cast<double>(gauges.logins_in_progress));
  append_gauge(out, "pgdual_writes_paused",
               "1 while PAUSE WRITES holds new write transactions (pausing or paused), else 0.",
               gauges.writes_paused ? 1.0 : 0.0);
  append_gauge(out, "pgdual_writes_waiting", "Client sessions whose write transaction waits for RESUME WRITES.",
               static_cast<double>(gauges.writes_waiting));
  append_gauge(out, "pgdual_write_transactions_in_flight",
               "Write transactions running on the primary, that a PAUSE WRITES waits for.",
               static_cast<double>(gauges.write_transactions_in_flight));
  append_gauge(out, "pgdual_roles_swapped",
               "1 while SWAP ROLES has made the primary another backend than routing.primary in the file, else 0.",
               gauges.roles_swapped ? 1.0 : 0.0);
  render_wal_mirrors(out, gauges.wal_mirrors);
  render_shadows(out, gauges);
  return out;
}

std::string Metrics::backend_labels(std::size_t pair) const {
  return "backend=\"" + escape_label_value(names_[pair / 2]) + "\",role=\"" + std::string{kRoleNames[pair % 2]} + "\"";
}

void Metrics::render_queries(std::string& out) const {
  constexpr std::string_view kName = "pgdual_queries_total";
  append_family(out, kName, "counter", "Statements sent to a backend, by kind.");
  for (std::size_t pair = 0; pair < kPairs; ++pair) {
    if (!listed(pair)) continue;
    const auto labels = backend_labels(pair);
    for (std::size_t kind = 0; kind < kStatementKinds; ++kind) {
      const auto kind_name = sql::to_string(static_cast<sql::StatementKind>(kind));
      append_sample(out, kName, labels + ",kind=\"" + std::string{kind_name} + "\"", read(queries_[pair][kind]));
    }
  }
}

void Metrics::render_errors(std::string& out) const {
  constexpr std::string_view kName = "pgdual_errors_total";
  append_family(out, kName, "counter", "ErrorResponses from a backend, by SQLSTATE class.");
  for (std::size_t pair = 0; pair < kPairs; ++pair) {
    const auto labels = backend_labels(pair);
    for (std::size_t error_class = 0; error_class < kErrorClasses; ++error_class) {
      const auto count = read(errors_[pair][error_class]);
      if (count == 0) continue;
      const std::string class_name{sqlstate_char(error_class / 36), sqlstate_char(error_class % 36)};
      append_sample(out, kName, labels + ",class=\"" + class_name + "\"", count);
    }
  }
}

// The buckets are counted apart and summed here, so the +Inf bucket always equals _count.
void Metrics::render_latencies(std::string& out) const {
  constexpr std::string_view kName = "pgdual_query_duration_seconds";
  append_family(out, kName, "histogram", "Time from sending a query to a backend to its complete answer.");
  for (std::size_t pair = 0; pair < kPairs; ++pair) {
    if (listed(pair)) render_histogram(out, kName, backend_labels(pair), latencies_[pair]);
  }
}

void Metrics::render_histogram(std::string& out, std::string_view name, const std::string& labels,
                               const Latencies& latencies) {
  const std::string prefix = labels.empty() ? std::string{} : labels + ",";
  const std::string bucket_name = std::string{name} + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t bucket = 0; bucket < latencies.buckets.size(); ++bucket) {
    cumulative += read(latencies.buckets[bucket]);
    append_sample(out, bucket_name, prefix + "le=\"" + std::string{kLatencyBucketLabels[bucket]} + "\"", cumulative);
  }
  const auto sum_seconds = static_cast<double>(read(latencies.sum_micros)) / 1e6;
  append_sample(out, std::string{name} + "_sum", labels, format_value(sum_seconds));
  append_sample(out, std::string{name} + "_count", labels, cumulative);
}

void Metrics::render_conflicts(std::string& out) const {
  constexpr std::string_view kName = "pgdual_conflicts_total";
  append_family(out, kName, "counter", "Conflicts recorded: units on which the backends disagreed, by kind.");
  for (const auto kind : conflict::kAllConflictKinds) {
    if (kind == conflict::ConflictKind::cutover) continue;  // an audit record, never a disagreement
    append_sample(out, kName, "kind=\"" + std::string{conflict::to_string(kind)} + "\"",
                  read(conflicts_[static_cast<std::size_t>(kind)]));
  }
}

void Metrics::render_reads(std::string& out) const {
  constexpr std::string_view kName = "pgdual_reads_total";
  append_family(out, kName, "counter", "Eligible reads, by the role of the backend that served them.");
  for (std::size_t backend = 0; backend < kBackends; ++backend) {
    append_sample(out, kName, "served_by=\"" + std::string{kRoleNames[backend]} + "\"", read(steered_reads_[backend]));
  }
}

}  // namespace pgdual::proxy
