#pragma once

// Private to config/: reads the configuration file and the secret files it names (passwords, the
// rows-digest key).

#include <filesystem>
#include <string>

#include "protocol/expected.h"

namespace pgdual::config {

struct FileContent {
  std::string bytes;
  std::filesystem::perms permissions;  ///< of the file that was read, not of a later replacement
};

/// Reads the whole regular file at `file`, following symlinks.
/// Errors: a sentence from the operating system ("No such file or directory", "Permission
/// denied", ...), or "not a regular file".
[[nodiscard]] Expected<FileContent, std::string> read_file(const std::filesystem::path& file);

}  // namespace pgdual::config
