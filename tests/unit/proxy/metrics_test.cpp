#include "proxy/admin/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using std::chrono::microseconds;

// ---- A small validator of the Prometheus text exposition format 0.0.4 ----

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0.0;
};

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// Reads a metric or label name at the front of `text`, consuming it.
std::optional<std::string> take_name(std::string_view& text) {
  if (text.empty() || !is_name_start(text.front())) return std::nullopt;
  std::size_t length = 1;
  while (length < text.size() && is_name_char(text[length])) ++length;
  std::string name{text.substr(0, length)};
  text.remove_prefix(length);
  return name;
}

// Reads `"value"` with \\, \" and \n escapes at the front of `text`, consuming it.
std::optional<std::string> take_quoted(std::string_view& text) {
  if (text.empty() || text.front() != '"') return std::nullopt;
  std::string value;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      text.remove_prefix(i + 1);
      return value;
    }
    if (c == '\n') return std::nullopt;
    if (c != '\\') {
      value += c;
      continue;
    }
    if (++i == text.size()) return std::nullopt;
    if (text[i] == 'n') {
      value += '\n';
    } else if (text[i] == '\\' || text[i] == '"') {
      value += text[i];
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<double> parse_value(std::string_view text) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  const std::string owned{text};
  char* end = nullptr;
  const double value = std::strtod(owned.c_str(), &end);
  if (owned.empty() || end != owned.c_str() + owned.size()) return std::nullopt;
  return value;
}

// `name{label="value",...} value`, with no timestamp.
std::optional<Sample> parse_sample(std::string_view line) {
  Sample sample;
  auto name = take_name(line);
  if (!name) return std::nullopt;
  sample.name = *name;
  if (!line.empty() && line.front() == '{') {
    line.remove_prefix(1);
    while (!line.empty() && line.front() != '}') {
      auto label = take_name(line);
      if (!label || line.empty() || line.front() != '=') return std::nullopt;
      line.remove_prefix(1);
      auto value = take_quoted(line);
      if (!value || !sample.labels.emplace(*label, *value).second) return std::nullopt;
      if (!line.empty() && line.front() == ',') line.remove_prefix(1);
    }
    if (line.empty()) return std::nullopt;
    line.remove_prefix(1);
  }
  if (line.empty() || line.front() != ' ') return std::nullopt;
  line.remove_prefix(1);
  const auto value = parse_value(line);
  if (!value) return std::nullopt;
  sample.value = *value;
  return sample;
}

std::string without_le(const Sample& sample) {
  std::string key = sample.name.substr(0, sample.name.rfind('_'));
  for (const auto& [label, value] : sample.labels) {
    if (label != "le") key += "|" + label + "=" + value;
  }
  return key;
}

struct HistogramSeries {
  std::vector<std::pair<std::string, double>> buckets;  // le, cumulative count, in order
  std::optional<double> count;
  std::optional<double> sum;
};

std::vector<std::string> histogram_problems(const std::map<std::string, HistogramSeries>& series) {
  std::vector<std::string> problems;
  for (const auto& [key, histogram] : series) {
    if (histogram.buckets.empty() || histogram.buckets.back().first != "+Inf") {
      problems.push_back(key + ": the last bucket is not +Inf");
      continue;
    }
    for (std::size_t i = 1; i < histogram.buckets.size(); ++i) {
      if (histogram.buckets[i].second < histogram.buckets[i - 1].second) problems.push_back(key + ": buckets decrease");
      if (*parse_value(histogram.buckets[i].first) <= *parse_value(histogram.buckets[i - 1].first)) {
        problems.push_back(key + ": bucket bounds do not increase");
      }
    }
    if (!histogram.sum) problems.push_back(key + ": no _sum");
    if (!histogram.count || *histogram.count != histogram.buckets.back().second) {
      problems.push_back(key + ": _count differs from the +Inf bucket");
    }
  }
  return problems;
}

// Every problem found in `text`, empty when it is valid exposition text.
std::vector<std::string> exposition_problems(std::string_view text) {
  std::vector<std::string> problems;
  if (!text.ends_with('\n')) problems.emplace_back("the text does not end in a newline");
  std::set<std::string> families;
  std::string family;
  std::string type;
  bool help_seen = false;
  std::set<std::string> series_seen;
  std::map<std::string, HistogramSeries> histograms;
  std::istringstream lines{std::string{text}};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# HELP ")) {
      std::string_view rest{line};
      rest.remove_prefix(7);
      auto name = take_name(rest);
      if (!name || rest.size() < 2 || rest.front() != ' ') problems.push_back("bad HELP: " + line);
      if (name && !families.insert(*name).second) problems.push_back("family repeated: " + *name);
      family = name.value_or("");
      type.clear();
      help_seen = true;
    } else if (line.starts_with("# TYPE ")) {
      std::string_view rest{line};
      rest.remove_prefix(7);
      const auto name = take_name(rest);
      if (!help_seen || name != family) problems.push_back("TYPE without its HELP: " + line);
      type = rest.starts_with(' ') ? std::string{rest.substr(1)} : "";
      if (type != "counter" && type != "gauge" && type != "histogram") problems.push_back("bad TYPE: " + line);
      help_seen = false;
    } else if (line.starts_with("#") || line.empty()) {
      problems.push_back("unexpected line: " + line);
    } else {
      const auto sample = parse_sample(line);
      if (!sample) {
        problems.push_back("not a sample: " + line);
        continue;
      }
      if (type.empty()) problems.push_back("sample before its family's HELP and TYPE: " + line);
      if (!series_seen.insert(line.substr(0, line.rfind(' '))).second) problems.push_back("repeated: " + line);
      if (type != "histogram") {
        if (sample->name != family) problems.push_back("sample outside its family: " + line);
        continue;
      }
      auto& histogram = histograms[without_le(*sample)];
      if (sample->name == family + "_bucket" && sample->labels.contains("le")) {
        histogram.buckets.emplace_back(sample->labels.at("le"), sample->value);
      } else if (sample->name == family + "_sum") {
        histogram.sum = sample->value;
      } else if (sample->name == family + "_count") {
        histogram.count = sample->value;
      } else {
        problems.push_back("sample outside its histogram: " + line);
      }
    }
  }
  for (auto& problem : histogram_problems(histograms)) problems.push_back(std::move(problem));
  return problems;
}

void check_valid_exposition(const std::string& text) {
  const auto problems = exposition_problems(text);
  for (const auto& problem : problems) UNSCOPED_INFO(problem);
  CHECK(problems.empty());
}

// ---- Helpers ----

// The value text of the sample whose name and labels are exactly `series`, or nullopt.
std::optional<std::string> value_of(const std::string& text, std::string_view series) {
  const std::string prefix = std::string{series} + " ";
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(prefix)) return line.substr(prefix.size());
  }
  return std::nullopt;
}

std::size_t count_lines_starting(const std::string& text, std::string_view prefix) {
  std::size_t count = 0;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) count += line.starts_with(prefix) ? 1 : 0;
  return count;
}

const MetricsGauges kGauges{.read_percent = 12.5, .braked = true, .sessions = 3, .logins_in_progress = 4};

}  // namespace

TEST_CASE("Fresh metrics list every query kind and conflict kind at 0, the cutover's audit records left out",
          "[unit][proxy][metrics]") {
  const Metrics metrics{"onprem", "cloud"};
  const auto text = metrics.render(MetricsGauges{});
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_queries_total{backend="onprem",role="primary",kind="read"})") == "0");
  CHECK(value_of(text, R"(pgdual_queries_total{backend="cloud",role="mirror",kind="copy_in"})") == "0");
  CHECK(count_lines_starting(text, "pgdual_queries_total{") == 14);
  for (const auto kind : conflict::kAllConflictKinds) {
    if (kind == conflict::ConflictKind::cutover) continue;
    const auto series = "pgdual_conflicts_total{kind=\"" + std::string{conflict::to_string(kind)} + "\"}";
    INFO(series);
    CHECK(value_of(text, series) == "0");
  }
  CHECK(count_lines_starting(text, "pgdual_conflicts_total{") == conflict::kAllConflictKinds.size() - 1);
  CHECK(count_lines_starting(text, "pgdual_conflicts_total{kind=\"cutover\"}") == 0);
  CHECK(count_lines_starting(text, "pgdual_errors_total{") == 0);
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_count{backend="cloud",role="mirror"})") == "0");
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_sum{backend="cloud",role="mirror"})") == "0");
}

TEST_CASE("Queries are counted by backend name, role and statement kind", "[unit][proxy][metrics]") {
  Metrics metrics{"onprem", "cloud"};
  metrics.count_query(Backend::primary, sql::StatementKind::read);
  metrics.count_query(Backend::primary, sql::StatementKind::read);
  metrics.count_query(Backend::mirror, sql::StatementKind::write);
  const auto text = metrics.render(MetricsGauges{});
  CHECK(value_of(text, R"(pgdual_queries_total{backend="onprem",role="primary",kind="read"})") == "2");
  CHECK(value_of(text, R"(pgdual_queries_total{backend="onprem",role="primary",kind="write"})") == "0");
  CHECK(value_of(text, R"(pgdual_queries_total{backend="cloud",role="mirror",kind="write"})") == "1");
  CHECK(value_of(text, R"(pgdual_queries_total{backend="cloud",role="mirror",kind="read"})") == "0");
}

TEST_CASE("Errors are counted by SQLSTATE class, and malformed codes as class XX", "[unit][proxy][metrics]") {
  Metrics metrics{"onprem", "cloud"};
  metrics.count_error(Backend::primary, "42P01");
  metrics.count_error(Backend::primary, "42601");
  metrics.count_error(Backend::mirror, "08006");
  metrics.count_error(Backend::mirror, "XX000");
  for (const std::string_view malformed : {"", "42", "42P0", "42P011", "42p01", "4 601", "42P0\n"}) {
    metrics.count_error(Backend::mirror, malformed);
  }
  const auto text = metrics.render(MetricsGauges{});
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_errors_total{backend="onprem",role="primary",class="42"})") == "2");
  CHECK(value_of(text, R"(pgdual_errors_total{backend="cloud",role="mirror",class="08"})") == "1");
  CHECK(value_of(text, R"(pgdual_errors_total{backend="cloud",role="mirror",class="XX"})") == "8");
  CHECK(count_lines_starting(text, "pgdual_errors_total{") == 3);
}

TEST_CASE("Latencies fill cumulative buckets, with upper bounds inclusive", "[unit][proxy][metrics]") {
  Metrics metrics{"onprem", "cloud"};
  for (const auto micros : {300, 500, 501, 7'000'000, 20'000'000, -5}) {
    metrics.observe_latency(Backend::mirror, microseconds{micros});
  }
  const auto text = metrics.render(MetricsGauges{});
  check_valid_exposition(text);
  const auto bucket = [&](std::string_view le) {
    return value_of(text, R"(pgdual_query_duration_seconds_bucket{backend="cloud",role="mirror",le=")" +
                              std::string{le} + "\"}");
  };
  CHECK(bucket("0.0005") == "3");  // -5 (as 0), 300 and 500
  CHECK(bucket("0.001") == "4");
  CHECK(bucket("5") == "4");
  CHECK(bucket("10") == "5");
  CHECK(bucket("+Inf") == "6");
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_count{backend="cloud",role="mirror"})") == "6");
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_sum{backend="cloud",role="mirror"})") == "27.001301");
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_count{backend="onprem",role="primary"})") == "0");
  CHECK(count_lines_starting(text, R"(pgdual_query_duration_seconds_bucket{backend="cloud")") ==
        kLatencyBucketBoundsMicros.size() + 1);
}

TEST_CASE("Conflicts, reads, failovers, brake trips, sessions, evicted logins and gauges are rendered", "[unit][proxy][metrics]") {
  Metrics metrics{"onprem", "cloud"};
  metrics.count_conflict(conflict::ConflictKind::row_count);
  metrics.count_conflict(conflict::ConflictKind::row_count);
  metrics.count_conflict(conflict::ConflictKind::nondeterministic);
  metrics.count_steered_read(true);
  metrics.count_steered_read(false);
  metrics.count_steered_read(false);
  metrics.count_read_failover();
  metrics.count_brake_trip();
  metrics.count_session_started();
  metrics.count_session_started();
  metrics.count_login_evicted();
  const auto text = metrics.render(kGauges);
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_conflicts_total{kind="row_count"})") == "2");
  CHECK(value_of(text, R"(pgdual_conflicts_total{kind="nondeterministic"})") == "1");
  CHECK(value_of(text, R"(pgdual_conflicts_total{kind="mirror_timeout"})") == "0");
  CHECK(value_of(text, R"(pgdual_reads_total{served_by="mirror"})") == "1");
  CHECK(value_of(text, R"(pgdual_reads_total{served_by="primary"})") == "2");
  CHECK(value_of(text, "pgdual_read_failovers_total") == "1");
  CHECK(value_of(text, "pgdual_brake_trips_total") == "1");
  CHECK(value_of(text, "pgdual_sessions_total") == "2");
  CHECK(value_of(text, "pgdual_read_percent") == "12.5");
  CHECK(value_of(text, "pgdual_read_brake_engaged") == "1");
  CHECK(value_of(text, "pgdual_sessions") == "3");
  CHECK(value_of(text, "pgdual_logins_evicted_total") == "1");
  CHECK(value_of(text, "pgdual_logins_in_progress") == "4");
  CHECK(value_of(Metrics{"a", "b"}.render(MetricsGauges{}), "pgdual_read_brake_engaged") == "0");
}

TEST_CASE("wal mode's acknowledgements are counted by whether the mirror applied them in time",
          "[unit][proxy][metrics]") {
  Metrics metrics{"onprem", "cloud"};
  metrics.count_wal_ack(Metrics::WalAck::applied);
  metrics.count_wal_ack(Metrics::WalAck::applied);
  metrics.count_wal_ack(Metrics::WalAck::timed_out);
  metrics.count_wal_ack(Metrics::WalAck::held_for_verify);
  const auto text = metrics.render(kGauges);
  CHECK(text.find("pgdual_wal_acks_total{result=\"applied\"} 2\n") != std::string::npos);
  CHECK(text.find("pgdual_wal_acks_total{result=\"timed_out\"} 1\n") != std::string::npos);
  CHECK(text.find("pgdual_wal_acks_total{result=\"held_for_verify\"} 1\n") != std::string::npos);
}

TEST_CASE("wal-mode COMMITs' waits for the mirror are a histogram without labels", "[unit][proxy][metrics]") {
  Metrics metrics{"onprem", "cloud"};
  metrics.observe_wal_ack_wait(std::chrono::microseconds{800});
  metrics.observe_wal_ack_wait(std::chrono::microseconds{3'000});
  metrics.observe_wal_ack_wait(std::chrono::microseconds{-1});
  const auto text = metrics.render(kGauges);
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_wal_ack_wait_seconds_bucket{le="0.0005"})") == "1");
  CHECK(value_of(text, R"(pgdual_wal_ack_wait_seconds_bucket{le="0.001"})") == "2");
  CHECK(value_of(text, R"(pgdual_wal_ack_wait_seconds_bucket{le="0.005"})") == "3");
  CHECK(value_of(text, R"(pgdual_wal_ack_wait_seconds_bucket{le="+Inf"})") == "3");
  CHECK(value_of(text, "pgdual_wal_ack_wait_seconds_sum") == "0.0038");
  CHECK(value_of(text, "pgdual_wal_ack_wait_seconds_count") == "3");
  // The query latencies are untouched by it.
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_count{backend="onprem",role="primary"})") == "0");
}

TEST_CASE("Each database's WAL mirror is rendered with its lag, retained WAL, transactions and whether it is up",
          "[unit][proxy][metrics]") {
  const Metrics metrics{"onprem", "cloud"};
  auto gauges = kGauges;
  gauges.wal_mirrors = {{.database = "ehr",
                         .lag_bytes = 17'179'869'184,
                         .lag_seconds = 3.5,
                         .retained_bytes = 1'000'000'000'000,
                         .applied_transactions = 42,
                         .up = true},
                        {.database = "la\"b", .up = false}};
  const auto text = metrics.render(gauges);
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_wal_lag_bytes{database="ehr"})") == "17179869184");
  CHECK(value_of(text, R"(pgdual_wal_lag_seconds{database="ehr"})") == "3.5");
  CHECK(value_of(text, R"(pgdual_wal_retained_bytes{database="ehr"})") == "1000000000000");
  CHECK(value_of(text, R"(pgdual_wal_applied_transactions_total{database="ehr"})") == "42");
  CHECK(value_of(text, R"(pgdual_wal_mirror_up{database="ehr"})") == "1");
  CHECK(value_of(text, R"(pgdual_wal_mirror_up{database="la\"b"})") == "0");
  CHECK(value_of(text, R"(pgdual_wal_lag_seconds{database="la\"b"})") == "0");
  CHECK(count_lines_starting(text, "pgdual_wal_lag_bytes{") == 2);
}

TEST_CASE("Without WAL mirrors their families are listed with no samples", "[unit][proxy][metrics]") {
  const auto text = Metrics{"onprem", "cloud"}.render(MetricsGauges{});
  check_valid_exposition(text);
  CHECK(text.find("# TYPE pgdual_wal_mirror_up gauge\n") != std::string::npos);
  CHECK(count_lines_starting(text, "pgdual_wal_mirror_up") == 0);
}

TEST_CASE("Families come in a fixed order, each with HELP and TYPE", "[unit][proxy][metrics]") {
  const auto text = Metrics{"onprem", "cloud"}.render(kGauges);
  std::vector<std::string> types;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# TYPE ")) types.push_back(line.substr(7));
  }
  const std::vector<std::string> expected{
      "pgdual_queries_total counter",        "pgdual_errors_total counter",
      "pgdual_query_duration_seconds histogram", "pgdual_conflicts_total counter",
      "pgdual_reads_total counter",          "pgdual_read_failovers_total counter",
      "pgdual_brake_trips_total counter",    "pgdual_sessions_total counter",
      "pgdual_logins_evicted_total counter", "pgdual_wal_acks_total counter",
      "pgdual_wal_ack_wait_seconds histogram",
      "pgdual_read_percent gauge",           "pgdual_read_brake_engaged gauge",     "pgdual_sessions gauge",
      "pgdual_logins_in_progress gauge",     "pgdual_writes_paused gauge",          "pgdual_writes_waiting gauge",
      "pgdual_write_transactions_in_flight gauge", "pgdual_roles_swapped gauge",
      "pgdual_wal_lag_bytes gauge",          "pgdual_wal_lag_seconds gauge",
      "pgdual_wal_retained_bytes gauge",     "pgdual_wal_applied_transactions_total counter",
      "pgdual_wal_mirror_up gauge",          "pgdual_wal_applying gauge",           "pgdual_instances gauge",
      "pgdual_wal_keys_heard_total counter", "pgdual_sync_state gauge",             "pgdual_sync_tables_total gauge",
      "pgdual_sync_tables_done gauge",       "pgdual_sync_rows_copied gauge",       "pgdual_sync_bytes_copied gauge",
      "pgdual_shadow_reads_total counter",   "pgdual_shadow_percent gauge",
      "pgdual_mirror_latency_ratio_p99 gauge"};
  CHECK(types == expected);
  CHECK(count_lines_starting(text, "# HELP ") == expected.size());
}

TEST_CASE("Shadow reads are counted per fingerprint and finding", "[unit][proxy][metrics]") {
  ShadowCounts counts{.fingerprint = "0a1b", .normalized = "SELECT * FROM beds WHERE ward = $1"};
  counts.counts[static_cast<std::size_t>(ShadowFinding::matched)] = 7;
  counts.counts[static_cast<std::size_t>(ShadowFinding::mismatched)] = 2;
  const auto text = Metrics{"onprem", "cloud"}.render(
      MetricsGauges{.shadow_percent = 10, .shadows = {counts}, .latency_ratio_p99 = 1.5});
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_shadow_reads_total{fingerprint="0a1b",result="matched"})") == "7");
  CHECK(value_of(text, R"(pgdual_shadow_reads_total{fingerprint="0a1b",result="mismatched"})") == "2");
  CHECK(value_of(text, R"(pgdual_shadow_reads_total{fingerprint="0a1b",result="varied"})") == "0");
  CHECK(value_of(text, "pgdual_shadow_percent") == "10");
  CHECK(value_of(text, "pgdual_mirror_latency_ratio_p99") == "1.5");
  CHECK(text.find("beds") == std::string::npos);  // a fingerprint, never the statement
}

TEST_CASE("Backend names are escaped in label values", "[unit][proxy][metrics]") {
  Metrics metrics{"on\"prem\\x\nA", "cloud"};
  metrics.count_query(Backend::primary, sql::StatementKind::read);
  const auto text = metrics.render(MetricsGauges{});
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_queries_total{backend="on\"prem\\x\nA",role="primary",kind="read"})") == "1");
  CHECK(text.find("on\"prem") == std::string::npos);
}

TEST_CASE("Gauge values that are not finite are written as Prometheus spells them", "[unit][proxy][metrics]") {
  const Metrics metrics{"onprem", "cloud"};
  const auto nan = metrics.render(MetricsGauges{.read_percent = std::numeric_limits<double>::quiet_NaN()});
  CHECK(value_of(nan, "pgdual_read_percent") == "NaN");
  check_valid_exposition(nan);
  const auto inf = metrics.render(MetricsGauges{.read_percent = std::numeric_limits<double>::infinity()});
  CHECK(value_of(inf, "pgdual_read_percent") == "+Inf");
}

TEST_CASE("Counts from many threads all arrive", "[unit][proxy][metrics]") {
  Metrics metrics{"onprem", "cloud"};
  constexpr int kThreads = 4;
  constexpr int kEach = 20'000;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&metrics] {
        for (int i = 0; i < kEach; ++i) {
          metrics.count_query(Backend::mirror, sql::StatementKind::read);
          metrics.observe_latency(Backend::mirror, microseconds{1'000});
          metrics.count_error(Backend::mirror, "57P01");
        }
      });
    }
    for (int i = 0; i < 50; ++i) check_valid_exposition(metrics.render(kGauges));
  }
  const auto text = metrics.render(kGauges);
  const auto total = std::to_string(kThreads * kEach);
  CHECK(value_of(text, R"(pgdual_queries_total{backend="cloud",role="mirror",kind="read"})") == total);
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_count{backend="cloud",role="mirror"})") == total);
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_sum{backend="cloud",role="mirror"})") == "80");
  CHECK(value_of(text, R"(pgdual_errors_total{backend="cloud",role="mirror",class="57"})") == total);
}

TEST_CASE("The exposition validator rejects broken text", "[unit][proxy][metrics]") {
  CHECK_FALSE(exposition_problems("x 1\n").empty());                                        // no HELP/TYPE
  CHECK_FALSE(exposition_problems("# HELP x h\n# TYPE x counter\nx{a=\"b} 1\n").empty());  // open quote
  CHECK_FALSE(exposition_problems("# HELP x h\n# TYPE x counter\nx 1").empty());           // no final newline
  CHECK_FALSE(exposition_problems("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                                  "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n")
                  .empty());  // buckets decrease
  CHECK(exposition_problems("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                            "h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n")
            .empty());
}

TEST_CASE("promtool accepts the metrics text", "[unit][proxy][metrics]") {
  const std::filesystem::path promtool{"/usr/bin/promtool"};
  if (!std::filesystem::exists(promtool)) {
    WARN("promtool is not installed: the text was checked by this test's validator only");
    return;
  }
  Metrics metrics{"onprem", "cloud"};
  metrics.count_query(Backend::primary, sql::StatementKind::write);
  metrics.count_error(Backend::mirror, "40001");
  metrics.observe_latency(Backend::primary, microseconds{1'234});
  auto gauges = kGauges;
  gauges.wal_mirrors = {{.database = "ehr", .lag_bytes = 8192, .lag_seconds = 2.5, .up = true}};
  const auto text = metrics.render(gauges);
  FILE* pipe = popen("/usr/bin/promtool check metrics", "w");
  REQUIRE(pipe != nullptr);
  CHECK(std::fwrite(text.data(), 1, text.size(), pipe) == text.size());
  const int status = pclose(pipe);
  CHECK(status == 0);
}

TEST_CASE("The write gate's gauges say whether writes are paused, and how many wait and run",
          "[unit][proxy][metrics][cutover]") {
  const Metrics metrics{"onprem", "cloud"};
  const auto open = metrics.render(MetricsGauges{});
  check_valid_exposition(open);
  CHECK(value_of(open, "pgdual_writes_paused") == "0");
  CHECK(value_of(open, "pgdual_writes_waiting") == "0");
  CHECK(value_of(open, "pgdual_write_transactions_in_flight") == "0");
  const auto paused =
      metrics.render(MetricsGauges{.writes_paused = true, .writes_waiting = 7, .write_transactions_in_flight = 2});
  check_valid_exposition(paused);
  CHECK(value_of(paused, "pgdual_writes_paused") == "1");
  CHECK(value_of(paused, "pgdual_writes_waiting") == "7");
  CHECK(value_of(paused, "pgdual_write_transactions_in_flight") == "2");
  CHECK(count_lines_starting(paused, "# TYPE pgdual_writes_paused gauge") == 1);
  CHECK(count_lines_starting(paused, "# HELP pgdual_write_transactions_in_flight ") == 1);
}

TEST_CASE("After SWAP ROLES each role is counted under the other backend, and every pair keeps its series",
          "[unit][proxy][metrics][cutover]") {
  Metrics metrics{"onprem", "cloud"};
  metrics.count_query(Backend::primary, sql::StatementKind::write);
  metrics.count_error(Backend::primary, "42P01");
  metrics.swap_roles();
  metrics.count_query(Backend::primary, sql::StatementKind::write);
  metrics.count_query(Backend::primary, sql::StatementKind::write);
  metrics.count_error(Backend::primary, "42P01");
  metrics.observe_latency(Backend::mirror, std::chrono::milliseconds{2});
  const auto text = metrics.render(MetricsGauges{});
  check_valid_exposition(text);
  CHECK(value_of(text, R"(pgdual_queries_total{backend="onprem",role="primary",kind="write"})") == "1");
  CHECK(value_of(text, R"(pgdual_queries_total{backend="cloud",role="primary",kind="write"})") == "2");
  CHECK(value_of(text, R"(pgdual_queries_total{backend="onprem",role="mirror",kind="write"})") == "0");
  CHECK(value_of(text, R"(pgdual_queries_total{backend="cloud",role="mirror",kind="write"})") == "0");
  CHECK(count_lines_starting(text, "pgdual_queries_total{") == 28);
  CHECK(value_of(text, R"(pgdual_errors_total{backend="onprem",role="primary",class="42"})") == "1");
  CHECK(value_of(text, R"(pgdual_errors_total{backend="cloud",role="primary",class="42"})") == "1");
  CHECK(value_of(text, R"(pgdual_query_duration_seconds_count{backend="onprem",role="mirror"})") == "1");
  metrics.swap_roles();  // and back: on-prem's primary series goes on where it was
  metrics.count_query(Backend::primary, sql::StatementKind::write);
  CHECK(value_of(metrics.render(MetricsGauges{}), R"(pgdual_queries_total{backend="onprem",role="primary",kind="write"})") ==
        "2");
}

TEST_CASE("pgdual_roles_swapped says whether SWAP ROLES left another primary than the file's",
          "[unit][proxy][metrics][cutover]") {
  const Metrics metrics{"onprem", "cloud"};
  CHECK(value_of(metrics.render(MetricsGauges{}), "pgdual_roles_swapped") == "0");
  const auto swapped = metrics.render(MetricsGauges{.roles_swapped = true});
  check_valid_exposition(swapped);
  CHECK(value_of(swapped, "pgdual_roles_swapped") == "1");
}

}  // namespace pgdual::proxy
