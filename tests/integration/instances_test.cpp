// Several pgdual instances in front of the same two servers (docs/deployment.md): one applies each
// database's WAL at a time, every instance's COMMITs wait for the mirror, and when the applying one
// dies or freezes another takes over, with nothing lost and nothing applied twice.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cutover_fixture.h"
#include "tests/integration/harness/loopback.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kInstances = 3;

/// SHOW INSTANCES as one instance's console answers it: one line per instance, `|` between columns
/// instance, listen, host, pid, started, silent_ms, applies, this.
struct InstanceLine {
  std::string listen;
  long silent_ms = 0;
  std::string applies;
  bool self = false;
};

std::vector<InstanceLine> instance_lines(const std::string& text) {
  std::vector<InstanceLine> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> columns;
    std::istringstream fields{line};
    for (std::string field; std::getline(fields, field, '|');) columns.push_back(field);
    if (line.ends_with('|')) columns.emplace_back();
    if (columns.size() != 8) continue;
    lines.push_back(
        {.listen = columns[1], .silent_ms = std::stol(columns[5]), .applies = columns[6], .self = columns[7] == "yes"});
  }
  return lines;
}

/// Writers through the load balancer: each client inserts rows in autocommit, one after the other,
/// and after an error connects again; until the file argv[1] exists. Prints each error's kind, then
/// how many inserts were answered.
constexpr std::string_view kWriters = R"py(
import os, sys, threading, time
import psycopg

stop_file, clients = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
committed = 0

def report(kind, error):
    with lock:
        print(kind, getattr(error, "sqlstate", None) or "-", str(error).splitlines()[0], flush=True)

def writer(client):
    global committed
    conn, n = None, 0
    while not os.path.exists(stop_file):
        if conn is None:
            try:
                conn = psycopg.connect("sslmode=disable", autocommit=True)
            except psycopg.Error as error:
                report("connect-error", error)
                time.sleep(0.05)
                continue
        n += 1
        try:
            conn.execute("INSERT INTO notes (client, n) VALUES (%s, %s)", (client, n))
            with lock:
                committed += 1
        except psycopg.Error as error:
            report("session-error", error)
            conn = None

threads = [threading.Thread(target=writer, args=(client,)) for client in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("committed", committed, flush=True)
)py";

/// HAProxy's configuration: TCP on `port`, round robin over `servers` (a pgdual port and its
/// /metrics port each), each checked on /health every 500 ms, its sessions cut when marked down, a
/// connection it cannot make sent to another.
std::string haproxy_config(std::uint16_t port, const std::vector<std::pair<std::uint16_t, std::uint16_t>>& servers) {
  std::string config =
      "global\n    maxconn 256\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 60s\n"
      "    timeout server 60s\n    timeout check 2s\n    retries 3\n    option redispatch\n"
      "frontend clients\n    bind 127.0.0.1:" + std::to_string(port) + "\n    default_backend pgdual\n"
      "backend pgdual\n    balance roundrobin\n    option httpchk GET /health\n    http-check expect status 200\n"
      "    default-server inter 500ms fall 1 rise 2 on-marked-down shutdown-sessions\n";
  for (std::size_t index = 0; index < servers.size(); ++index) {
    config += "    server pgdual" + std::to_string(index) + " 127.0.0.1:" + std::to_string(servers[index].first) +
              " check port " + std::to_string(servers[index].second) + "\n";
  }
  return config;
}

class InstancesTest : public CutoverTest {
 protected:
  /// pgbench's tables, then pgdual instance 0 (the fixture's) and two more with the same settings
  /// but their own ports, each with its console and /metrics.
  void start_instances(std::string_view label, const std::string& mirror_lines = {}) {
    auto settings = with_metrics(mirror_lines);
    start(label, "SELECT 1", settings);
    make_pgbench_tables();
    metrics_ports_.push_back(metrics_port_);
    for (int extra = 1; extra < kInstances; ++extra) {
      auto own = with_metrics(mirror_lines);
      extras_.emplace_back(std::make_unique<ProxyProcess>(PGDUAL_BINARY, own));
      metrics_ports_.push_back(metrics_port_);
    }
  }

  ProxySettings with_metrics(const std::string& mirror_lines) {
    auto settings = wal_settings();
    settings.mirror_lines += mirror_lines;
    metrics_port_ = free_loopback_port();
    settings.extra = "\n[admin]\nusers = [\"app\"]\n\n[metrics]\naddress = \"127.0.0.1\"\nport = " +
                     std::to_string(metrics_port_) + "\n";
    return settings;
  }

  ProxyProcess& instance(int index) { return index == 0 ? proxy() : *extras_.at(index - 1); }

  Endpoint endpoint_of(int index, const std::string& database) {
    return instance(index).endpoint(kAppUser, kAppPassword, database);
  }

  /// pgbench -N through instance `index`, 2 clients, for `duration`; its report in `dir`.
  Subprocess pgbench_through(int index, const TempDir& dir, std::chrono::seconds duration) {
    ProcessOptions options;
    options.env = endpoint_of(index, database()).libpq_env();
    options.working_dir = dir.path();
    const auto out = dir.path() / ("pgbench-" + std::to_string(index) + ".out");
    return Subprocess{{pg_program("pgbench"), "--no-vacuum", "-N", "--client=2", "--jobs=1",
                       "--time=" + std::to_string(duration.count())},
                      options, out, out};
  }

  /// pgbench_through() every instance, then a pause for the load to settle in.
  std::vector<Subprocess> pgbench_through_all(const TempDir& dir, std::chrono::seconds duration) {
    std::vector<Subprocess> runs;
    for (int index = 0; index < kInstances; ++index) runs.push_back(pgbench_through(index, dir, duration));
    std::this_thread::sleep_for(4s);
    return runs;
  }

  std::vector<InstanceLine> show_instances(int index) {
    const auto shown = run_client({pg_program("psql"), "-X", "-A", "-t", "-c", "SHOW INSTANCES"},
                                  endpoint_of(index, "pgdual"), 10s);
    return shown.exit_code == 0 ? instance_lines(shown.out) : std::vector<InstanceLine>{};
  }

  /// The instances among `candidates` that say they apply the test's database.
  std::vector<int> appliers(const std::vector<int>& candidates) {
    std::vector<int> found;
    for (const int index : candidates) {
      for (const auto& line : show_instances(index)) {
        if (line.self && line.applies == database()) found.push_back(index);
      }
    }
    return found;
  }

  /// Polls until exactly one of `candidates` applies; that one, or nullopt past `limit`.
  std::optional<int> wait_for_one_applier(const std::vector<int>& candidates, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      const auto found = appliers(candidates);
      if (found.size() == 1) return found.front();
      std::this_thread::sleep_for(100ms);
    }
    return std::nullopt;
  }

  /// A sample of instance `index`'s /metrics for the test's database, e.g. pgdual_wal_keys_heard_total.
  long metric(int index, const std::string& family) {
    const auto page = http_get(metrics_ports_.at(index), "/metrics").out;
    const auto prefix = family + "{database=\"" + database() + "\"} ";
    const auto at = page.find(prefix);
    if (at == std::string::npos) return -1;
    return std::stol(page.substr(at + prefix.size()));
  }

  static void check_no_failed_transactions(const TempDir& dir, int index, Subprocess& run) {
    const auto exit_code = run.wait_for(90s);
    REQUIRE(exit_code.has_value());
    const auto output = read_file(dir.path() / ("pgbench-" + std::to_string(index) + ".out"));
    INFO("pgbench through instance " << index << ":\n" << output);
    CHECK(*exit_code == 0);
    CHECK(output.find("number of failed transactions: 0 ") != std::string::npos);
    CHECK(processed(output) > 0);
  }

  void check_servers_identical() {
    const auto waited = wait_until_identical(60s);
    INFO("differing tables:\n" << lines(differing()));
    CHECK(waited.has_value());
    const auto others = differing_sequences_and_large_objects(database(), backends().onprem, mirror());
    INFO("differing sequences and large objects:\n" << lines(others));
    CHECK(others.empty());
  }

  std::vector<std::unique_ptr<ProxyProcess>> extras_;
  std::vector<std::uint16_t> metrics_ports_;
  std::uint16_t metrics_port_ = 0;
};

std::vector<int> all_but(int left_out) {
  std::vector<int> indexes;
  for (int index = 0; index < kInstances; ++index) {
    if (index != left_out) indexes.push_back(index);
  }
  return indexes;
}

TEST_CASE_METHOD(InstancesTest, "Three instances: one applies, all wait for the mirror, a kill -9 is taken over",
                 "[integration][wal][instances]") {
  start_instances("instances_kill");
  TempDir dir{"pgdual-instances"};
  auto runs = pgbench_through_all(dir, 24s);
  const auto applier = wait_for_one_applier({0, 1, 2}, 15s);
  REQUIRE(applier.has_value());
  const auto listed = show_instances(*applier);
  CHECK(listed.size() == kInstances);
  // The others' sessions were answered once the applier told them their keys were applied.
  for (const int other : all_but(*applier)) {
    INFO("instance " << other);
    CHECK(metric(other, "pgdual_wal_keys_heard_total") > 0);
    CHECK(metric(other, "pgdual_wal_applying") == 0);
  }
  CHECK(metric(*applier, "pgdual_wal_applying") == 1);
  // pgdual verify must hold the apply where it runs.
  const int standby = all_but(*applier).front();
  const auto held = run_client({pg_program("psql"), "-X", "-A", "-t", "-c", "HOLD APPLY " + database()},
                               endpoint_of(standby, "pgdual"), 10s);
  INFO(held.describe());
  CHECK(held.exit_code != 0);
  CHECK(says(held, "does not apply database " + database()));
  CHECK(says(held, "127.0.0.1:" + std::to_string(instance(*applier).port()) + " does"));

  instance(*applier).crash();
  const auto crashed_at = Clock::now();
  const auto successor = wait_for_one_applier(all_but(*applier), 30s);
  const auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - crashed_at);
  REQUIRE(successor.has_value());
  WARN("takeover after kill -9 of the applying instance: " << takeover.count() << " ms");

  for (const int survivor : all_but(*applier)) check_no_failed_transactions(dir, survivor, runs.at(survivor));
  static_cast<void>(runs.at(*applier).wait_for(90s));  // its clients lost their connections: expected
  check_servers_identical();
  CHECK(conflicts().empty());

  // Restarted, it stands by: its first session starts its mirror, which finds the lease held.
  instance(*applier).restart();
  check_succeeded(run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, endpoint_of(*applier, database()), 30s));
  std::this_thread::sleep_for(2s);
  CHECK(appliers({0, 1, 2}) == std::vector<int>{*successor});
  // The crashed process's row stays, ever more silent, until it is a minute old.
  const auto listed_again = show_instances(*applier);
  CHECK(listed_again.size() == kInstances + 1);
  CHECK(std::ranges::count_if(listed_again, [](const InstanceLine& line) { return line.silent_ms < 3000; }) ==
        kInstances);

  // A swap on one instance would leave the others writing to the old primary: refused.
  const auto swap = run_client({pg_program("psql"), "-X", "-A", "-t", "-c", "PAUSE WRITES", "-c", "SWAP ROLES", "-c",
                                "RESUME WRITES"},
                               endpoint_of(*successor, "pgdual"), 60s);
  INFO(swap.describe());
  CHECK(says(swap, "other pgdual instances serve database " + database()));
  CHECK(swap.exit_code == 0);  // RESUME WRITES, the last command, was answered
  check_succeeded(run_client({pg_program("psql"), "-X", "-c", "INSERT INTO pgbench_history VALUES (1, 1, 1, 0, now())"},
                             endpoint_of(*successor, database()), 30s));
  CHECK(on_primary("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" +
                   conflict::slot_name_for(database()) + "'") == "1\n");
}

TEST_CASE_METHOD(InstancesTest, "A frozen applying instance is fenced: another applies, and it never applies again",
                 "[integration][wal][instances]") {
  start_instances("instances_stop", "lease_timeout_ms = 2000\n");
  TempDir dir{"pgdual-instances-stop"};
  auto runs = pgbench_through_all(dir, 20s);
  const auto applier = wait_for_one_applier({0, 1, 2}, 15s);
  REQUIRE(applier.has_value());

  REQUIRE(::kill(instance(*applier).pid(), SIGSTOP) == 0);
  const auto stopped_at = Clock::now();
  const auto successor = wait_for_one_applier(all_but(*applier), 30s);
  const auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stopped_at);
  std::this_thread::sleep_for(2s);
  REQUIRE(::kill(instance(*applier).pid(), SIGCONT) == 0);
  REQUIRE(successor.has_value());
  WARN("takeover after SIGSTOP of the applying instance (lease_timeout_ms 2000): " << takeover.count() << " ms");

  for (const int survivor : all_but(*applier)) check_no_failed_transactions(dir, survivor, runs.at(survivor));
  // The frozen one's clients go on once it runs again; its apply found its backend ended.
  check_no_failed_transactions(dir, *applier, runs.at(*applier));
  CHECK(appliers({0, 1, 2}) == std::vector<int>{*successor});
  check_servers_identical();
  CHECK(conflicts().empty());
}

TEST_CASE_METHOD(InstancesTest, "Behind HAProxy, a rolling restart costs only the restarting instance's sessions",
                 "[integration][wal][instances]") {
  start_instances("instances_rolling");
  on_both("CREATE TABLE notes (client int, n int, PRIMARY KEY (client, n)); GRANT ALL ON notes TO app");
  TempDir dir{"pgdual-instances-rolling"};
  std::vector<std::pair<std::uint16_t, std::uint16_t>> servers;
  for (int index = 0; index < kInstances; ++index) servers.emplace_back(instance(index).port(), metrics_ports_.at(index));
  const auto balancer_port = free_loopback_port();
  write_file(dir.path() / "haproxy.cfg", haproxy_config(balancer_port, servers));
  Subprocess haproxy{{"/usr/sbin/haproxy", "-db", "-f", (dir.path() / "haproxy.cfg").string()}, ProcessOptions{},
                     dir.path() / "haproxy.log", dir.path() / "haproxy.log"};
  auto through_balancer = endpoint_of(0, database());
  through_balancer.port = balancer_port;
  REQUIRE(wait_until([&] { return run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, through_balancer, 10s)
                                      .exit_code == 0; },
                     20s));

  write_file(dir.path() / "writers.py", kWriters);
  ProcessOptions options;
  options.env = through_balancer.libpq_env();
  const auto stop_file = dir.path() / "stop";
  Subprocess writers{{"/usr/bin/python3", (dir.path() / "writers.py").string(), stop_file.string(), "6"}, options,
                     dir.path() / "writers.out", dir.path() / "writers.out"};
  std::this_thread::sleep_for(3s);
  for (int index = 0; index < kInstances; ++index) {
    CHECK(instance(index).stop() == 0);  // SIGTERM: running statements answered, sessions ended with 57P01
    instance(index).restart();
    REQUIRE(wait_until([&] { return http_get(metrics_ports_.at(index), "/health").out.starts_with("200"); }, 20s));
    std::this_thread::sleep_for(3s);  // back in rotation (rise 2 of 500 ms), and serving again
  }
  write_file(stop_file, "");
  REQUIRE(writers.wait_for(60s).has_value());
  const auto output = read_file(dir.path() / "writers.out");
  INFO("writers:\n" << output << "\nhaproxy:\n" << read_file(dir.path() / "haproxy.log"));
  const auto committed = std::stol(output.substr(output.rfind("committed ") + 10));
  CHECK(committed > 0);
  // Only sessions of the instance shutting down ended (57P01, or cut while it went); no connection refused.
  CHECK(output.find("connect-error") == std::string::npos);
  std::istringstream lines{output};
  long session_errors = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("session-error")) continue;
    ++session_errors;
    INFO(line);
    CHECK((line.find(" 57P01 ") != std::string::npos || line.find("administrator command") != std::string::npos ||
           line.find("closed the connection") != std::string::npos));
  }
  WARN("rolling restart of " << kInstances << " instances behind HAProxy: " << committed << " inserts answered, "
                             << session_errors << " sessions ended by a restarting instance");
  CHECK(std::stol(on_primary("SELECT count(*) FROM notes")) >= committed);
  check_servers_identical();
  CHECK(wait_for_one_applier({0, 1, 2}, 15s).has_value());
}

}  // namespace
}  // namespace pgdual::test
