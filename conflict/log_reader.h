#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "conflict/conflict_record.h"
#include "conflict/report.h"
#include "protocol/expected.h"

/// Reading a conflict log back, for `pgdual conflicts report` and `pgdual reconcile`: the files
/// of the chain in order, each record checked against the chain before it is handed over.
namespace pgdual::conflict {

/// The files of the log at `log`, oldest first: its rotated siblings FILE.N … FILE.1
/// (ConflictLog's rotation), then FILE itself. FILE may be missing when pgdual stopped in the
/// middle of a rotation. Fails only when the directory cannot be read.
[[nodiscard]] Expected<std::vector<std::filesystem::path>, std::string> log_files(const std::filesystem::path& log);

/// What reading the chain found.
struct LogReading {
  ChainSummary chain;
  std::string break_reason;  ///< why chain.first_bad breaks the chain, when it is set; never quotes the record
};

/// Takes each intact record in log order. Returns "" to go on, or why the record cannot be taken;
/// that ends the reading with an error naming the file and line.
using RecordSink = std::function<std::string(const ConflictRecord&)>;

/// Reads `files` (log_files() of `log`) in order, checking the hash chain across them, and hands
/// every record before the first one that breaks it to `sink`. A torn last line (a writer in the
/// middle of an append, or a crash) breaks the chain like any other bad record.
/// Fails when a file cannot be read, or an intact line is not a record `sink` takes.
[[nodiscard]] Expected<LogReading, std::string> read_log(const std::vector<std::filesystem::path>& files,
                                                         const std::filesystem::path& log, const RecordSink& sink);

}  // namespace pgdual::conflict
