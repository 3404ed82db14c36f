#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "conflict/conflict_record.h"
#include "protocol/expected.h"

namespace pgdual::conflict {

/// A failure of the conflict log: the code (errno in std::generic_category,
/// or a ConflictError) and a sentence that names the file.
struct LogError {
  std::error_code code;
  std::string message;  ///< e.g. "conflict log /var/lib/pgdual/conflicts.jsonl: mode 0644 is wider than 0600; ..."
};

/// When appended records reach the disk.
enum class SyncPolicy {
  /// append() returns after fdatasync(): a record is durable when append returns.
  every_append,
  /// Group commit. append() writes the record into the file (the page cache)
  /// and returns; flush() makes everything appended so far durable with one
  /// fdatasync(). The owner calls flush() on a timer, every few milliseconds.
  /// A crash of pgdual loses nothing; a power loss loses at most the records
  /// appended since the last flush.
  on_flush,
};

struct ConflictLogOptions {
  SyncPolicy sync = SyncPolicy::every_append;
  /// Rotate before a record would make the file larger than this; 0 never rotates.
  std::uint64_t rotate_bytes = 0;
  /// How many rotated files to keep: path.1 (newest) to path.N. At least 1
  /// when rotating, so the chain can be resumed from path.1.
  unsigned keep_rotated = 5;
};

/// The append-only, hash-chained conflict log (docs/conflict-log.md): one
/// JSON line per ConflictRecord, each carrying the hash of the one before, in
/// a file only its owner can read.
///
/// Thread safety: every member function may be called from any thread; a
/// mutex serializes them. append() and flush() block on the disk, so call
/// them off the threads that serve clients.
class ConflictLog {
 public:
  /// Opens the log at `path`, creating it with mode 0600 if it does not
  /// exist, and takes an exclusive flock() so a second pgdual cannot fork the chain.
  ///
  /// An existing file is resumed: the chain continues from its last complete
  /// line. A torn last line (a crash in the middle of a write leaves a line
  /// without its newline) is cut off: its append never returned, in
  /// every_append mode, so no caller counted on it; torn_bytes() says how
  /// much was cut. An empty file continues the chain of path.1, if there is one.
  ///
  /// @retval ConflictError::invalid_options     rotate_bytes set and keep_rotated 0
  /// @retval ConflictError::not_a_regular_file  `path` is a directory, device...
  /// @retval ConflictError::insecure_mode       the file's mode allows more than 0600
  /// @retval ConflictError::invalid_record      the last line is not a record, or the
  ///         file ends in bytes that cannot be the start of one (not a conflict log)
  /// @retval std::errc::resource_unavailable_try_again  another process has it open
  /// @retval errno of open(), fstat(), pread(), ftruncate() or fsync() otherwise
  [[nodiscard]] static Expected<ConflictLog, LogError> open(const std::filesystem::path& path,
                                                            const ConflictLogOptions& options = {});

  ConflictLog(ConflictLog&&) noexcept;
  ConflictLog& operator=(ConflictLog&&) noexcept;
  /// Syncs records appended since the last flush (on_flush mode, errors
  /// ignored) and closes the file. Call flush() first to see errors.
  ~ConflictLog();

  /// Appends `record` as the chain's next line, rotating first if the line
  /// would take the file past rotate_bytes. On error nothing is added: a
  /// partly written line is truncated away and the chain head stays.
  ///
  /// @retval errno of write(), fdatasync(), rename() or open() (rotation)
  [[nodiscard]] Expected<void, LogError> append(const ConflictRecord& record);

  /// Makes every record appended so far durable (one fdatasync); free when
  /// there is nothing to sync.
  ///
  /// @retval errno of fdatasync(). After a failed sync Linux may have dropped
  ///         the unwritten pages: treat the log as damaged, as PostgreSQL does.
  [[nodiscard]] Expected<void, LogError> flush();

  /// The hash of the last record written (kGenesisHash for a new log). Record
  /// it elsewhere from time to time: it is what proves that no record was cut
  /// from the end.
  [[nodiscard]] std::string head() const;
  /// Bytes of a torn last line that open() cut off; 0 normally.
  [[nodiscard]] std::uint64_t torn_bytes() const;
  [[nodiscard]] const std::filesystem::path& path() const;

 private:
  struct State;
  explicit ConflictLog(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace pgdual::conflict
