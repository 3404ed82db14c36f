#include "conflict/report_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conflict/conflict_record.h"
#include "conflict/report.h"
#include "conflict/report_render.h"

namespace pgdual::conflict {
namespace {

namespace fs = std::filesystem;

constexpr int kFailure = 1;
constexpr int kUsageError = 2;
constexpr int kChainBroken = 3;

constexpr std::string_view kUsage =
    "usage: pgdual conflicts report --log FILE [--since T] [--until T] [--kind K] [--table T]\n"
    "                               [--status open|resolved] [--format text|json|csv|html] [--out FILE]\n"
    "  T is an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01, midnight UTC)\n";

struct ReportOptions {
  fs::path log;
  ReportFilter filter;
  ReportFormat format = ReportFormat::text;
  std::optional<fs::path> out;
};

std::string quoted(std::string_view text) { return "\"" + std::string{text} + "\""; }

std::string kind_names() {
  std::string names;
  for (const auto kind : kAllConflictKinds) names.append(names.empty() ? "" : ", ").append(to_string(kind));
  return names;
}

// Applies one option; returns what is wrong with it, or an empty string.
std::string apply_option(ReportOptions& options, std::string_view flag, std::string_view value) {
  if (flag == "--log" || flag == "--out") {
    if (value.empty()) return std::string{flag} + " needs a file name";
    if (flag == "--log") {
      options.log = value;
    } else {
      options.out = value;
    }
  } else if (flag == "--since" || flag == "--until") {
    const auto time = parse_rfc3339(value);
    if (!time) return std::string{flag} + ": not an RFC 3339 time or date: " + quoted(value);
    (flag == "--since" ? options.filter.since : options.filter.until) = time;
  } else if (flag == "--kind") {
    options.filter.kind = conflict_kind_from_string(value);
    if (!options.filter.kind) return "--kind: unknown kind " + quoted(value) + "; kinds: " + kind_names();
  } else if (flag == "--table") {
    if (value.empty()) return "--table needs a table name";
    options.filter.table = value;
  } else if (flag == "--status") {
    if (value != "open" && value != "resolved") return "--status: expected open or resolved, got " + quoted(value);
    options.filter.status = value == "open" ? Resolution::open : Resolution::resolved;
  } else if (flag == "--format") {
    const auto format = report_format_from_string(value);
    if (!format) return "--format: expected text, json, csv or html, got " + quoted(value);
    options.format = *format;
  } else {
    return "unknown option " + quoted(flag);
  }
  return {};
}

Expected<ReportOptions, std::string> parse_arguments(std::span<char*> args) {
  ReportOptions options;
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    const std::string_view flag = args[i];
    if (!flag.starts_with("--")) return unexpected{"unexpected argument " + quoted(flag)};
    if (i + 1 == args.size()) return unexpected{std::string{flag} + " needs a value"};
    if (!seen.insert(flag).second) return unexpected{std::string{flag} + " given twice"};
    if (auto problem = apply_option(options, flag, args[i + 1]); !problem.empty()) return unexpected{problem};
  }
  if (options.log.empty()) return unexpected{std::string{"--log FILE is required"}};
  if (options.filter.since && options.filter.until && *options.filter.until <= *options.filter.since) {
    return unexpected{std::string{"--until must be later than --since"}};
  }
  return options;
}

// "conflicts.jsonl.3" -> 3 for the log "conflicts.jsonl"; 0 for other names.
unsigned long rotation_number(std::string_view name, std::string_view log_name) {
  if (name.size() <= log_name.size() + 1 || !name.starts_with(log_name) || name[log_name.size()] != '.') return 0;
  const auto suffix = name.substr(log_name.size() + 1);
  unsigned long number = 0;
  const auto [end, error] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), number);
  if (error != std::errc{} || end != suffix.data() + suffix.size() || suffix.front() == '0') return 0;
  return number;
}

// The log's files, oldest first: FILE.N … FILE.1 (ConflictLog's rotation), then FILE.
// FILE may be missing when pgdual stopped in the middle of a rotation.
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

struct LogReading {
  ChainSummary chain;
  std::string break_reason;  ///< when chain.first_bad is set
};

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

class LogReader {
 public:
  LogReader(ReportBuilder& builder, bool rotated) : builder_{builder}, rotated_{rotated} {}

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
  // Checks one line against the chain and hands its record to the builder;
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
    if (!builder_.add(parsed->record)) return unexpected{where + "time is not RFC 3339"};
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

  ReportBuilder& builder_;
  bool rotated_;
  bool started_ = false;
  LogReading reading_;
};

Expected<LogReading, std::string> read_log(const std::vector<fs::path>& files, const fs::path& log,
                                           ReportBuilder& builder) {
  LogReader reader{builder, files.size() > 1 || files.front() != log};
  for (const auto& file : files) {
    auto intact = reader.read(file);
    if (!intact) return unexpected{intact.error()};
    if (!*intact) break;
  }
  auto reading = std::move(reader).finish();
  if (reading.chain.start.empty()) reading.chain.start = reading.chain.head = std::string{kGenesisHash};
  return reading;
}

bool is_log_file(const fs::path& out, const std::vector<fs::path>& files) {
  std::error_code error;
  return std::any_of(files.begin(), files.end(), [&](const fs::path& file) { return fs::equivalent(out, file, error); });
}

Expected<void, std::string> write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const auto written = ::write(fd, text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return unexpected{std::string{std::strerror(errno)}};
    text.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

// To `out` (created with mode 0600: the report names tables and statements) or to stdout.
Expected<void, std::string> write_report(std::string_view text, const std::optional<fs::path>& out) {
  if (!out) {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
      return unexpected{std::string{"stdout: "} + std::strerror(errno)};
    }
    return {};
  }
  const int fd = ::open(out->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return unexpected{out->string() + ": " + std::strerror(errno)};
  auto written = write_all(fd, text);
  if (::close(fd) != 0 && written) written = unexpected{std::string{std::strerror(errno)}};
  if (!written) return unexpected{out->string() + ": " + written.error()};
  return {};
}

int fail(int exit_code, std::string_view message, bool with_usage = false) {
  std::fprintf(stderr, "pgdual conflicts report: %.*s\n%s", static_cast<int>(message.size()), message.data(),
               with_usage ? kUsage.data() : "");
  return exit_code;
}

}  // namespace

int run_report_command(std::span<char*> args) {
  const auto options = parse_arguments(args);
  if (!options) return fail(kUsageError, options.error(), true);
  const auto files = log_files(options->log);
  if (!files) return fail(kFailure, files.error());
  if (options->out && is_log_file(*options->out, *files)) {
    return fail(kUsageError, "--out names a file of the conflict log", true);
  }
  ReportBuilder builder;
  auto reading = read_log(*files, options->log, builder);
  if (!reading) return fail(kFailure, reading.error());
  auto report = builder.build(options->filter);
  report.chain = std::move(reading->chain);
  if (const auto written = write_report(render_report(report, options->format), options->out); !written) {
    return fail(kFailure, written.error());
  }
  if (const auto& bad = report.chain.first_bad) {
    return fail(kChainBroken,
                "hash chain broken at " + bad->file + ":" + std::to_string(bad->line) + ": " + reading->break_reason);
  }
  return 0;
}

}  // namespace pgdual::conflict
