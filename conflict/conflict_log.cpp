#include "conflict/conflict_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>

#include "conflict/conflict_error.h"

namespace pgdual::conflict {
namespace {

namespace fs = std::filesystem;

// How every record line starts; a torn line is a prefix of a record line.
constexpr std::string_view kRecordStart = "{\"prev\":\"";
constexpr std::uint64_t kFirstTailWindow = 64 * 1024;
constexpr mode_t kOwnerReadWrite = 0600;

class FileDescriptor {
 public:
  FileDescriptor() noexcept = default;
  explicit FileDescriptor(int fd) noexcept : fd_{fd} {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(FileDescriptor&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

LogError failure(const fs::path& path, std::error_code code, std::string_view detail) {
  return {code, "conflict log " + path.string() + ": " + std::string(detail)};
}

// A failed system call, from errno.
LogError system_failure(const fs::path& path, std::string_view call) {
  const std::error_code code{errno, std::generic_category()};
  return failure(path, code, std::string(call) + ": " + code.message());
}

fs::path rotated_path(const fs::path& path, unsigned generation) {
  return fs::path{path}.concat("." + std::to_string(generation));
}

std::string octal_mode(mode_t mode) {
  std::string text = "0";
  for (int shift = 6; shift >= 0; shift -= 3) text.push_back(static_cast<char>('0' + ((mode >> shift) & 7U)));
  return text;
}

bool pread_all(int fd, std::string& buffer, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < buffer.size()) {
    const auto got = ::pread(fd, buffer.data() + done, buffer.size() - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) errno = EIO;  // the file shrank under us
      return false;
    }
    done += static_cast<std::size_t>(got);
  }
  return true;
}

// The end of a log file: its last complete line and what follows it.
struct Tail {
  std::uint64_t complete_end = 0;  ///< offset just past the last newline; 0 when there is none
  bool has_line = false;
  std::string last_line;  ///< without its newline
  std::string torn;       ///< bytes after the last newline
};

// Reads backwards from the end in growing windows until the last complete
// line is inside one, so a long file costs a read of its last lines only.
Expected<Tail, LogError> read_tail(int fd, const fs::path& path) {
  struct stat status {};
  if (::fstat(fd, &status) != 0) return unexpected{system_failure(path, "fstat")};
  const auto size = static_cast<std::uint64_t>(status.st_size);
  for (auto window = std::min(size, kFirstTailWindow);; window = std::min(size, window * 2)) {
    const auto offset = size - window;
    std::string buffer(window, '\0');
    if (!pread_all(fd, buffer, offset)) return unexpected{system_failure(path, "pread")};
    const bool whole_file = window == size;
    const auto last = buffer.rfind('\n');
    if (last == std::string::npos) {
      if (whole_file) return Tail{0, false, {}, std::move(buffer)};
      continue;
    }
    const auto before = last == 0 ? std::string::npos : buffer.rfind('\n', last - 1);
    if (before == std::string::npos && !whole_file) continue;
    const auto start = before == std::string::npos ? 0 : before + 1;
    return Tail{offset + last + 1, true, buffer.substr(start, last - start), buffer.substr(last + 1)};
  }
}

Expected<std::string, LogError> hash_of_last_line(const Tail& tail, const fs::path& path) {
  const auto hash = claimed_hash(tail.last_line);
  if (!hash) {
    return unexpected{failure(path, ConflictError::invalid_record,
                              "the last line is not a conflict record; is this a pgdual conflict log?")};
  }
  return std::string(*hash);
}

// The head of the chain an empty log continues: the last hash of path.1, or genesis.
Expected<std::string, LogError> predecessor_head(const fs::path& path) {
  const auto previous = rotated_path(path, 1);
  FileDescriptor file{::open(previous.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.get() < 0) {
    if (errno == ENOENT) return std::string(kGenesisHash);
    return unexpected{system_failure(previous, "open")};
  }
  auto tail = read_tail(file.get(), previous);
  if (!tail) return unexpected{tail.error()};
  if (!tail->has_line) {
    return unexpected{failure(previous, ConflictError::invalid_record, "holds no record to continue the chain from")};
  }
  return hash_of_last_line(*tail, previous);
}

Expected<void, LogError> check_file(int fd, const fs::path& path) {
  struct stat status {};
  if (::fstat(fd, &status) != 0) return unexpected{system_failure(path, "fstat")};
  if (!S_ISREG(status.st_mode)) {
    return unexpected{failure(path, ConflictError::not_a_regular_file, "not a regular file")};
  }
  const auto mode = status.st_mode & 0777U;
  if ((mode & ~kOwnerReadWrite) != 0) {
    return unexpected{failure(path, ConflictError::insecure_mode,
                              "mode " + octal_mode(mode) + " is wider than 0600; run chmod 600 on it")};
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return unexpected{failure(path, std::make_error_code(std::errc::resource_unavailable_try_again),
                                "in use by another process")};
    }
    return unexpected{system_failure(path, "flock")};
  }
  return {};
}

// Makes the creation or renaming of `path` durable.
Expected<void, LogError> sync_directory(const fs::path& path) {
  auto directory = path.parent_path();
  if (directory.empty()) directory = ".";
  FileDescriptor file{::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (file.get() < 0) return unexpected{system_failure(directory, "open")};
  if (::fsync(file.get()) != 0) return unexpected{system_failure(directory, "fsync")};
  return {};
}

int open_new(const fs::path& path) {
  return ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, kOwnerReadWrite);
}

}  // namespace

struct ConflictLog::State {
  std::mutex mutex;
  fs::path path;
  ConflictLogOptions options;
  FileDescriptor file;
  std::uint64_t size = 0;
  std::string head;
  bool unsynced = false;
  std::uint64_t torn_bytes = 0;

  Expected<void, LogError> resume();
  Expected<void, LogError> write_line(std::string_view line);
  Expected<void, LogError> sync();
  Expected<void, LogError> rotate();
};

Expected<void, LogError> ConflictLog::State::resume() {
  auto tail = read_tail(file.get(), path);
  if (!tail) return unexpected{tail.error()};
  if (!tail->torn.empty()) {
    if (!tail->torn.starts_with(kRecordStart) && !kRecordStart.starts_with(tail->torn)) {
      return unexpected{failure(path, ConflictError::invalid_record,
                                "ends in " + std::to_string(tail->torn.size()) +
                                    " bytes that are not a record; is this a pgdual conflict log?")};
    }
    if (::ftruncate(file.get(), static_cast<off_t>(tail->complete_end)) != 0) {
      return unexpected{system_failure(path, "ftruncate")};
    }
    if (::fdatasync(file.get()) != 0) return unexpected{system_failure(path, "fdatasync")};
    torn_bytes = tail->torn.size();
  }
  size = tail->complete_end;
  auto resumed = tail->has_line ? hash_of_last_line(*tail, path) : predecessor_head(path);
  if (!resumed) return unexpected{resumed.error()};
  head = std::move(*resumed);
  return {};
}

Expected<void, LogError> ConflictLog::State::write_line(std::string_view line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const auto wrote = ::write(file.get(), line.data() + done, line.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      auto error = system_failure(path, "write");
      // A partial line would glue itself to the next record; cut it off.
      if (done > 0 && ::ftruncate(file.get(), static_cast<off_t>(size)) != 0) {
        error.message += " (and ftruncate failed; the file ends in a torn line)";
      }
      return unexpected{std::move(error)};
    }
    done += static_cast<std::size_t>(wrote);
  }
  return {};
}

Expected<void, LogError> ConflictLog::State::sync() {
  if (!unsynced) return {};
  if (::fdatasync(file.get()) != 0) return unexpected{system_failure(path, "fdatasync")};
  unsynced = false;
  return {};
}

// path.N-1 -> path.N ... path -> path.1, then a new empty path. The chain
// head is not touched, so the new file's first record continues path.1.
Expected<void, LogError> ConflictLog::State::rotate() {
  if (auto synced = sync(); !synced) return synced;
  for (auto generation = options.keep_rotated - 1; generation >= 1; --generation) {
    const auto from = rotated_path(path, generation);
    if (::rename(from.c_str(), rotated_path(path, generation + 1).c_str()) != 0 && errno != ENOENT) {
      return unexpected{system_failure(from, "rename")};
    }
  }
  const auto newest = rotated_path(path, 1);
  if (::rename(path.c_str(), newest.c_str()) != 0) return unexpected{system_failure(path, "rename")};
  FileDescriptor fresh{open_new(path)};
  if (fresh.get() < 0 || ::flock(fresh.get(), LOCK_EX | LOCK_NB) != 0) {
    auto error = system_failure(path, "open");
    // Keep writing where we were, under the old name.
    if (::rename(newest.c_str(), path.c_str()) != 0) {
      error.message += " (and could not rename " + newest.string() + " back)";
    }
    return unexpected{std::move(error)};
  }
  file = std::move(fresh);
  size = 0;
  return sync_directory(path);
}

Expected<ConflictLog, LogError> ConflictLog::open(const fs::path& path, const ConflictLogOptions& options) {
  if (options.rotate_bytes > 0 && options.keep_rotated == 0) {
    return unexpected{failure(path, ConflictError::invalid_options, "keep_rotated must be at least 1 when rotating")};
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->options = options;
  bool created = true;
  state->file = FileDescriptor{open_new(path)};
  if (state->file.get() < 0 && errno == EEXIST) {
    created = false;
    state->file = FileDescriptor{::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC)};
  }
  if (state->file.get() < 0) return unexpected{system_failure(path, "open")};
  if (auto checked = check_file(state->file.get(), path); !checked) return unexpected{checked.error()};
  if (auto resumed = state->resume(); !resumed) return unexpected{resumed.error()};
  if (created) {
    if (auto synced = sync_directory(path); !synced) return unexpected{synced.error()};
  }
  return ConflictLog{std::move(state)};
}

ConflictLog::ConflictLog(std::unique_ptr<State> state) : state_{std::move(state)} {}
ConflictLog::ConflictLog(ConflictLog&&) noexcept = default;
ConflictLog& ConflictLog::operator=(ConflictLog&&) noexcept = default;

ConflictLog::~ConflictLog() {
  if (state_ && state_->unsynced) ::fdatasync(state_->file.get());
}

Expected<void, LogError> ConflictLog::append(const ConflictRecord& record) {
  const std::lock_guard lock{state_->mutex};
  auto& state = *state_;
  auto line = to_json_line(record, state.head);
  auto hash = std::string(claimed_hash(line).value_or(""));
  line.push_back('\n');
  const auto limit = state.options.rotate_bytes;
  if (limit > 0 && state.size > 0 && state.size + line.size() > limit) {
    if (auto rotated = state.rotate(); !rotated) return rotated;
  }
  if (auto written = state.write_line(line); !written) return written;
  state.size += line.size();
  state.head = std::move(hash);
  state.unsynced = true;
  if (state.options.sync == SyncPolicy::every_append) return state.sync();
  return {};
}

Expected<void, LogError> ConflictLog::flush() {
  const std::lock_guard lock{state_->mutex};
  return state_->sync();
}

std::string ConflictLog::head() const {
  const std::lock_guard lock{state_->mutex};
  return state_->head;
}

std::uint64_t ConflictLog::torn_bytes() const {
  const std::lock_guard lock{state_->mutex};
  return state_->torn_bytes;
}

const fs::path& ConflictLog::path() const { return state_->path; }

}  // namespace pgdual::conflict
