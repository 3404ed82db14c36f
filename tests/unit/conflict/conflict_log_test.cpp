#include "conflict/conflict_log.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/conflict_error.h"
#include "conflict/log_inbox.h"
#include "tests/unit/conflict/answers.h"

using namespace pgdual::conflict;
using pgdual::conflict::test::Answer;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    auto pattern = (fs::temp_directory_path() / "pgdual-conflict-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

ConflictRecord sample(int number) {
  ConflictRecord record;
  record.id = "conflict-" + std::to_string(number);
  record.time = "2024-05-01T12:00:00Z";
  record.idempotency_key = "pgdual-a1:" + std::to_string(number);
  record.session = {"ehr_app", "chart", "203.0.113.7:51234"};
  record.statement_fingerprint = "5e1f2a3b4c5d6e7f";
  record.statement_normalized = "UPDATE patients SET ward = $1 WHERE id = $2";
  record.tables = {"public.patients"};
  record.kind = ConflictKind::row_count;
  record.primary = Answer{}.complete("UPDATE 1").ready('I').outcome();
  record.mirror = Answer{}.complete("UPDATE 0").ready('I').outcome();
  return record;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_all(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void append_raw(const fs::path& path, std::string_view bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::app};
  out << bytes;
}

fs::perms mode_of(const fs::path& path) { return fs::status(path).permissions() & fs::perms::mask; }

constexpr auto kOwnerReadWrite = fs::perms::owner_read | fs::perms::owner_write;

ConflictLog open_log(const fs::path& path, const ConflictLogOptions& options = {}) {
  auto log = ConflictLog::open(path, options);
  INFO((log ? std::string() : log.error().message));
  REQUIRE(log);
  return std::move(*log);
}

void append_samples(ConflictLog& log, int first, int count) {
  for (int i = first; i < first + count; ++i) {
    const auto appended = log.append(sample(i));
    INFO((appended ? std::string() : appended.error().message));
    REQUIRE(appended);
  }
}

// The lines of path.N .. path.1, path: the whole retained chain, oldest first.
std::vector<std::string> chain_of(const fs::path& path, unsigned rotated) {
  std::vector<std::string> lines;
  for (auto generation = rotated; generation >= 1; --generation) {
    const auto older = read_lines(fs::path{path}.concat("." + std::to_string(generation)));
    lines.insert(lines.end(), older.begin(), older.end());
  }
  const auto current = read_lines(path);
  lines.insert(lines.end(), current.begin(), current.end());
  return lines;
}

class Umask {
 public:
  explicit Umask(mode_t mask) : previous_{::umask(mask)} {}
  ~Umask() { ::umask(previous_); }
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;

 private:
  mode_t previous_;
};

}  // namespace

TEST_CASE("A new log is created with mode 0600 whatever the umask", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  {
    const Umask permissive{0};
    auto log = open_log(path);
    CHECK(log.head() == kGenesisHash);
    append_samples(log, 0, 1);
  }
  CHECK(mode_of(path) == kOwnerReadWrite);
  const auto lines = read_lines(path);
  CHECK(lines.size() == 1);
  CHECK_FALSE(verify_chain(lines).first_bad);
}

TEST_CASE("A log file others could read is refused, naming the file", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  append_raw(path, "");
  const auto mode = GENERATE(as<fs::perms>{}, fs::perms{0644}, fs::perms{0640}, fs::perms{0604}, fs::perms{0700});
  fs::permissions(path, mode);
  const auto log = ConflictLog::open(path);
  REQUIRE_FALSE(log);
  CHECK(log.error().code == ConflictError::insecure_mode);
  CHECK_THAT(log.error().message, Catch::Contains(path.string()) && Catch::Contains("is wider than 0600"));
}

TEST_CASE("An existing log file of mode 0600 is accepted", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  append_raw(path, "");
  fs::permissions(path, fs::perms{0600});
  CHECK(ConflictLog::open(path));
}

TEST_CASE("A reopened log continues its chain", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  std::string head;
  {
    auto log = open_log(path);
    append_samples(log, 0, 2);
    head = log.head();
  }
  auto log = open_log(path);
  CHECK(log.head() == head);
  CHECK(log.torn_bytes() == 0);
  append_samples(log, 2, 1);
  const auto lines = read_lines(path);
  CHECK(lines.size() == 3);
  const auto check = verify_chain(lines);
  CHECK_FALSE(check.first_bad);
  CHECK(check.head == log.head());
}

TEST_CASE("A torn last line is cut off on open and the chain goes on", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  {
    auto log = open_log(path);
    append_samples(log, 0, 2);
  }
  const auto torn = GENERATE(as<std::string>{}, "{\"prev\":\"0c1d", "{\"pr", "{");
  CAPTURE(torn);
  append_raw(path, torn);
  auto log = open_log(path);
  CHECK(log.torn_bytes() == torn.size());
  CHECK(read_lines(path).size() == 2);
  append_samples(log, 2, 1);
  const auto lines = read_lines(path);
  CHECK(lines.size() == 3);
  CHECK_FALSE(verify_chain(lines).first_bad);
}

TEST_CASE("A file that does not end in a record is refused and left alone", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  {
    auto log = open_log(path);
    append_samples(log, 0, 1);
  }
  const auto ending = GENERATE(as<std::string>{}, "meeting notes", "meeting notes\n", "\n");
  CAPTURE(ending);
  append_raw(path, ending);
  const auto before = read_all(path);
  const auto log = ConflictLog::open(path);
  REQUIRE_FALSE(log);
  CHECK(log.error().code == ConflictError::invalid_record);
  CHECK_THAT(log.error().message, Catch::Contains(path.string()));
  CHECK(read_all(path) == before);
}

TEST_CASE("Rotation keeps every file under the limit and the chain unbroken", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  const auto line_size = to_json_line(sample(0), kGenesisHash).size() + 1;
  ConflictLogOptions options;
  options.rotate_bytes = 2 * line_size + line_size / 2;  // two records per file
  options.keep_rotated = 10;
  {
    auto log = open_log(path, options);
    append_samples(log, 0, 7);  // 7 records: .3 .2 .1 hold two each, path holds one
  }
  CHECK_FALSE(fs::exists(dir / "conflicts.jsonl.4"));
  for (const auto* name : {"conflicts.jsonl", "conflicts.jsonl.1", "conflicts.jsonl.2", "conflicts.jsonl.3"}) {
    CAPTURE(name);
    CHECK(fs::file_size(dir / name) <= options.rotate_bytes);
    CHECK(mode_of(dir / name) == kOwnerReadWrite);
  }
  CHECK(read_lines(path).size() == 1);
  const auto lines = chain_of(path, 3);
  REQUIRE(lines.size() == 7);
  CHECK_FALSE(verify_chain(lines).first_bad);

  SECTION("reopening continues in the current file") {
    auto log = open_log(path, options);
    append_samples(log, 7, 1);
    CHECK(read_lines(path).size() == 2);
    CHECK_FALSE(verify_chain(chain_of(path, 3)).first_bad);
  }
  SECTION("a crash between renaming and creating the new file loses nothing") {
    fs::remove(path);
    auto log = open_log(path, options);
    CHECK(log.head() == verify_chain(chain_of(path, 3)).head);
    append_samples(log, 7, 1);
    CHECK_FALSE(verify_chain(chain_of(path, 3)).first_bad);
  }
}

TEST_CASE("Rotation keeps only the newest files, whose chain still verifies", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  const auto line_size = to_json_line(sample(0), kGenesisHash).size() + 1;
  ConflictLogOptions options;
  options.rotate_bytes = 2 * line_size + line_size / 2;
  options.keep_rotated = 2;
  auto log = open_log(path, options);
  append_samples(log, 0, 9);
  CHECK(fs::exists(dir / "conflicts.jsonl.2"));
  CHECK_FALSE(fs::exists(dir / "conflicts.jsonl.3"));
  const auto lines = chain_of(path, 2);
  REQUIRE(lines.size() == 5);
  CHECK(parse_json_line(lines.front())->record.id == "conflict-4");
  const auto first_prev = parse_json_line(lines.front())->prev;
  const auto check = verify_chain(lines, first_prev);
  CHECK_FALSE(check.first_bad);
  CHECK(check.head == log.head());
}

TEST_CASE("Appends from four threads form one valid chain", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  const auto policy = GENERATE(SyncPolicy::every_append, SyncPolicy::on_flush);
  ConflictLogOptions options;
  options.sync = policy;
  auto log = open_log(path, options);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, &failures, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!log.append(sample(t * kPerThread + i))) ++failures[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(log.flush());
  CHECK(failures == std::vector<int>(kThreads, 0));
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == kThreads * kPerThread);
  const auto check = verify_chain(lines);
  CHECK_FALSE(check.first_bad);
  CHECK(check.head == log.head());
  std::set<std::string> ids;
  for (const auto& line : lines) ids.insert(parse_json_line(line)->record.id);
  CHECK(ids.size() == lines.size());
}

TEST_CASE("In group-commit mode a record is in the file before flush makes it durable", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  ConflictLogOptions options;
  options.sync = SyncPolicy::on_flush;
  auto log = open_log(path, options);
  append_samples(log, 0, 2);
  CHECK(read_lines(path).size() == 2);
  CHECK(log.flush());
  CHECK(log.flush());
}

TEST_CASE("A log another ConflictLog holds open is refused", "[unit][conflict]") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  const auto first = open_log(path);
  const auto second = ConflictLog::open(path);
  REQUIRE_FALSE(second);
  CHECK(second.error().code == std::errc::resource_unavailable_try_again);
  CHECK_THAT(second.error().message, Catch::Contains(path.string()));
}

TEST_CASE("Rotation without any file to keep is refused", "[unit][conflict]") {
  TempDir dir;
  ConflictLogOptions options;
  options.rotate_bytes = 1 << 20;
  options.keep_rotated = 0;
  const auto log = ConflictLog::open(dir / "conflicts.jsonl", options);
  REQUIRE_FALSE(log);
  CHECK(log.error().code == ConflictError::invalid_options);
  CHECK_FALSE(fs::exists(dir / "conflicts.jsonl"));
}

TEST_CASE("A path that is not a regular file is refused", "[unit][conflict]") {
  TempDir dir;
  SECTION("a FIFO") {
    const auto path = dir / "fifo";
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    const auto log = ConflictLog::open(path);
    REQUIRE_FALSE(log);
    CHECK(log.error().code == ConflictError::not_a_regular_file);
  }
  SECTION("a directory") {
    const auto log = ConflictLog::open(dir / ".");
    REQUIRE_FALSE(log);
    CHECK(log.error().code == std::errc::is_a_directory);
    CHECK_THAT(log.error().message, Catch::Contains("open"));
  }
}

namespace {

ConflictRecord resolved(int number) {
  auto record = sample(number);
  record.resolution = Resolution::resolved;
  record.time = "2024-05-02T08:00:00Z";
  record.resolved_by = "dr.ops";
  record.resolution_note = "repaired by hand";
  return record;
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in{file};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("Resolutions posted to the inbox are appended to the chain in the order they were posted") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  auto log = ConflictLog::open(path).value();
  REQUIRE(log.append(sample(1)));
  REQUIRE(log.append(sample(2)));
  const std::vector<ConflictRecord> first{resolved(2)};
  const std::vector<ConflictRecord> second{resolved(1)};
  const auto posted = post_to_inbox(path, first);
  REQUIRE(posted);
  REQUIRE(post_to_inbox(path, second));
  CHECK(posted->parent_path() == inbox_directory(path));
  struct stat status {};
  REQUIRE(::stat(inbox_directory(path).c_str(), &status) == 0);
  CHECK((status.st_mode & 0777U) == 0700);

  const auto drained = drain_inbox(log);
  REQUIRE(drained);
  CHECK(drained->files == 2);
  CHECK(drained->records == 2);
  CHECK(drained->rejected.empty());
  CHECK(fs::is_empty(inbox_directory(path)));
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 4);
  CHECK_FALSE(verify_chain(lines).first_bad);
  CHECK(parse_json_line(lines[2])->record == resolved(2));
  CHECK(parse_json_line(lines[3])->record == resolved(1));
  CHECK(drain_inbox(log)->records == 0);
}

TEST_CASE("Only resolutions go through the inbox, from files only the log's owner could write") {
  TempDir dir;
  const auto path = dir / "conflicts.jsonl";
  auto log = ConflictLog::open(path).value();
  const std::vector<ConflictRecord> open{sample(1)};
  CHECK(post_to_inbox(path, open).error().code == make_error_code(ConflictError::invalid_record));
  auto nameless = resolved(1);
  nameless.resolved_by.clear();
  const std::vector<ConflictRecord> without_resolver{nameless};
  CHECK(post_to_inbox(path, without_resolver).error().code == make_error_code(ConflictError::invalid_record));

  SECTION("a delivery holding an open record is rejected, renamed and never appended") {
    fs::create_directory(inbox_directory(path));
    fs::permissions(inbox_directory(path), fs::perms::owner_all);
    const auto forged = inbox_directory(path) / "00000000000000000001-1-0.jsonl";
    std::ofstream{forged} << to_json_line(sample(1), kGenesisHash) << '\n';
    fs::permissions(forged, fs::perms::owner_read | fs::perms::owner_write);
    const auto drained = drain_inbox(log);
    REQUIRE(drained);
    REQUIRE(drained->rejected.size() == 1);
    CHECK(drained->rejected.front() == "00000000000000000001-1-0.jsonl: line 1 is not a resolution");
    CHECK(fs::exists(fs::path{forged}.concat(".rejected")));
    CHECK(fs::file_size(path) == 0);
  }
  SECTION("a delivery others may read is rejected") {
    const std::vector<ConflictRecord> resolution{resolved(1)};
    const auto posted = post_to_inbox(path, resolution).value();
    fs::permissions(posted, fs::perms::others_read, std::filesystem::perm_options::add);
    const auto drained = drain_inbox(log);
    REQUIRE(drained);
    REQUIRE(drained->rejected.size() == 1);
    CHECK(drained->rejected.front().ends_with("group or others have access; run chmod go-rwx on it"));
    CHECK(fs::file_size(path) == 0);
  }
  SECTION("an inbox others may write to is refused as a whole") {
    fs::create_directory(inbox_directory(path));
    fs::permissions(inbox_directory(path), fs::perms::owner_all | fs::perms::others_write);
    CHECK(drain_inbox(log).error().code == make_error_code(ConflictError::insecure_mode));
    const std::vector<ConflictRecord> resolution{resolved(1)};
    CHECK(post_to_inbox(path, resolution).error().code == make_error_code(ConflictError::insecure_mode));
  }
}
