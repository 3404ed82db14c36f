#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "conflict/conflict_log.h"
#include "conflict/conflict_record.h"
#include "protocol/expected.h"

/// The inbox of a conflict log: how `pgdual reconcile` and `pgdual conflicts resolve` hand
/// resolution records to the `pgdual serve` that holds the log open (and flock'ed), which appends
/// them to the chain.
/// docs/conflict-log.md, "Resolutions", describes it for operators.
namespace pgdual::conflict {

/// `<log>.inbox`, beside the log.
[[nodiscard]] std::filesystem::path inbox_directory(const std::filesystem::path& log);

/// Leaves `records`, which must all be resolutions naming who resolved them, in the inbox of `log` as one file of JSON
/// lines, whole or not at all: written under a hidden temporary name, synced, then renamed.
/// Creates the directory with mode 0700 when it is missing. Returns the file's path.
///
/// @retval ConflictError::invalid_record  a record is not a resolution, or its resolved_by is empty
/// @retval ConflictError::insecure_mode   the directory is not ours, or group or others may write to it
/// @retval errno of mkdir(), open(), write(), fsync() or rename() otherwise
[[nodiscard]] Expected<std::filesystem::path, LogError> post_to_inbox(const std::filesystem::path& log,
                                                                      std::span<const ConflictRecord> records);

/// What one drain did.
struct InboxDrain {
  std::size_t files = 0;              ///< appended and deleted
  std::size_t records = 0;            ///< appended
  std::vector<std::string> resolved;  ///< the ids of the records appended, which they resolve
  std::vector<std::string> rejected;  ///< "NAME: why", each renamed to NAME.rejected and left for the operator
};

/// Appends the records waiting in the inbox of `log`, a file at a time in the order they were
/// posted, makes them durable (one flush), then deletes the files. A file that is not ours, is
/// readable by others, is not whole lines of records, or holds a record that is not a resolution
/// is rejected: renamed, never appended. A crash between the flush and the deletion appends the
/// same resolutions again later, which changes nothing: the last record of an id wins.
/// Without an inbox directory there is nothing to do.
///
/// @retval ConflictError::insecure_mode  the directory is not ours, or group or others may write to it
/// @retval the errors of ConflictLog::append() and flush(), and errno of reading the directory;
///         files not yet appended stay for the next drain
[[nodiscard]] Expected<InboxDrain, LogError> drain_inbox(ConflictLog& log);

}  // namespace pgdual::conflict
