#include "tests/integration/harness/fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/harness/transcript.h"

namespace pgdual::test {
namespace {

bool backends_started = false;
int databases_created = 0;

struct FailureReport {
  std::size_t onprem_log_start = 0;
  std::size_t cloud_log_start = 0;
  std::vector<std::pair<std::string, std::string>> kept_logs;
};

FailureReport& current_report() {
  static FailureReport report;
  return report;
}

std::string titled(const std::string& title, std::string_view text) {
  return "\n===== " + title + " =====\n" + std::string{text} + (text.ends_with('\n') ? "" : "\n");
}

std::string_view tail_from(const std::string& text, std::size_t start) {
  return std::string_view{text}.substr(std::min(start, text.size()));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

Backends::Backends() {
  onprem.create_role(kAppUser, kAppPassword);
  cloud.create_role(kAppUser, kAppPassword);
  // What docs/reconcile.md asks of the role reconcile --apply repairs the mirror as: no trigger fires.
  static_cast<void>(cloud.run_sql("postgres", "GRANT SET ON PARAMETER session_replication_role TO " + std::string{kAppUser}));
  backends_started = true;
}

Backends& backends() {
  static Backends shared;
  return shared;
}

IntegrationTest::IntegrationTest() { static_cast<void>(backends()); }

IntegrationTest::~IntegrationTest() {
  if (!proxy_) return;
  proxy_->stop();
  keep_for_failure_report("pgdual log", proxy_->log());
}

PgCluster& IntegrationTest::primary() { return backends().onprem; }

std::string IntegrationTest::fresh_database(std::string_view label) {
  const auto name = database_without_init(label);
  run_pgdual_init(name, default_settings());
  return name;
}

std::string IntegrationTest::database_without_init(std::string_view label, const std::string& owner) {
  const auto name = "test_" + std::to_string(++databases_created) + "_" + std::string{label};
  backends().onprem.create_database(name, owner);
  backends().cloud.create_database(name, owner);
  return name;
}

Endpoint IntegrationTest::direct(const std::string& database) {
  return Endpoint{.host = "127.0.0.1", .port = primary().port(), .user = kAppUser, .password = kAppPassword, .database = database};
}

ProxySettings IntegrationTest::default_settings() {
  ProxySettings settings;
  settings.onprem_port = backends().onprem.port();
  settings.cloud_port = backends().cloud.port();
  settings.users = {{kAppUser, kAppPassword}};
  return settings;
}

ProxyProcess& IntegrationTest::start_proxy(const ProxyLimits& limits) {
  auto settings = default_settings();
  settings.limits = limits;
  return start_proxy(settings);
}

ProxyProcess& IntegrationTest::start_proxy(const ProxySettings& settings) {
  return proxy_.emplace(PGDUAL_BINARY, settings);
}

std::vector<conflict::ConflictRecord> IntegrationTest::conflicts() {
  std::vector<conflict::ConflictRecord> records;
  for (const auto& line : lines_of(read_file(proxy().conflict_log()))) {
    auto parsed = conflict::parse_json_line(line);
    if (!parsed) throw std::runtime_error{"not a conflict record: " + line};
    records.push_back(std::move(parsed->record));
  }
  return records;
}

std::vector<conflict::ConflictRecord> IntegrationTest::wait_for_conflicts(std::size_t count,
                                                                          std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto records = std::filesystem::exists(proxy().conflict_log()) ? conflicts()
                                                                    : std::vector<conflict::ConflictRecord>{};
    if (records.size() >= count || std::chrono::steady_clock::now() > deadline) return records;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

Endpoint IntegrationTest::through_proxy(const std::string& database) {
  return proxy().endpoint(kAppUser, kAppPassword, database);
}

ProxyProcess& IntegrationTest::proxy() { return proxy_.value(); }

void run_pgdual_init(const std::string& database, const ProxySettings& settings, const std::string& user) {
  TempDir dir{"pgdual-init"};
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(settings, 6432));
  std::vector<std::string> command{PGDUAL_BINARY, "init", "--config", config.string(), "--database", database};
  if (!user.empty()) command.insert(command.end(), {"--user", user});
  const auto result = run(command, {}, std::chrono::seconds{60});
  if (result.exit_code != 0) throw std::runtime_error{"pgdual init failed: " + result.describe()};
}

std::vector<std::string> differing_tables(const std::string& database, const PgCluster& onprem,
                                          const PgCluster& cloud) {
  const auto tables = lines_of(onprem.run_sql(
      database, "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"));
  std::vector<std::string> differing;
  for (const auto& table : tables) {
    const auto summary = "SELECT count(*) || ' rows, md5 ' || "
                         "coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), '') FROM " + table + " r";
    const auto on_primary = onprem.run_sql(database, summary);
    std::string on_mirror;
    try {
      on_mirror = cloud.run_sql(database, summary);
    } catch (const std::runtime_error&) {
      on_mirror = "(cannot read it)";
    }
    if (on_primary != on_mirror) differing.push_back(table + ": onprem " + on_primary + ", cloud " + on_mirror);
  }
  return differing;
}

std::vector<std::string> differing_sequences_and_large_objects(const std::string& database, const PgCluster& onprem,
                                                               const PgCluster& cloud) {
  // Sequences by name: OIDs differ between the servers. Large objects by OID: it is their name.
  const std::vector<std::pair<std::string, std::string>> listings{
      {"sequence",
       "SELECT format('%I.%I', schemaname, sequencename) || ' ' || coalesce(last_value::text, 'not called') "
       "FROM pg_sequences WHERE schemaname <> 'pgdual' ORDER BY 1"},
      {"large object", "SELECT oid || ' ' || md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY oid"}};
  std::vector<std::string> differing;
  for (const auto& [kind, sql] : listings) {
    const auto on_primary = lines_of(onprem.run_sql(database, sql));
    const auto on_mirror = lines_of(cloud.run_sql(database, sql));
    for (const auto& line : on_primary) {
      if (std::ranges::find(on_mirror, line) == on_mirror.end()) differing.push_back(kind + " onprem " + line);
    }
    for (const auto& line : on_mirror) {
      if (std::ranges::find(on_primary, line) == on_primary.end()) differing.push_back(kind + " cloud " + line);
    }
  }
  return differing;
}

void check_succeeded(const RunResult& result) {
  INFO(result.describe());
  REQUIRE_FALSE(result.timed_out);
  REQUIRE(result.exit_code == 0);
}

std::vector<std::string> differing_tables(const std::string& database) {
  return differing_tables(database, backends().onprem, backends().cloud);
}

Subprocess lock_table_on(const PgCluster& server, const std::string& database, const std::string& table,
                         const std::filesystem::path& dir) {
  const auto log = dir / ("lock-" + table + ".log");
  ProcessOptions as_superuser;
  as_superuser.env = server.superuser(database).libpq_env();
  const auto script = "BEGIN; LOCK TABLE " + table + "; SELECT pg_sleep(4); COMMIT;";
  Subprocess locker{{pg_program("psql"), "-X", "-q", "-c", script}, as_superuser, log, log};
  std::this_thread::sleep_for(std::chrono::milliseconds{500});
  return locker;
}

RunResult run_client(const std::vector<std::string>& argv, const Endpoint& endpoint,
                     std::chrono::milliseconds timeout) {
  ProcessOptions options;
  options.env = endpoint.libpq_env();
  return run(argv, options, timeout);
}

RunResult http_get(std::uint16_t port, const std::string& path) {
  const auto script = "import sys, urllib.request, urllib.error\n"
                      "try:\n"
                      "    r = urllib.request.urlopen('http://127.0.0.1:" + std::to_string(port) + path +
                      "', timeout=10)\n"
                      "    print(r.status); print(r.read().decode(), end='')\n"
                      "except urllib.error.HTTPError as e:\n"
                      "    print(e.code); print(e.read().decode(), end='')\n";
  return run({"python3", "-c", script}, {}, std::chrono::seconds{60});
}

void check_same_output(const RunResult& direct, const RunResult& proxied) {
  CHECK_FALSE(direct.timed_out);
  CHECK_FALSE(proxied.timed_out);
  CHECK(proxied.exit_code == direct.exit_code);
  const auto stdout_difference = first_difference(direct.out, proxied.out);
  CHECK(stdout_difference == "");
  const auto stderr_difference = first_difference(direct.err, proxied.err);
  CHECK(stderr_difference == "");
}

void begin_failure_report() {
  auto& report = current_report();
  report.kept_logs.clear();
  report.onprem_log_start = backends_started ? backends().onprem.log().size() : 0;
  report.cloud_log_start = backends_started ? backends().cloud.log().size() : 0;
}

void keep_for_failure_report(const std::string& title, const std::string& text) {
  current_report().kept_logs.emplace_back(title, text);
}

std::string failure_report() {
  const auto& report = current_report();
  std::string text;
  if (backends_started) {
    text += titled("onprem server log (this test)", tail_from(backends().onprem.log(), report.onprem_log_start));
    text += titled("cloud server log (this test)", tail_from(backends().cloud.log(), report.cloud_log_start));
  }
  for (const auto& [title, log] : report.kept_logs) text += titled(title, log);
  return text;
}

}  // namespace pgdual::test
