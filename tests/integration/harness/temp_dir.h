#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace pgdual::test {

/// The OS user that PostgreSQL binaries must run as: "postgres" when we are root (PostgreSQL
/// refuses to run as root), otherwise none (run as ourselves).
[[nodiscard]] std::optional<std::string> postgres_os_user();

/// A fresh directory under the system temp directory, removed with everything in it on destruction.
class TempDir {
 public:
  /// Creates "<tmp>/<prefix>-XXXXXX", mode 0700, owned by `owner` when given.
  /// Throws std::system_error when the directory cannot be created or handed over.
  explicit TempDir(std::string_view prefix, const std::optional<std::string>& owner = std::nullopt);
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

/// Writes `text` to `file` (replacing it), mode 0600, owned by `owner` when given.
/// Throws std::system_error on failure.
void write_file(const std::filesystem::path& file, std::string_view text,
                const std::optional<std::string>& owner = std::nullopt);

/// Appends `text` to an existing file. Throws std::system_error on failure.
void append_to_file(const std::filesystem::path& file, std::string_view text);

/// The whole content of `file`, or "" when it cannot be read (logs that were never written).
[[nodiscard]] std::string read_file(const std::filesystem::path& file);

/// Hands `file` to the OS user `owner` (uid and primary gid). Throws std::system_error on failure.
void change_owner(const std::filesystem::path& file, const std::string& owner);

}  // namespace pgdual::test
