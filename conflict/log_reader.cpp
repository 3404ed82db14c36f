#include "conflict/log_reader.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace pgdual::conflict {
namespace {

namespace fs = std::filesystem;

// "conflicts.jsonl.3" -> 3 for the log "conflicts.jsonl"; 0 for other names.
unsigned long rotation_number(std::string_view name, std::string_view log_name) {
  if (name.size() <= log_name.size() + 1 || !name.starts_with(log_name) || name[log_name.size()] != '.') return 0;
  const auto suffix = name.substr(log_name.size() + 1);
  unsigned long number = 0;
  const auto [end, error] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), number);
  if (error != std::errc{} || end != suffix.data() + suffix.size() || suffix.front() == '0') return 0;
  return number;
}

// Why `line`, the first record that fails verify_chain, fails it. Never quotes the line.
std::string_view break_reason(std::string_view line, std::string_view previous_hash, bool torn) {
  if (torn) return "torn line (no newline at the end)";
  if (!claimed_hash(line)) return "not a complete record (no hash at the end)";
  if (!line.starts_with("{\"prev\":\"" + std::string{previous_hash} + "\"")) {
    return "its prev is not the hash of the record before it (a record was removed, inserted or moved, "
           "or the one before was changed and rehashed)";
  }
  return "its hash does not match its content (the record was changed)";
}

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

class LogReader {
 public:
  LogReader(const RecordSink& sink, bool rotated) : sink_{sink}, rotated_{rotated} {}

  /// Reads one file of the chain; false once the chain broke (the rest is not read).
  Expected<bool, std::string> read(const fs::path& path) {
    const auto name = path.string();
    reading_.chain.files.push_back(name);
    File file{std::fopen(name.c_str(), "rb"), &std::fclose};
    if (!file) return unexpected{name + ": " + std::strerror(errno)};
    char* buffer = nullptr;
    std::size_t capacity = 0;
    bool intact = true;
    std::string failure;
    for (std::size_t number = 1; intact && failure.empty(); ++number) {
      const auto length = ::getline(&buffer, &capacity, file.get());
      if (length < 0) break;
      std::string_view line{buffer, static_cast<std::size_t>(length)};
      const bool torn = !line.ends_with('\n');
      if (!torn) line.remove_suffix(1);
      auto taken = take(line, torn, RecordLocation{name, number});
      if (!taken) failure = taken.error();
      intact = taken.value_or(false);
    }
    std::free(buffer);
    if (!failure.empty()) return unexpected{failure};
    if (std::ferror(file.get())) return unexpected{name + ": " + std::strerror(errno)};
    return intact;
  }

  LogReading finish() && { return std::move(reading_); }

 private:
  // Checks one line against the chain and hands its record to the sink;
  // false when it breaks the chain.
  Expected<bool, std::string> take(std::string_view text, bool torn, RecordLocation location) {
    auto& chain = reading_.chain;
    if (!started_) start(text);
    const std::string line{text};
    if (torn || verify_chain(std::span{&line, 1}, chain.head).first_bad) {
      reading_.break_reason = break_reason(line, chain.head, torn);
      chain.first_bad = std::move(location);
      return false;
    }
    const auto where = location.file + ":" + std::to_string(location.line) + ": ";
    auto parsed = parse_json_line(line);
    if (!parsed) return unexpected{where + parsed.error().message()};
    if (auto refused = sink_(parsed->record); !refused.empty()) return unexpected{where + refused};
    chain.head = std::move(parsed->hash);
    ++chain.records;
    return true;
  }

  // A log that never rotated starts at the genesis hash. Once rotated files
  // are deleted the oldest kept one follows a record that no longer exists:
  // its first prev is taken as given, and the report shows it.
  void start(std::string_view first_line) {
    started_ = true;
    reading_.chain.start = std::string{kGenesisHash};
    if (const auto first = parse_json_line(first_line); rotated_ && first) reading_.chain.start = first->prev;
    reading_.chain.head = reading_.chain.start;
  }

  const RecordSink& sink_;
  bool rotated_;
  bool started_ = false;
  LogReading reading_;
};

}  // namespace

Expected<std::vector<fs::path>, std::string> log_files(const fs::path& log) {
  const auto directory = log.has_parent_path() ? log.parent_path() : fs::path{"."};
  const auto log_name = log.filename().string();
  std::vector<std::pair<unsigned long, fs::path>> rotated;
  std::error_code error;
  for (fs::directory_iterator entry{directory, error}, end; !error && entry != end; entry.increment(error)) {
    const auto name = entry->path().filename().string();
    if (const auto number = rotation_number(name, log_name); number > 0) {
      rotated.emplace_back(number, fs::path{log}.replace_filename(name));
    }
  }
  if (error) return unexpected{directory.string() + ": " + error.message()};
  std::sort(rotated.begin(), rotated.end(), [](const auto& left, const auto& right) { return left.first > right.first; });
  std::vector<fs::path> files;
  for (auto& [number, path] : rotated) files.push_back(std::move(path));
  if (fs::exists(log, error) || files.empty()) files.push_back(log);
  return files;
}

Expected<LogReading, std::string> read_log(const std::vector<fs::path>& files, const fs::path& log,
                                           const RecordSink& sink) {
  LogReader reader{sink, files.size() > 1 || files.front() != log};
  for (const auto& file : files) {
    auto intact = reader.read(file);
    if (!intact) return unexpected{intact.error()};
    if (!*intact) break;
  }
  auto reading = std::move(reader).finish();
  if (reading.chain.start.empty()) reading.chain.start = reading.chain.head = std::string{kGenesisHash};
  return reading;
}

}  // namespace pgdual::conflict
