#include "conflict/jobs/conflict_resolver.h"

#include <chrono>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "conflict/conflict_log.h"
#include "conflict/jobs/log_options.h"
#include "conflict/log_inbox.h"
#include "conflict/log_reader.h"
#include "conflict/time_text.h"

namespace pgdual::jobs {
namespace {

namespace fs = std::filesystem;

void print(std::FILE* out, const std::string& text) {
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

/// Appends `records` to the log itself; false when a serve holds it (`busy`) or on an error (printed).
bool append_directly(const config::ConflictsConfig& settings, std::span<const conflict::ConflictRecord> records,
                     bool& busy, std::FILE* out) {
  auto log = conflict::ConflictLog::open(settings.log_path, conflict_log_options(settings));
  if (!log) {
    busy = log.error().code == std::errc::resource_unavailable_try_again;
    if (!busy) print(out, log.error().message + "\n");
    return false;
  }
  // Resolutions an earlier reconcile left while a serve ran go first, in the order they were made.
  if (auto drained = conflict::drain_inbox(*log); !drained) {
    print(out, drained.error().message + "\n");
    return false;
  }
  for (const auto& record : records) {
    if (auto appended = log->append(record); !appended) {
      print(out, appended.error().message + "\n");
      return false;
    }
  }
  if (auto flushed = log->flush(); !flushed) {
    print(out, flushed.error().message + "\n");
    return false;
  }
  return true;
}

}  // namespace

bool conflict_log_exists(const fs::path& log) {
  std::error_code missing;
  return fs::exists(log, missing) || fs::exists(fs::path{log}.concat(".1"), missing);
}

std::optional<conflict::OpenConflicts> read_open_conflicts(const fs::path& log, std::FILE* out) {
  const auto files = conflict::log_files(log);
  if (!files) {
    print(out, "conflict log: " + files.error() + "\n");
    return std::nullopt;
  }
  conflict::OpenConflicts open;
  const auto take = [&open](const conflict::ConflictRecord& record) -> std::string {
    open.add(record);
    return {};
  };
  const auto reading = conflict::read_log(*files, log, take);
  if (!reading) {
    print(out, "conflict log: " + reading.error() + "\n");
    return std::nullopt;
  }
  if (const auto& bad = reading->chain.first_bad) {
    // A serve in the middle of an append leaves a torn last line for a moment: not a reason to stop.
    print(out, "conflict log: read up to " + bad->file + ":" + std::to_string(bad->line) + ", where the chain breaks (" +
                   reading->break_reason + ")\n");
  }
  return open;
}

bool deliver_resolutions(const config::ConflictsConfig& settings, std::span<const conflict::ConflictRecord> records,
                         const std::string& summary, std::FILE* out, std::FILE* err) {
  const auto& log = settings.log_path;
  bool busy = false;
  if (append_directly(settings, records, busy, err)) {
    print(out, "conflict log: " + summary + " (appended to " + log.string() + ")\n");
    return true;
  }
  if (!busy) return false;
  if (const auto posted = conflict::post_to_inbox(log, records); !posted) {
    print(err, posted.error().message + "\n");
    return false;
  }
  print(out, "conflict log: " + summary + "; pgdual serve holds the log and appends them from " +
                 conflict::inbox_directory(log).string() + " within a second\n");
  return true;
}

conflict::Timestamp now_as_timestamp() { return *conflict::parse_rfc3339(now_as_record_time()); }

std::string now_as_record_time() { return conflict::rfc3339_utc(std::chrono::system_clock::now()); }

bool resolve_conflicts(const config::ConflictsConfig& settings, const conflict::VerifiedScope& scope, std::FILE* out) {
  const auto& log = settings.log_path;
  if (!conflict_log_exists(log)) {
    print(out, "conflict log " + log.string() + ": not there; no conflict to resolve\n");
    return true;
  }
  const auto open = read_open_conflicts(log, out);
  if (!open) return false;
  const auto records = conflict::resolutions(*open, scope, now_as_record_time());
  const auto summary = std::to_string(records.size()) + " of " + std::to_string(open->records().size()) +
                       " open conflicts resolved";
  if (records.empty()) {
    print(out, "conflict log: " + summary + "\n");
    return true;
  }
  return deliver_resolutions(settings, records, summary, out, out);
}

}  // namespace pgdual::jobs
