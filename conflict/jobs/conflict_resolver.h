#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>

#include "config/proxy_config.h"
#include "conflict/resolution.h"

/// Resolving conflicts in the conflict log, for `pgdual reconcile` and `pgdual conflicts resolve`.
namespace pgdual::jobs {

/// Whether the log at `log` holds any record: the file, or its first rotated sibling (pgdual
/// stopped in the middle of a rotation).
[[nodiscard]] bool conflict_log_exists(const std::filesystem::path& log);

/// The conflicts of the log at `log` whose latest record is open, and the ids of the resolved
/// ones. A chain broken at the end (a serve in the middle of an append) is read up to the break,
/// which is printed to `out`. std::nullopt, with the reason printed, when the log cannot be read.
[[nodiscard]] std::optional<conflict::OpenConflicts> read_open_conflicts(const std::filesystem::path& log,
                                                                          std::FILE* out);

/// Hands `records` (resolutions) to the conflict log of `settings`: appends them directly, after
/// whatever is waiting in the inbox, when no `pgdual serve` holds the log, or else posts them to
/// the log's inbox. Prints to `out` "conflict log: <summary>" and where the records went, and to
/// `err` what went wrong, never a record's contents. False when they reached neither.
[[nodiscard]] bool deliver_resolutions(const config::ConflictsConfig& settings,
                                       std::span<const conflict::ConflictRecord> records, const std::string& summary,
                                       std::FILE* out, std::FILE* err);

/// Resolves, in the conflict log of `settings`, the open conflicts `scope` settles
/// (conflict::resolutions) and prints what it did to `out`. False, with the reason printed, when
/// the log could not be read or written; a log that does not exist holds nothing to resolve.
[[nodiscard]] bool resolve_conflicts(const config::ConflictsConfig& settings, const conflict::VerifiedScope& scope,
                                     std::FILE* out);

/// Now, as the conflict records' times are compared.
[[nodiscard]] conflict::Timestamp now_as_timestamp();

/// Now, as a resolution record's time.
[[nodiscard]] std::string now_as_record_time();

}  // namespace pgdual::jobs
