#include "conflict/jobs/report_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conflict/conflict_record.h"
#include "conflict/log_reader.h"
#include "conflict/report.h"
#include "conflict/report_render.h"

namespace pgdual::jobs {
namespace {

namespace fs = std::filesystem;

constexpr int kFailure = 1;
constexpr int kChainBroken = 3;

constexpr std::array<std::string_view, 8> kOptions{"--log",  "--since",  "--until",  "--kind",
                                                   "--table", "--status", "--format", "--out"};

struct ReportOptions {
  fs::path log;
  conflict::ReportFilter filter;
  conflict::ReportFormat format = conflict::ReportFormat::text;
  std::optional<fs::path> out;
};

std::string quoted(std::string_view text) { return "\"" + std::string{text} + "\""; }

std::string kind_names() {
  std::string names;
  for (const auto kind : conflict::kAllConflictKinds) names.append(names.empty() ? "" : ", ").append(to_string(kind));
  return names;
}

// Applies one of kOptions; returns what is wrong with it, or an empty string.
std::string apply_option(ReportOptions& options, std::string_view flag, std::string_view value) {
  if (flag == "--log" || flag == "--out") {
    if (value.empty()) return std::string{flag} + " needs a file name";
    if (flag == "--log") {
      options.log = value;
    } else {
      options.out = value;
    }
  } else if (flag == "--since" || flag == "--until") {
    const auto time = conflict::parse_rfc3339(value);
    if (!time) return std::string{flag} + ": not an RFC 3339 time or date: " + quoted(value);
    (flag == "--since" ? options.filter.since : options.filter.until) = time;
  } else if (flag == "--kind") {
    options.filter.kind = conflict::conflict_kind_from_string(value);
    if (!options.filter.kind) return "--kind: unknown kind " + quoted(value) + "; kinds: " + kind_names();
  } else if (flag == "--table") {
    if (value.empty()) return "--table needs a table name";
    options.filter.table = value;
  } else if (flag == "--status") {
    if (value != "open" && value != "resolved") return "--status: expected open or resolved, got " + quoted(value);
    options.filter.status = value == "open" ? conflict::Resolution::open : conflict::Resolution::resolved;
  } else {
    const auto format = conflict::report_format_from_string(value);
    if (!format) return "--format: expected text, json, csv or html, got " + quoted(value);
    options.format = *format;
  }
  return {};
}

Expected<ReportOptions, std::string> parse_arguments(std::span<char*> args) {
  ReportOptions options;
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    const std::string_view flag = args[i];
    if (!flag.starts_with("--")) return unexpected{"unexpected argument " + quoted(flag)};
    if (std::ranges::find(kOptions, flag) == kOptions.end()) return unexpected{"unknown option " + quoted(flag)};
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

int fail(int exit_code, std::string_view message) {
  std::fprintf(stderr, "pgdual conflicts report: %.*s\n", static_cast<int>(message.size()), message.data());
  return exit_code;
}

}  // namespace

CommandHelp report_help() {
  return {.name = "conflicts report",
          .synopsis =
              "usage: pgdual conflicts report --log FILE [--since T] [--until T] [--kind K] [--table T]\n"
              "                               [--status open|resolved] [--format text|json|csv|html] [--out FILE]\n",
          .details = "Summarizes the conflict log, checking its hash chain (docs/conflict-log.md).\n"
                     "  --log FILE         the conflict log (required); its rotated files FILE.N are read too\n"
                     "  --since T          only conflicts at or after T: an RFC 3339 time (2024-05-01T12:00:00Z)\n"
                     "                     or a date (2024-05-01, midnight UTC)\n"
                     "  --until T          only conflicts before T, as --since\n"
                     "  --kind K           only conflicts of kind K, e.g. mirror_error (docs/conflict-log.md lists "
                     "them)\n"
                     "  --table T          only conflicts on table T\n"
                     "  --status S         only open or only resolved conflicts\n"
                     "  --format F         text (the default), json, csv or html\n"
                     "  --out FILE         write the report to a new file of mode 0600 instead of stdout\n"
                     "Exit code: 0 written, 1 a file could not be read or written, 2 bad arguments, "
                     "3 the hash chain is broken.\n"};
}

int run_report_command(std::span<char*> args) {
  if (asks_for_help(args)) return print_help(report_help());
  const auto options = parse_arguments(args);
  if (!options) return usage_error(report_help(), options.error());
  const auto files = conflict::log_files(options->log);
  if (!files) return fail(kFailure, files.error());
  if (options->out && is_log_file(*options->out, *files)) {
    return usage_error(report_help(), "--out names a file of the conflict log");
  }
  conflict::ReportBuilder builder;
  const auto take = [&builder](const conflict::ConflictRecord& record) -> std::string {
    return builder.add(record) ? "" : "time is not RFC 3339";
  };
  auto reading = conflict::read_log(*files, options->log, take);
  if (!reading) return fail(kFailure, reading.error());
  auto report = builder.build(options->filter);
  report.chain = std::move(reading->chain);
  if (const auto written = write_report(conflict::render_report(report, options->format), options->out); !written) {
    return fail(kFailure, written.error());
  }
  if (const auto& bad = report.chain.first_bad) {
    return fail(kChainBroken,
                "hash chain broken at " + bad->file + ":" + std::to_string(bad->line) + ": " + reading->break_reason);
  }
  return 0;
}

}  // namespace pgdual::jobs
