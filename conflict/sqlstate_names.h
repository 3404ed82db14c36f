#pragma once

#include <span>
#include <string>
#include <string_view>

/// SQLSTATEs as a reviewer reads them: PostgreSQL's condition name and one line of plain English.
/// Pure data: classify_sqlstate() (error_class.h) is what pgdual decides on an error; this is
/// only what the report prints. https://www.postgresql.org/docs/15/errcodes-appendix.html
namespace pgdual::conflict {

/// One code of the table.
struct SqlstateName {
  std::string_view code;       ///< five characters, "23505"
  std::string_view condition;  ///< PostgreSQL's condition name, "unique_violation"
  std::string_view meaning;    ///< one line of plain English, no full stop
};

/// One class: the first two characters of its codes.
struct SqlstateClass {
  std::string_view code;  ///< "23"
  std::string_view name;  ///< PostgreSQL's heading in lower case, "integrity constraint violation"
};

/// What the report says of one SQLSTATE. `condition` and `meaning` are empty when the code is not
/// in the table; `class_name` is empty when its class is not known either.
struct SqlstateDescription {
  std::string_view condition;
  std::string_view meaning;
  std::string_view class_name;
};

/// Looks `sqlstate` up by code, and its class by its first two characters.
[[nodiscard]] SqlstateDescription describe_sqlstate(std::string_view sqlstate) noexcept;

/// One line: "23505 unique_violation: a row with the same unique key already exists"; for a code
/// not in the table its class, "23P99: class 23, integrity constraint violation"; else
/// "ZZ999: not a SQLSTATE PostgreSQL documents". The code is printed as given: escape it for HTML.
[[nodiscard]] std::string sqlstate_line(std::string_view sqlstate);

/// The whole tables, for tests.
[[nodiscard]] std::span<const SqlstateName> known_sqlstates() noexcept;
[[nodiscard]] std::span<const SqlstateClass> known_sqlstate_classes() noexcept;

}  // namespace pgdual::conflict
