#include "proxy/conflict_sink.h"

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "conflict/log_inbox.h"

namespace pgdual::proxy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using conflict::ConflictKind;
using conflict::ConflictLog;
using conflict::ConflictRecord;
using conflict::SyncPolicy;

/// A fresh directory for one conflict log, an error log to read back, and the
/// log file's lines once the sink is done.
class Harness {
 public:
  Harness() {
    auto pattern = (fs::temp_directory_path() / "pgdual-sink-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    directory_ = pattern;
    logger_ = std::make_shared<spdlog::logger>("conflict-sink-test",
                                               std::make_shared<spdlog::sinks::ostream_sink_mt>(errors_));
  }
  ~Harness() {
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  [[nodiscard]] fs::path path() const { return directory_ / "conflicts.jsonl"; }

  std::unique_ptr<ConflictSink> sink(SyncPolicy sync, std::chrono::milliseconds group_commit,
                                     std::chrono::milliseconds inbox_interval = 1s) {
    auto log = ConflictLog::open(path(), {.sync = sync});
    REQUIRE(log.has_value());
    return std::make_unique<ConflictSink>(std::move(*log), group_commit, logger_, inbox_interval);
  }

  [[nodiscard]] std::vector<std::string> lines() const {
    std::ifstream in{path(), std::ios::binary};
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  [[nodiscard]] std::vector<ConflictRecord> intact_records() const {
    const auto all = lines();
    REQUIRE_FALSE(conflict::verify_chain(all).first_bad.has_value());
    std::vector<ConflictRecord> records;
    for (const auto& line : all) {
      auto parsed = conflict::parse_json_line(line);
      REQUIRE(parsed.has_value());
      records.push_back(std::move(parsed->record));
    }
    return records;
  }

  [[nodiscard]] std::string errors() const { return errors_.str(); }

 private:
  fs::path directory_;
  std::ostringstream errors_;
  std::shared_ptr<spdlog::logger> logger_;
};

ConflictRecord conflict_of(int unit) {
  ConflictRecord record;
  record.idempotency_key = "unit-" + std::to_string(unit);
  record.session = {"ehr_app", "chart", "203.0.113.7:51234"};
  record.statement_fingerprint = "5e1f2a3b4c5d6e7f";
  record.statement_normalized = "UPDATE patients SET ward = $1 WHERE id = $2";
  record.tables = {"public.patients"};
  record.kind = ConflictKind::row_count;
  return record;
}

/// Makes writes past the log's current size fail with EFBIG while it lives.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(const fs::path& file) : previous_handler_{std::signal(SIGXFSZ, SIG_IGN)} {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &previous_) == 0);
    auto limited = previous_;
    limited.rlim_cur = static_cast<rlim_t>(fs::file_size(file));
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &previous_);
    std::signal(SIGXFSZ, previous_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  void (*previous_handler_)(int);
  rlimit previous_{};
};

TEST_CASE("Records submitted from four threads form one intact chain in the log", "[unit][proxy]") {
  Harness harness;
  auto sink = harness.sink(SyncPolicy::on_flush, 2ms);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::vector<std::thread> sessions;
  for (int thread = 0; thread < kThreads; ++thread) {
    sessions.emplace_back([&sink, thread] {
      for (int i = 0; i < kPerThread; ++i) sink->submit(conflict_of(thread * kPerThread + i));
    });
  }
  for (auto& session : sessions) session.join();
  sink->wait_durable();

  CHECK(sink->written() == kThreads * kPerThread);
  CHECK(sink->failed() == 0);
  const auto records = harness.intact_records();
  REQUIRE(records.size() == kThreads * kPerThread);
  std::set<std::string> ids;
  std::set<std::string> units;
  for (const auto& record : records) {
    CHECK(record.id.size() == 36);
    CHECK(record.time.size() == std::string_view{"2026-11-22T05:16:00.123456Z"}.size());
    ids.insert(record.id);
    units.insert(record.idempotency_key);
  }
  CHECK(ids.size() == records.size());
  CHECK(units.size() == records.size());
  CHECK(harness.errors().empty());
}

TEST_CASE("The destructor writes and flushes every queued record without wait_durable", "[unit][proxy]") {
  Harness harness;
  {
    auto sink = harness.sink(SyncPolicy::on_flush, 1h);
    for (int unit = 0; unit < 100; ++unit) sink->submit(conflict_of(unit));
  }
  CHECK(harness.intact_records().size() == 100);
}

TEST_CASE("wait_durable flushes at once instead of waiting out the group-commit interval", "[unit][proxy]") {
  Harness harness;
  auto sink = harness.sink(SyncPolicy::on_flush, 1h);
  sink->submit(conflict_of(1));
  sink->wait_durable();
  CHECK(sink->written() == 1);
  CHECK(harness.intact_records().size() == 1);
}

TEST_CASE("A sink over an every_append log settles each record", "[unit][proxy]") {
  Harness harness;
  auto sink = harness.sink(SyncPolicy::every_append, 0ms);
  sink->submit(conflict_of(1));
  sink->submit(conflict_of(2));
  sink->wait_durable();
  CHECK(sink->written() == 2);
  CHECK(harness.intact_records().size() == 2);
}

TEST_CASE("Resolutions left in the log's inbox join the chain behind the conflicts", "[unit][proxy]") {
  Harness harness;
  auto sink = harness.sink(SyncPolicy::on_flush, 1ms, 10ms);
  sink->submit(conflict_of(1));
  sink->wait_durable();
  auto resolution = harness.intact_records().at(0);
  resolution.resolution = conflict::Resolution::resolved;
  resolution.resolved_by = "pgdual reconcile";
  const std::vector<ConflictRecord> resolutions{resolution};
  REQUIRE(conflict::post_to_inbox(harness.path(), resolutions).has_value());

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (sink->resolutions_appended() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(sink->resolutions_appended() == 1);
  const auto records = harness.intact_records();
  REQUIRE(records.size() == 2);
  CHECK(records[1] == resolution);
  CHECK(fs::is_empty(conflict::inbox_directory(harness.path())));
  CHECK(harness.errors().find("appended 1 resolutions from the inbox") != std::string::npos);
  CHECK(harness.errors().find("error") == std::string::npos);
}

TEST_CASE("The sink counts the open conflicts: the log's at the start, new ones, less resolutions",
          "[unit][proxy]") {
  Harness harness;
  {
    auto first_run = harness.sink(SyncPolicy::on_flush, 1ms);
    for (int unit = 1; unit <= 3; ++unit) first_run->submit(conflict_of(unit));
    CHECK(first_run->open_conflicts() == 3);
  }
  auto records = harness.intact_records();
  auto sink = harness.sink(SyncPolicy::on_flush, 1ms, 10ms);
  CHECK(sink->open_conflicts() == 3);
  sink->submit(conflict_of(4));
  CHECK(sink->open_conflicts() == 4);

  // A session's resolution (a commit the mirror did make), then reconcile's through the inbox.
  auto by_session = records.at(0);
  by_session.time.clear();
  by_session.resolution = conflict::Resolution::resolved;
  sink->submit(by_session);
  CHECK(sink->open_conflicts() == 3);
  auto by_reconcile = records.at(1);
  by_reconcile.resolution = conflict::Resolution::resolved;
  by_reconcile.resolved_by = "pgdual reconcile";
  const std::vector<ConflictRecord> resolutions{by_reconcile, by_reconcile};
  REQUIRE(conflict::post_to_inbox(harness.path(), resolutions).has_value());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (sink->resolutions_appended() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(sink->open_conflicts() == 2);
}

TEST_CASE("An id and time the caller set are kept", "[unit][proxy]") {
  Harness harness;
  auto record = conflict_of(1);
  record.id = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b";
  record.time = "2024-05-01T12:00:00.000000Z";
  {
    auto sink = harness.sink(SyncPolicy::on_flush, 1ms);
    sink->submit(record);
  }
  const auto records = harness.intact_records();
  REQUIRE(records.size() == 1);
  CHECK(records[0] == record);
}

TEST_CASE("A failed append is logged by id and kind, counted, and later records still go in", "[unit][proxy]") {
  Harness harness;
  auto sink = harness.sink(SyncPolicy::every_append, 0ms);
  sink->submit(conflict_of(1));
  sink->wait_durable();
  auto refused = conflict_of(2);
  refused.id = "refused-conflict";
  {
    const FileSizeLimit full{harness.path()};
    sink->submit(refused);
    sink->wait_durable();
  }
  sink->submit(conflict_of(3));
  sink->wait_durable();

  CHECK(sink->written() == 2);
  CHECK(sink->failed() == 1);
  const auto records = harness.intact_records();
  REQUIRE(records.size() == 2);
  CHECK(records[1].idempotency_key == "unit-3");
  const auto errors = harness.errors();
  CHECK(errors.find("refused-conflict") != std::string::npos);
  CHECK(errors.find("row_count") != std::string::npos);
  CHECK(errors.find("patients") == std::string::npos);
  CHECK(errors.find("ehr_app") == std::string::npos);
}

}  // namespace
}  // namespace pgdual::proxy
