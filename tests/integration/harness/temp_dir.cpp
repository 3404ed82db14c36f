#include "tests/integration/harness/temp_dir.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

namespace pgdual::test {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

std::optional<std::string> postgres_os_user() {
  if (geteuid() == 0) return "postgres";
  return std::nullopt;
}

TempDir::TempDir(std::string_view prefix, const std::optional<std::string>& owner) {
  auto pattern = (std::filesystem::temp_directory_path() / (std::string{prefix} + "-XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) throw_errno("mkdtemp " + pattern);
  path_ = buffer.data();
  if (owner) change_owner(path_, *owner);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ignored;  // best effort: a leftover temp dir must not turn into a test failure
  std::filesystem::remove_all(path_, ignored);
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

void write_file(const std::filesystem::path& file, std::string_view text,
                const std::optional<std::string>& owner) {
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("open " + file.string());
  const auto written = write(fd, text.data(), text.size());
  const int saved_errno = errno;
  close(fd);
  if (written != static_cast<ssize_t>(text.size())) {
    errno = saved_errno;
    throw_errno("write " + file.string());
  }
  if (owner) change_owner(file, *owner);
}

void append_to_file(const std::filesystem::path& file, std::string_view text) {
  std::ofstream out{file, std::ios::app | std::ios::binary};
  out << text;
  if (!out.flush()) throw std::system_error(EIO, std::generic_category(), "append " + file.string());
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in{file, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void change_owner(const std::filesystem::path& file, const std::string& owner) {
  errno = 0;
  const passwd* entry = getpwnam(owner.c_str());
  if (entry == nullptr) {
    if (errno == 0) errno = ENOENT;
    throw_errno("getpwnam " + owner);
  }
  if (chown(file.c_str(), entry->pw_uid, entry->pw_gid) != 0) throw_errno("chown " + file.string());
}

}  // namespace pgdual::test
