#include "conflict/conflict_error.h"

#include <string>

namespace pgdual::conflict {
namespace {

class ConflictCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pgdual.conflict"; }

  std::string message(int value) const override {
    switch (static_cast<ConflictError>(value)) {
      case ConflictError::malformed_json: return "not a JSON object as pgdual writes them";
      case ConflictError::invalid_record: return "not a conflict record";
      case ConflictError::unsupported_version: return "conflict record of an unsupported format version";
      case ConflictError::insecure_mode: return "file is accessible by group or others";
      case ConflictError::not_a_regular_file: return "not a regular file";
      case ConflictError::invalid_options: return "invalid conflict log options";
    }
    return "unknown conflict error";
  }
};

}  // namespace

const std::error_category& conflict_category() noexcept {
  static const ConflictCategory category;
  return category;
}

}  // namespace pgdual::conflict
