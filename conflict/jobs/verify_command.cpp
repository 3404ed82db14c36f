#include "conflict/jobs/verify_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/database_objects.h"
#include "conflict/verify.h"
#include "conflict/jobs/object_verifier.h"
#include "conflict/jobs/point_snapshot.h"
#include "conflict/jobs/verifier.h"

namespace pgdual::jobs {
namespace {

using conflict::TableName;
using conflict::TableVerdict;
using std::chrono::milliseconds;

constexpr int kDifferences = 1;
constexpr int kUsageError = 2;
/// Everything compared is identical, and something could not be compared: not the plain verdict.
constexpr int kNotAllCompared = 3;

constexpr std::int64_t kMaxJobs = 64;
constexpr std::int64_t kMaxSettleMs = 3'600'000;  // an hour
/// The progress line is redrawn at most this often.
constexpr milliseconds kRedrawInterval{100};

/// verify's own options, which reconcile does not share.
struct VerifyOptions {
  std::size_t jobs = 1;
  milliseconds settle{1000};
  std::optional<bool> progress;  ///< std::nullopt: when stderr is a terminal
  std::optional<bool> at_one_point;  ///< std::nullopt: tried in mirror.mode wal (point_in_time())
};

std::optional<std::int64_t> number_between(std::string_view text, std::int64_t low, std::int64_t high) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < low || value > high) return std::nullopt;
  return value;
}

/// Reads verify's own options into `options` and leaves the others, in order, in `shared`.
/// Returns what is wrong, or "" when nothing is.
std::string take_verify_options(std::span<char*> args, VerifyOptions& options, std::vector<char*>& shared) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag == "--progress" || flag == "--no-progress") {
      options.progress = flag == "--progress";
      continue;
    }
    if (flag == "--at-one-point" || flag == "--no-at-one-point") {
      options.at_one_point = flag == "--at-one-point";
      continue;
    }
    if (flag != "--jobs" && flag != "--settle-ms") {
      shared.push_back(args[i]);
      continue;
    }
    if (i + 1 >= args.size()) return std::string{flag} + " needs a value";
    const std::string_view value = args[++i];
    if (flag == "--jobs") {
      const auto jobs = number_between(value, 1, kMaxJobs);
      if (!jobs) return "--jobs: expected a number from 1 to 64, got \"" + std::string{value} + "\"";
      options.jobs = static_cast<std::size_t>(*jobs);
    } else {
      const auto settle = number_between(value, 0, kMaxSettleMs);
      if (!settle) return "--settle-ms: expected milliseconds from 0 to 3600000, got \"" + std::string{value} + "\"";
      options.settle = milliseconds{*settle};
    }
  }
  return {};
}

/// The progress line on stderr, redrawn in place ('\r') at most every kRedrawInterval. Not thread safe.
class ProgressLine {
 public:
  ProgressLine(std::FILE* err, conflict::ProgressState state, bool terminal)
      : err_{err}, state_{state}, terminal_{terminal} {}

  [[nodiscard]] conflict::ProgressState& state() noexcept { return state_; }

  /// Draws the line, unless it was drawn less than kRedrawInterval ago.
  void draw() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    auto line = conflict::render_progress(state_);
    const auto width = line.size();
    // Blanks over what is left of a longer line drawn before.
    if (line.size() < drawn_width_) line.append(drawn_width_ - line.size(), ' ');
    std::fputs(("\r" + line).c_str(), err_);
    std::fflush(err_);
    drawn_width_ = width;
  }

  /// Removes the line, so that stdout's next text, or the shell's prompt, starts on a clean line.
  void erase() {
    if (drawn_width_ == 0) return;
    const auto blank = terminal_ ? std::string{"\r\033[K"} : "\r" + std::string(drawn_width_, ' ') + "\r";
    std::fputs(blank.c_str(), err_);
    std::fflush(err_);
    drawn_width_ = 0;
  }

 private:
  std::FILE* err_;
  conflict::ProgressState state_;
  bool terminal_;
  std::size_t drawn_width_ = 0;  ///< the line on screen; 0 when there is none
  std::chrono::steady_clock::time_point last_draw_{};
};

/// stdout, and the progress line, shared by the workers. Each table's text goes out in table order,
/// as soon as that table and every table before it are done, whatever thread compared it; so the
/// output is the same with any --jobs. Thread safe.
class Console {
 public:
  Console(std::FILE* out, std::size_t tables, std::optional<ProgressLine> progress)
      : out_{out}, tables_(tables), progress_{std::move(progress)} {}

  /// Prints `text` now: the heading, the sequences, the summary.
  void print(const std::string& text) {
    const std::lock_guard lock{mutex_};
    write(text);
  }

  /// Adds `text` to table `index`'s output, printed once the tables before it are done.
  void add(std::size_t index, const std::string& text) {
    const std::lock_guard lock{mutex_};
    tables_.at(index).pending += text;
    print_ready();
  }

  /// Adds table `index`'s last text: the table is done.
  void finish(std::size_t index, const std::string& text) {
    const std::lock_guard lock{mutex_};
    tables_.at(index).pending += text;
    tables_.at(index).done = true;
    if (progress_) ++progress_->state().tables_done;
    print_ready();
  }

  /// Counts `rows` more of the primary's rows as compared.
  void rows_done(std::int64_t rows) {
    const std::lock_guard lock{mutex_};
    if (!progress_) return;
    progress_->state().rows_done += rows;
    progress_->draw();
  }

  /// Removes the progress line: at the end, or before an error message.
  void erase_progress() {
    const std::lock_guard lock{mutex_};
    if (progress_) progress_->erase();
  }

 private:
  struct TableOutput {
    std::string pending;  ///< not printed yet
    bool done = false;
  };

  // Prints what is ready: the pending text of the first table not done, and of every done one before it.
  void print_ready() {
    for (; next_ < tables_.size(); ++next_) {
      auto& table = tables_[next_];
      if (!table.pending.empty()) write(std::exchange(table.pending, {}));
      if (!table.done) return;
    }
  }

  void write(const std::string& text) {
    if (progress_) progress_->erase();
    std::fputs(text.c_str(), out_);
    std::fflush(out_);
    if (progress_) progress_->draw();
  }

  std::mutex mutex_;
  std::FILE* out_;
  std::vector<TableOutput> tables_;
  std::size_t next_ = 0;  ///< the first table not printed in full
  std::optional<ProgressLine> progress_;
};

/// Where and as whom every worker connects.
struct Login {
  const config::ProxyConfig& config;
  const config::UserConfig& user;
  const std::string& database;
};

/// The tables the workers share: the next one to take, and where each verdict goes.
struct TableQueue {
  const std::vector<TableName>& tables;
  std::vector<TableVerdict>& verdicts;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stopped{false};  ///< a worker failed: the others take no more tables
};

/// One table: compared, read again after the pause when it differs, its orphans looked for, and
/// handed to `console` as table `index`.
TableVerdict verify_table(Verifier& verifier, const TableName& table, std::size_t index, milliseconds settle,
                          Console& console) {
  FirstLook first_look;
  auto verdict = verifier.compare_table(table, first_look, [&](std::int64_t rows) { console.rows_done(rows); });
  if (settle.count() > 0 && verdict.error.empty() && !first_look.empty()) {
    console.add(index, conflict::render_recheck_notice(table, first_look.keys.size()));
    std::this_thread::sleep_for(settle);
    verifier.recheck(verdict, first_look);
  }
  verifier.find_orphans(verdict);
  console.finish(index, conflict::render_table(verdict));
  return verdict;
}

/// Takes tables from `queue`, in order, until none is left or a worker failed.
void drain(Verifier& verifier, TableQueue& queue, milliseconds settle, Console& console) {
  for (auto index = queue.next++; index < queue.tables.size() && !queue.stopped; index = queue.next++) {
    queue.verdicts[index] = verify_table(verifier, queue.tables[index], index, settle, console);
  }
}

/// A worker besides the first: its own connections, `first`'s catalogs. Throws when it cannot connect.
void help(const Login& login, const Verifier& first, TableQueue& queue, milliseconds settle, Console& console) {
  PgClient primary{login.config.primary_backend(), login.user, login.database};
  PgClient mirror{login.config.mirror_backend(), login.user, login.database};
  Verifier verifier{primary, mirror, first};
  drain(verifier, queue, settle, console);
}

/// Every table's verdict, compared by options.jobs workers: this thread with `verifier`, and the
/// others with connections of their own. Throws the first worker's failure (to connect or set up):
/// then the others stop, and not every table was compared.
std::vector<TableVerdict> verify_tables(const Login& login, Verifier& verifier, const std::vector<TableName>& tables,
                                        const VerifyOptions& options, Console& console) {
  std::vector<TableVerdict> verdicts(tables.size());
  TableQueue queue{.tables = tables, .verdicts = verdicts};
  std::mutex failure_mutex;
  std::optional<std::string> failure;
  const auto fail = [&](const std::exception& error) {
    queue.stopped = true;
    const std::lock_guard lock{failure_mutex};
    if (!failure) failure = error.what();
  };
  {
    std::vector<std::jthread> helpers;
    for (std::size_t i = 1; i < std::min(options.jobs, tables.size()); ++i) {
      helpers.emplace_back([&] {
        try {
          help(login, verifier, queue, options.settle, console);
        } catch (const std::exception& error) {
          fail(error);
        }
      });
    }
    try {
      drain(verifier, queue, options.settle, console);
    } catch (const std::exception& error) {
      fail(error);
    }
  }  // joins the helpers
  if (failure) throw std::runtime_error{*failure};
  return verdicts;
}

bool worth_rechecking(const conflict::SequenceVerdict& verdict) {
  const auto readable = [](const std::optional<conflict::SequenceState>& state) { return !state || state->readable; };
  return !verdict.identical() && readable(verdict.on_primary) && readable(verdict.on_mirror);
}

/// The sequences' verdicts, those that differ read again after the pause.
std::vector<conflict::SequenceVerdict> verify_sequences(Verifier& verifier, const std::vector<TableName>& tables,
                                                        bool tables_named, milliseconds settle, Console& console) {
  auto verdicts = verifier.compare_sequences(tables, tables_named);
  const auto differing = static_cast<std::size_t>(std::ranges::count_if(verdicts, worth_rechecking));
  if (settle.count() > 0 && differing > 0) {
    console.print(conflict::render_sequence_recheck_notice(differing));
    std::this_thread::sleep_for(settle);
    verifier.recheck_sequences(verdicts);
  }
  return verdicts;
}

/// The progress line, when there is to be one: with --progress, or when stderr is a terminal
/// unless --no-progress.
std::optional<ProgressLine> progress_line(Verifier& verifier, const std::vector<TableName>& tables,
                                          const VerifyOptions& options, std::FILE* err) {
  const bool terminal = isatty(fileno(err)) == 1;
  if (!options.progress.value_or(terminal)) return std::nullopt;
  const conflict::ProgressState state{.rows_done = 0, .rows_expected = verifier.expected_rows(tables),
                                      .tables_done = 0, .tables = tables.size()};
  return ProgressLine{err, state, terminal};
}

/// The line that says where the comparison stands: at one point (its position, and how long the
/// apply stood still for it), or why not; empty when it was not tried.
std::string point_line(const PointInTime* point, const std::string& note) {
  if (point != nullptr) {
    return "at one point: primary WAL position " + point->position() + " (the mirror's apply held " +
           point->held_ms() + " ms, COMMITs waiting for it " + point->commits_waited_ms() +
           " ms of that); tables' differences are not re-checked\n";
  }
  if (note.empty()) return {};
  return "not at one point: " + note + "; each table compared in its own snapshots\n";
}

int verify(const Login& login, const ComparisonOptions& options, const VerifyOptions& own, std::FILE* out,
           std::FILE* err) {
  std::string note;
  std::unique_ptr<PointInTime> point;
  try {
    point = point_in_time(login.config, login.user, options.database, own.at_one_point, note);
  } catch (const PointUnavailable& error) {
    std::fprintf(err, "pgdual verify: --at-one-point: %s\n", error.what());
    return kUsageError;
  }
  // Both snapshots show the same transactions: a difference is real, and reading it again later
  // would compare other states. Sequences stand outside snapshots and keep their re-check.
  auto tables_own = own;
  if (point) {
    tables_own.settle = milliseconds{0};
    for (const auto& failure : point->failed_attempts()) {
      std::fprintf(err, "pgdual verify: an attempt at one point failed, tried again: %s\n", failure.c_str());
    }
  }
  conflict::VerifyReport report{.database = options.database, .primary = login.config.primary_backend().name,
                                .mirror = login.config.mirror_backend().name, .database_differences = {},
                                .tables = {}, .sequences = {}};
  conflict::ObjectsReport objects;
  std::optional<Console> console;
  try {
    PgClient primary{login.config.primary_backend(), login.user, options.database};
    PgClient mirror{login.config.mirror_backend(), login.user, options.database};
    Verifier verifier{primary, mirror, options.chunk_rows, point ? point->snapshots() : PointSnapshots{}};
    ObjectVerifier object_verifier{primary, mirror, point ? point->snapshots() : PointSnapshots{}};
    const bool whole_database = options.tables.empty();
    const auto named = verifier.tables(options.tables);
    objects.not_compared = object_verifier.not_compared(named, whole_database);
    const auto tables = conflict::comparable_tables(named, objects.not_compared);
    report.database_differences = verifier.database_differences();
    console.emplace(out, tables.size(), progress_line(verifier, tables, own, err));
    console->print(point_line(point.get(), note) + conflict::render_heading(report));
    report.tables = verify_tables(login, verifier, tables, tables_own, *console);
    report.sequences = verify_sequences(verifier, tables, !whole_database, own.settle, *console);
    if (whole_database) {
      objects.views = object_verifier.compare_materialized_views();
      objects.large_objects = object_verifier.compare_large_objects();
    }
  } catch (const std::exception& error) {
    if (console) console->erase_progress();
    std::fprintf(err, "pgdual verify: %s\n", error.what());
    return kUsageError;
  }
  for (const auto& sequence : report.sequences) console->print(conflict::render_sequence(sequence));
  for (const auto& view : objects.views) console->print(conflict::render_materialized_view(view));
  if (objects.large_objects) console->print(conflict::render_large_objects(*objects.large_objects));
  for (const auto& relation : objects.not_compared) console->print(conflict::render_not_compared(relation));
  console->print(conflict::render_summary(report, objects));
  console->erase_progress();
  if (!report.identical() || !objects.identical()) return kDifferences;
  return objects.not_compared.empty() ? 0 : kNotAllCompared;
}

}  // namespace

CommandHelp verify_help() {
  return {.name = "verify",
          .synopsis =
              "usage: pgdual verify --config FILE --database NAME [--user NAME] [--table T...] [--chunk-rows N]\n"
              "                     [--jobs N] [--settle-ms MS] [--progress | --no-progress]\n"
              "                     [--at-one-point | --no-at-one-point]\n",
          .details = "Compares the tables, sequences, materialized views and large objects on both backends.\n" +
                     std::string{kComparisonOptionsHelp} +
                     "  --jobs N           how many tables are compared at once, each on its own connections "
                     "(1 to 64, default 1)\n"
                     "  --settle-ms MS     the pause before differences are read again (default 1000; 0: no "
                     "re-check)\n"
                     "  --progress, --no-progress\n"
                     "                     a progress line on stderr, or none (default: when stderr is a "
                     "terminal)\n"
                     "  --at-one-point, --no-at-one-point\n"
                     "                     compare both sides at one position of the primary's WAL, through pgdual "
                     "serve's admin\n"
                     "                     console, or table by table (default: tried in mirror.mode wal)\n"
                     "Exit code: 0 identical, 1 something differs, 3 identical except what could not be compared, "
                     "2 nothing verified.\n"};
}

int run_verify_command(std::span<char*> args, std::FILE* out, std::FILE* err) {
  if (asks_for_help(args)) return print_help(verify_help(), out);
  VerifyOptions own;
  std::vector<char*> shared;
  ComparisonOptions options;
  auto problem = take_verify_options(args, own, shared);
  if (problem.empty()) problem = parse_comparison_arguments(shared, {}, options);
  if (!problem.empty()) return usage_error(verify_help(), problem, err);
  const auto login = load_comparison_login(options, "verify", err);
  if (!login) return kUsageError;
  return verify({.config = login->config, .user = login->user, .database = options.database}, options, own, out,
                err);
}

}  // namespace pgdual::jobs
