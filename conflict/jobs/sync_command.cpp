#include "conflict/jobs/sync_command.h"

#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "conflict/jobs/pgdual_schema.h"
#include "conflict/jobs/sync_run.h"
#include "conflict/jobs/verifier.h"
#include "conflict/jobs/verify_command.h"
#include "conflict/wal_names.h"

namespace pgdual::jobs {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFailed = 1;
constexpr int kUsageError = 2;
constexpr int kInterrupted = 130;
constexpr std::size_t kMaxJobs = 64;
/// A terminal's picture is redrawn this often; anything else gets a JSON line this often.
constexpr auto kRedraw = std::chrono::milliseconds{200};
constexpr auto kJsonInterval = std::chrono::seconds{2};
/// How often the copy's progress is written into the mirror's record, for SHOW WAL and /metrics.
constexpr auto kRecordInterval = std::chrono::seconds{2};
/// How often catching up commits a tiny transaction on the primary and reads the record.
constexpr auto kCatchUpPoll = std::chrono::milliseconds{200};
/// A transaction that changes nothing, under a prefix pgdual's apply passes over: a quiet primary
/// then still has a next transaction, so that the apply sees it is past the copy's end.
constexpr std::string_view kTinyTransaction = "SELECT pg_catalog.pg_logical_emit_message(true, 'pgdual.verify', '')";

std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int /*signal*/) { stop_requested = true; }

Expected<SyncOptions, std::string> parse_arguments(std::span<char*> args) {
  SyncOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag == "--force") {
      options.force = true;
      continue;
    }
    if (flag == "--progress" || flag == "--no-progress") {
      options.progress = flag == "--progress";
      continue;
    }
    if (flag != "--config" && flag != "--database" && flag != "--user" && flag != "--jobs") {
      return unexpected{"unknown option \"" + std::string{flag} + "\""};
    }
    if (i + 1 == args.size()) return unexpected{std::string{flag} + " needs a value"};
    const std::string_view value = args[++i];
    if (flag == "--jobs") {
      std::size_t jobs = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), jobs);
      if (error != std::errc{} || end != value.data() + value.size() || jobs < 1 || jobs > kMaxJobs) {
        return unexpected{"--jobs: expected a number from 1 to 64, got \"" + std::string{value} + "\""};
      }
      options.jobs = jobs;
      continue;
    }
    auto& target = flag == "--config" ? options.config_file : flag == "--database" ? options.database : options.user;
    if (!target.empty()) return unexpected{std::string{flag} + " given twice"};
    target = value;
  }
  if (options.config_file.empty()) return unexpected{std::string{"--config is required"}};
  if (options.database.empty()) return unexpected{std::string{"--database is required"}};
  return options;
}

/// "12.3 s": the figures an operator compares between runs.
std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

const config::UserConfig& configured(const config::ProxyConfig& config, const std::string& name) {
  const auto* user = config.find_user(name);
  // A validated configuration names [[users]] entries in mirror.*_user.
  if (user == nullptr) throw std::logic_error{"user " + name + " is not in [[users]]"};
  return *user;
}

}  // namespace

SyncRun::SyncRun(config::ProxyConfig config, config::UserConfig reader, SyncOptions options,
                 const std::atomic<bool>& stop)
    : config_{std::move(config)},
      reader_{std::move(reader)},
      replication_{configured(config_, config_.mirror.replication_user)},
      applier_{configured(config_, config_.mirror.apply_user)},
      options_{std::move(options)},
      stop_{stop},
      slot_name_{conflict::slot_name_for(options_.database)} {
  terminal_ = isatty(STDERR_FILENO) == 1;
  show_progress_ = options_.progress.value_or(true);
  progress_.database = options_.database;
}

PgClient SyncRun::primary_client() const { return PgClient{config_.primary_backend(), reader_, options_.database}; }
PgClient SyncRun::mirror_client() const { return PgClient{config_.mirror_backend(), applier_, options_.database}; }
PgClient SyncRun::replication_client(PgClient::Kind kind) const {
  return PgClient{config_.primary_backend(), replication_, options_.database, kind};
}

void SyncRun::say(const std::string& line) {
  std::printf("pgdual sync: %s\n", line.c_str());
  std::fflush(stdout);
}

int SyncRun::run() {
  say("database " + options_.database + " from " + config_.primary_backend().name + " to " +
      config_.mirror_backend().name + ": checking");
  const auto problems = preflight();
  if (!problems.empty()) {
    std::fprintf(stderr, "pgdual sync: nothing copied; %zu thing%s to fix first:\n", problems.size(),
                 problems.size() == 1 ? "" : "s");
    for (const auto& problem : problems) {
      std::fprintf(stderr, "- %s: %s\n  fix: %s\n", problem.backend.c_str(), problem.problem.c_str(),
                   problem.fix.c_str());
    }
    return kFailed;
  }
  const std::string how = plan_ == SyncPlan::rows_only ? "rows only (the mirror holds the primary's schema)"
                                                       : "schema, rows, sequences and large objects";
  say(std::to_string(tables_.size()) + " tables to copy, " + how +
      (starting_over_ ? "; starting over: what an earlier sync or --force leaves on the mirror is dropped first" : ""));
  try {
    copy();
  } catch (const std::exception& error) {
    if (stop_) {
      say("interrupted: the mirror is left half-copied (pgdual serve applies nothing onto it); run pgdual sync again "
          "to start over");
      return kInterrupted;
    }
    std::fprintf(stderr, "pgdual sync: %s\npgdual sync: the mirror is left half-copied (pgdual serve applies nothing "
                 "onto it); run pgdual sync again once that is fixed: it starts over\n",
                 error.what());
    return kFailed;
  }
  try {
    catch_up();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "pgdual sync: %s\npgdual sync: the copy is complete; SHOW WAL says whether pgdual serve's "
                 "apply catches up\n",
                 error.what());
    return kFailed;
  }
  if (stop_) {
    say("interrupted while catching up: the copy is complete and pgdual serve goes on applying; SHOW WAL says when "
        "the database is in sync; run pgdual verify then");
    return kInterrupted;
  }
  return verify();
}

// Until the copy ends, the record says copying: a failure leaves the mirror so, and the slot is
// dropped, so that it keeps no WAL for a copy nobody finishes.
void SyncRun::copy() {
  auto mirror = mirror_client();
  mirror.execute("SET client_min_messages = warning");  // install_schema's NOTICEs say nothing here
  static_cast<void>(install_schema(mirror, schema_rights(config_)));
  record_copying(mirror);
  start_apply();
  drop_slot();
  try {
    if (starting_over_) {
      empty_mirror(mirror);
      plan_ = SyncPlan::whole;
    }
    ensure_publication();
    create_slot();
    hold_tables();
    say("slot " + slot_name_ + " made at " + slot_lsn_ + "; copying as of that point");
    work_dir_ = std::filesystem::temp_directory_path() / ("pgdual-sync-" + std::to_string(getpid()));
    std::filesystem::create_directories(work_dir_);
    progress_.phase = "schema";
    show(progress_, true);
    dump_schema();
    if (plan_ == SyncPlan::whole) restore("pre-data", work_dir_ / "restore.list", 1);
    copy_rows();
    holder_.reset();
    slot_.reset();  // every connection imported the snapshot: it may go
    const auto data_list = plan_ == SyncPlan::whole ? "restore.list" : "large_objects.list";
    if (plan_ == SyncPlan::rows_only) restore("pre-data", work_dir_ / data_list, 1);
    restore("data", work_dir_ / data_list, options_.jobs);
    if (plan_ == SyncPlan::whole) {
      progress_.phase = "indexes";
      show(progress_, true);
      restore("post-data", work_dir_ / "restore.list", options_.jobs);
      refresh_materialized_views();
    }
    std::filesystem::remove_all(work_dir_);
  } catch (...) {
    holder_.reset();
    slot_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(work_dir_, ignored);
    try {
      drop_slot();
    } catch (const PgClientError&) {
      // The lag monitor of pgdual serve drops it past mirror.max_lag_bytes.
    }
    throw;
  }
}

void SyncRun::copy_rows() {
  progress_.phase = "copying";
  auto mirror = mirror_client();
  TableCopy copy{{config_.primary_backend(), reader_}, {config_.mirror_backend(), applier_}, options_.database,
                 snapshot_, tables_, options_.jobs, stop_};
  const auto began = Clock::now();
  auto recorded = began;
  while (!copy.done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    copy.fill(progress_);
    progress_.copy_seconds = std::chrono::duration<double>(Clock::now() - began).count();
    show(progress_, false);
    if (Clock::now() - recorded < kRecordInterval) continue;
    recorded = Clock::now();
    record_progress(mirror, progress_, bytes_total_);
  }
  copy.finish();
  copy.fill(progress_);
  progress_.copy_seconds = std::chrono::duration<double>(Clock::now() - began).count();
  show(progress_, true);
  record_progress(mirror, progress_, bytes_total_);
}

void SyncRun::catch_up() {
  auto primary = replication_client(PgClient::Kind::ordinary);
  auto mirror = mirror_client();
  const auto position = primary.query_value("SELECT pg_catalog.pg_current_wal_lsn()");
  record_catching_up(mirror, position);
  say("rows copied in " + seconds_text(progress_.copy_seconds) + "; catching up from " + slot_lsn_ + " to " +
      position + " through pgdual serve's apply");
  progress_.phase = "catching up";
  while (!stop_) {
    primary.execute(std::string{kTinyTransaction});
    const auto behind = primary.query(
        "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
        "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
        {slot_name_});
    if (behind.empty()) throw PgClientError{"slot " + slot_name_ + " is gone from the primary: run pgdual sync again"};
    progress_.lag_bytes = std::stoll(behind.front().at(0).value_or("0"));
    show(progress_, false);
    if (recorded_state(mirror) == "in sync") break;
    std::this_thread::sleep_for(kCatchUpPoll);
  }
  progress_.phase = "in sync";
  progress_.lag_bytes.reset();
  show(progress_, true);
}

int SyncRun::verify() {
  const auto in_sync = std::chrono::duration<double>(Clock::now() - started_).count();
  say("database " + options_.database + " in sync " + seconds_text(in_sync) + " after the start; verifying");
  std::vector<std::string> words{"--config", options_.config_file, "--database", options_.database,
                                 "--user", reader_.name, "--jobs", std::to_string(options_.jobs)};
  words.push_back(terminal_ && show_progress_ ? "--progress" : "--no-progress");
  std::vector<char*> args;
  for (auto& word : words) args.push_back(word.data());
  const int verdict = run_verify_command(args);
  const auto verified = std::chrono::duration<double>(Clock::now() - started_).count() - in_sync;
  say(verdict == 0 ? "verified in " + seconds_text(verified) + ": both servers hold the same database"
                   : "verify did not find both servers identical (exit code " + std::to_string(verdict) + ")");
  return verdict == 0 ? 0 : kFailed;
}

// A terminal gets the picture redrawn in place; anything else a JSON line every few seconds.
void SyncRun::show(const conflict::SyncProgress& progress, bool last) {
  if (!show_progress_) return;
  const auto now = Clock::now();
  if (!last && now - last_shown_ < (terminal_ ? std::chrono::milliseconds{kRedraw} : kJsonInterval)) return;
  last_shown_ = now;
  if (!terminal_) {
    std::fprintf(stderr, "%s\n", conflict::render_sync_json(progress).c_str());
    return;
  }
  std::string picture = lines_drawn_ > 0 ? "\033[" + std::to_string(lines_drawn_) + "F\033[J" : "";
  const auto lines = conflict::render_sync_lines(progress);
  for (const auto& line : lines) picture += line + "\n";
  std::fputs(picture.c_str(), stderr);
  lines_drawn_ = last ? 0 : lines.size();
}

CommandHelp sync_help() {
  return {.name = "sync",
          .synopsis = "usage: pgdual sync --config FILE --database NAME [--user NAME] [--jobs N] [--force]\n"
                      "                   [--progress | --no-progress]\n",
          .details =
              "Copies database NAME of the live primary onto the mirror with no outage (docs/sync.md): a slot with\n"
              "an exported snapshot, the schema (pg_dump), every table's rows by parallel COPY, sequences, large\n"
              "objects, then indexes and constraints (pg_restore), all as of that snapshot; then pgdual serve's WAL\n"
              "mirror applies what the primary committed since, and the sync ends with pgdual verify. pgdual serve\n"
              "must run with the same configuration. Until the database is in sync, no read goes to the mirror\n"
              "and no COMMIT waits for it.\n"
              "  --config FILE      pgdual's configuration, which names both backends\n"
              "  --database NAME    the database to copy (required)\n"
              "  --user NAME        the configured user that reads every table of the primary (default:\n"
              "                     mirror.replication_user)\n"
              "  --jobs N           tables copied at once, and pg_restore's jobs (1 to 64, default 4)\n"
              "  --force            empty the mirror's database first, whatever it holds\n"
              "  --progress, --no-progress\n"
              "                     show progress on stderr: a picture on a terminal, else a JSON line every 2 s\n"
              "                     (default: shown)\n"
              "Exit code: 0 in sync and verified identical, 1 a failure or a difference, 2 a wrong command line,\n"
              "130 interrupted (run it again: it starts over).\n"};
}

int run_sync_command(std::span<char*> args) {
  if (asks_for_help(args)) return print_help(sync_help());
  auto options = parse_arguments(args);
  if (!options) return usage_error(sync_help(), options.error());
  ComparisonOptions wanted;
  wanted.config_file = options->config_file;
  wanted.database = options->database;
  wanted.user = options->user;
  auto login = load_comparison_login(wanted, "sync", stderr);
  if (!login) return kUsageError;
  if (login->config.mirror.mode != config::MirrorMode::wal) {
    std::fputs("pgdual sync: it needs mirror.mode = \"wal\": the mirror applies what the primary commits during "
               "the copy from the primary's WAL\n",
               stderr);
    return kUsageError;
  }
  // Without --user, the replication user reads the primary: it has the rights the slot needs.
  if (options->user.empty()) login->user = configured(login->config, login->config.mirror.replication_user);
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  SyncRun sync{std::move(login->config), std::move(login->user), std::move(*options), stop_requested};
  return sync.run();
}

}  // namespace pgdual::jobs
