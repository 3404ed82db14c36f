#pragma once

#include <system_error>

namespace pgdual::conflict {

/// Why a conflict-log line could not be read, or a conflict log opened.
/// System call failures are reported with their errno (std::generic_category) instead.
enum class ConflictError {
  malformed_json = 1,  ///< a line is not a JSON object as pgdual writes them
  invalid_record,      ///< valid JSON, but a field is missing, of the wrong type, or an unknown name
  unsupported_version, ///< a record of a format version this build does not read
  insecure_mode,       ///< the log file is accessible by group or others
  not_a_regular_file,  ///< the log path names a directory, device, socket...
  invalid_options,     ///< ConflictLog options that contradict each other
};

[[nodiscard]] const std::error_category& conflict_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(ConflictError error) noexcept {
  return {static_cast<int>(error), conflict_category()};
}

}  // namespace pgdual::conflict

template <>
struct std::is_error_code_enum<pgdual::conflict::ConflictError> : std::true_type {};
