#include "conflict/log_inbox.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string_view>
#include <system_error>
#include <utility>

#include "conflict/conflict_error.h"

namespace pgdual::conflict {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDelivery = ".jsonl";
constexpr std::string_view kRejected = ".rejected";
/// Far more resolutions than one reconcile writes; a larger file is not one of ours.
constexpr off_t kMaxDeliveryBytes = off_t{256} * 1024 * 1024;

LogError inbox_failure(const fs::path& path, std::error_code code, std::string_view detail) {
  return {code, "conflict log inbox " + path.string() + ": " + std::string{detail}};
}

LogError system_failure(const fs::path& path, std::string_view call) {
  const std::error_code code{errno, std::generic_category()};
  return inbox_failure(path, code, std::string{call} + ": " + code.message());
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_{fd} {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Only the account pgdual runs as may put records into its log.
std::string why_untrusted(const struct stat& status, mode_t forbidden) {
  if (status.st_uid != ::geteuid()) return "owned by another user";
  if ((status.st_mode & forbidden) != 0) return "group or others have access; run chmod go-rwx on it";
  return {};
}

Expected<void, LogError> checked_directory(const fs::path& directory) {
  struct stat status {};
  if (::lstat(directory.c_str(), &status) != 0) return unexpected{system_failure(directory, "lstat")};
  if (!S_ISDIR(status.st_mode)) {
    return unexpected{inbox_failure(directory, make_error_code(ConflictError::not_a_regular_file), "not a directory")};
  }
  if (const auto why = why_untrusted(status, S_IWGRP | S_IWOTH); !why.empty()) {
    return unexpected{inbox_failure(directory, make_error_code(ConflictError::insecure_mode), why)};
  }
  return {};
}

Expected<void, LogError> make_directory(const fs::path& directory) {
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) return unexpected{system_failure(directory, "mkdir")};
  return checked_directory(directory);
}

bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const auto written = ::write(fd, text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return false;
    text.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

// Names sort in the order they were posted: nanoseconds since 1970, zero-padded.
std::string delivery_name() {
  static std::atomic<unsigned> sequence{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  char name[96];
  std::snprintf(name, sizeof name, "%020lld-%d-%u", static_cast<long long>(std::chrono::nanoseconds{now}.count()),
                static_cast<int>(::getpid()), sequence.fetch_add(1));
  return name;
}

Expected<void, LogError> sync_directory(const fs::path& directory) {
  const FileDescriptor fd{::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) return unexpected{system_failure(directory, "fsync")};
  return {};
}

std::string delivery_text(std::span<const ConflictRecord> records) {
  std::string text;
  for (const auto& record : records) text.append(to_json_line(record, kGenesisHash)).push_back('\n');
  return text;
}

Expected<void, LogError> write_synced(const fs::path& path, std::string_view text) {
  const FileDescriptor fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (fd.get() < 0) return unexpected{system_failure(path, "open")};
  if (!write_all(fd.get(), text)) return unexpected{system_failure(path, "write")};
  if (::fsync(fd.get()) != 0) return unexpected{system_failure(path, "fsync")};
  return {};
}

// The records of one delivery, or why it is rejected.
Expected<std::vector<ConflictRecord>, std::string> read_delivery(const fs::path& path) {
  const FileDescriptor fd{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  struct stat status {};
  if (fd.get() < 0 || ::fstat(fd.get(), &status) != 0) {
    return unexpected{std::error_code{errno, std::generic_category()}.message()};
  }
  if (!S_ISREG(status.st_mode)) return unexpected{std::string{"not a regular file"}};
  if (const auto why = why_untrusted(status, S_IRWXG | S_IRWXO); !why.empty()) return unexpected{why};
  if (status.st_size > kMaxDeliveryBytes) return unexpected{std::string{"larger than any delivery"}};
  std::string text(static_cast<std::size_t>(status.st_size), '\0');
  if (::read(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return unexpected{std::string{"could not be read whole"}};
  }
  if (!text.empty() && !text.ends_with('\n')) return unexpected{std::string{"ends in a torn line"}};
  std::vector<ConflictRecord> records;
  for (std::string_view rest = text; !rest.empty();) {
    const auto end = rest.find('\n');
    auto parsed = parse_json_line(rest.substr(0, end));
    if (!parsed) return unexpected{"line " + std::to_string(records.size() + 1) + ": " + parsed.error().message()};
    if (parsed->record.resolution != Resolution::resolved) {
      return unexpected{"line " + std::to_string(records.size() + 1) + " is not a resolution"};
    }
    records.push_back(std::move(parsed->record));
    rest.remove_prefix(end + 1);
  }
  return records;
}

Expected<std::vector<fs::path>, LogError> waiting_deliveries(const fs::path& directory) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::directory_iterator entry{directory, error}, end; !error && entry != end; entry.increment(error)) {
    const auto name = entry->path().filename().string();
    if (!name.starts_with('.') && name.ends_with(kDelivery)) files.push_back(entry->path());
  }
  if (error) return unexpected{inbox_failure(directory, error, "cannot be read: " + error.message())};
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

fs::path inbox_directory(const fs::path& log) { return fs::path{log}.concat(".inbox"); }

Expected<fs::path, LogError> post_to_inbox(const fs::path& log, std::span<const ConflictRecord> records) {
  const auto directory = inbox_directory(log);
  // Every resolution says who made it; the drain still takes those written before records said so.
  const auto not_resolution = [](const ConflictRecord& record) {
    return record.resolution != Resolution::resolved || record.resolved_by.empty();
  };
  if (std::any_of(records.begin(), records.end(), not_resolution)) {
    return unexpected{inbox_failure(directory, make_error_code(ConflictError::invalid_record),
                                    "only resolution records that name who resolved them may be posted")};
  }
  if (auto made = make_directory(directory); !made) return unexpected{made.error()};
  const auto name = delivery_name();
  const auto temporary = directory / ("." + name + ".tmp");
  const auto delivery = directory / (name + std::string{kDelivery});
  if (auto written = write_synced(temporary, delivery_text(records)); !written) {
    ::unlink(temporary.c_str());
    return unexpected{written.error()};
  }
  if (::rename(temporary.c_str(), delivery.c_str()) != 0) {
    auto failure = system_failure(delivery, "rename");
    ::unlink(temporary.c_str());
    return unexpected{std::move(failure)};
  }
  if (auto synced = sync_directory(directory); !synced) return unexpected{synced.error()};
  return delivery;
}

Expected<InboxDrain, LogError> drain_inbox(ConflictLog& log) {
  const auto directory = inbox_directory(log.path());
  InboxDrain drain;
  if (::access(directory.c_str(), F_OK) != 0 && errno == ENOENT) return drain;
  if (auto checked = checked_directory(directory); !checked) return unexpected{checked.error()};
  auto files = waiting_deliveries(directory);
  if (!files) return unexpected{files.error()};
  std::vector<fs::path> appended;
  for (const auto& file : *files) {
    auto records = read_delivery(file);
    if (!records) {
      drain.rejected.push_back(file.filename().string() + ": " + records.error());
      ::rename(file.c_str(), fs::path{file}.concat(kRejected).c_str());
      continue;
    }
    for (const auto& record : *records) {
      if (auto added = log.append(record); !added) return unexpected{added.error()};
      drain.resolved.push_back(record.id);
    }
    drain.records += records->size();
    appended.push_back(file);
  }
  if (appended.empty()) return drain;
  if (auto flushed = log.flush(); !flushed) return unexpected{flushed.error()};
  for (const auto& file : appended) ::unlink(file.c_str());
  drain.files = appended.size();
  return drain;
}

}  // namespace pgdual::conflict
