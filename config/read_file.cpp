#include "config/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>

namespace pgdual::config {
namespace {

std::string os_reason(int error) { return std::generic_category().message(error); }

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { ::close(fd_); }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

// open + fstat rather than stat + open, so the permissions checked belong to the file whose
// bytes are returned even if someone swaps the path in between.
Expected<FileContent, std::string> read_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unexpected(os_reason(errno));
  const FileDescriptor guard(fd);

  struct stat status {};
  if (::fstat(fd, &status) != 0) return unexpected(os_reason(errno));
  if (!S_ISREG(status.st_mode)) return unexpected(std::string("not a regular file"));

  FileContent content{.bytes = {}, .permissions = static_cast<std::filesystem::perms>(status.st_mode & 07777)};
  std::array<char, 4096> chunk{};
  for (;;) {
    const ssize_t got = ::read(fd, chunk.data(), chunk.size());
    if (got == 0) return content;
    if (got > 0) {
      content.bytes.append(chunk.data(), static_cast<std::size_t>(got));
    } else if (errno != EINTR) {
      return unexpected(os_reason(errno));
    }
  }
}

}  // namespace pgdual::config
