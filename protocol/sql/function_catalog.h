#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgdual::sql {

/// What the classifier knows about a function.
struct FunctionTraits {
  bool read_only = false;  ///< no side effects: a SELECT calling it stays a read
  bool volatile_value = false;  ///< differs between two executions: now(), random(), nextval()
  /// Depends on the server or the session rather than on the data:
  /// pg_backend_pid(), currval(), current_setting(), pg_get_viewdef(oid)...
  bool server_specific = false;
};

/// The functions and operators the classifier trusts to have no side effects.
///
/// Functions are known by name, as the parser sees them: unqualified or
/// qualified with pg_catalog, a name is looked up in one built-in table
/// (function_catalog.cpp), which also says which functions have values that
/// differ between executions or servers. Any other function is unknown, and a
/// statement calling it is a write.
///
/// Limitation (a name-based list cannot see types): a user function that
/// overloads a built-in name for a user type (public.lower(my_type)), or a
/// user operator reusing a built-in symbol, is trusted as the built-in is.
class FunctionCatalog {
 public:
  /// `extra_read_only` names more read-only functions (the configuration's
  /// allow-list). Each is written as the parser stores it: lower case unless it
  /// was quoted, "name" to match unqualified calls, "schema.name" to match calls
  /// qualified with that schema. The built-in table wins over these entries, so
  /// they cannot make nextval() or pg_try_advisory_lock() read-only.
  explicit FunctionCatalog(std::vector<std::string> extra_read_only = {});

  /// What is known about a call to `name` (its parts: ["now"],
  /// ["pg_catalog", "now"], ["billing", "total"]); nullopt if it is unknown.
  [[nodiscard]] std::optional<FunctionTraits> function(
      std::span<const std::string_view> name) const;

  /// Whether `name` (["="] or ["pg_catalog", "~"]) is a built-in operator
  /// symbol, which the classifier trusts to have no side effects.
  [[nodiscard]] static bool is_builtin_operator(std::span<const std::string_view> name) noexcept;

 private:
  std::vector<std::string> extra_read_only_;  // sorted, for binary search
};

}  // namespace pgdual::sql
