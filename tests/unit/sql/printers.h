#pragma once

// Catch2 prints the classifier's enums by name.

#include <string>

#include <catch2/catch.hpp>

#include "protocol/sql/classification.h"

namespace Catch {

template <>
struct StringMaker<pgdual::sql::StatementKind> {
  static std::string convert(pgdual::sql::StatementKind kind) {
    return std::string{pgdual::sql::to_string(kind)};
  }
};

template <>
struct StringMaker<pgdual::sql::TransactionControl> {
  static std::string convert(pgdual::sql::TransactionControl control) {
    return std::string{pgdual::sql::to_string(control)};
  }
};

}  // namespace Catch
