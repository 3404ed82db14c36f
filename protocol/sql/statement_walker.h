#pragma once

// Internal to the classifier: what one statement's parse tree shows.

#include <string>
#include <string_view>
#include <vector>

#include "protocol/sql/function_catalog.h"
#include "protocol/sql/parse_tree.h"

namespace pgdual::sql {

/// What a walk over one statement's tree found.
struct StatementFacts {
  /// Something it executes may change data or take locks: an INSERT, UPDATE,
  /// DELETE or MERGE anywhere (a data-modifying CTE), FOR UPDATE/SHARE, SELECT
  /// INTO a permanent table, or a function or operator not known read-only.
  bool side_effects = false;
  bool server_specific = false;  ///< see Classification::primary_only
  std::vector<std::string> tables;  ///< as Classification::tables, unsorted
  /// Values that differ between executions, in the parts it executes now.
  std::vector<std::string> nondeterministic;
  /// It calls a function that creates, writes, truncates or removes a large object (lo_create,
  /// lowrite, lo_put, lo_unlink...): a change the WAL's logical decoding does not carry.
  bool writes_large_objects = false;
  /// It creates an unlogged table or makes one unlogged, in the parts it executes now.
  bool creates_unlogged_table = false;
  /// It adds a column filled as it runs (Classification::fills_new_column), in the parts it executes now.
  bool fills_new_column = false;
  /// Some query in it keeps rows by their position or by which comes first (LIMIT, OFFSET, FETCH
  /// FIRST, DISTINCT ON): among rows that tie, the physical order decides.
  bool picks_rows = false;
  /// Tables, views and sequences it drops, as written ("public.t" or "t").
  std::vector<std::string> dropped;
};

/// Whether an EXPLAIN runs its statement (ANALYZE, whose last setting wins).
[[nodiscard]] bool explain_analyzes(const PgQuery__ExplainStmt& explain) noexcept;

/// Statements whose expressions are stored or planned, not run, when they
/// execute: CREATE VIEW/TABLE/FUNCTION/INDEX..., PREPARE, DECLARE, EXPLAIN
/// without ANALYZE.
[[nodiscard]] bool stores_definitions(const ProtobufCMessage& message) noexcept;

/// Walks one statement's whole tree, visiting every node, and collects its
/// facts. Parts that are stored or planned rather than executed now (a view's
/// query, column defaults, function bodies, rule actions, PREPARE's and
/// DECLARE's queries, EXPLAIN without ANALYZE) add tables and server-specific
/// references, but neither side effects nor nondeterministic values.
class StatementWalker {
 public:
  explicit StatementWalker(const FunctionCatalog& catalog) noexcept : catalog_(catalog) {}

  /// The facts of `statement` (a RawStmt's stmt). Precondition: its tree came
  /// from parse() of a text that fits_parser_stack(), so recursion is bounded.
  [[nodiscard]] StatementFacts walk(const PgQuery__Node& statement);

 private:
  void visit(const ProtobufCMessage& message);
  void visit_children(const ProtobufCMessage& message, const ProtobufCMessage* skip = nullptr);
  void visit_not_executed(const ProtobufCMessage& message);
  void visit_with_scope(const ProtobufCMessage& statement, const PgQuery__WithClause& with);

  void on_function_call(const PgQuery__FuncCall& call);
  void on_operator(const PgQuery__Node* const* name, std::size_t parts);
  void on_a_expr(const PgQuery__AExpr& expression);
  void on_range_var(const PgQuery__RangeVar& relation);
  void on_column_ref(const PgQuery__ColumnRef& column);
  void on_type_cast(const PgQuery__TypeCast& cast);
  void on_type_name(const PgQuery__TypeName& type);
  void on_sql_value_function(const PgQuery__SQLValueFunction& function);
  void on_into_clause(const PgQuery__IntoClause& into);
  void on_drop(const PgQuery__DropStmt& drop);

  void side_effect() noexcept;
  void unlogged_table() noexcept;
  void nondeterministic(std::string_view what);
  [[nodiscard]] bool is_cte(std::string_view name) const noexcept;

  const FunctionCatalog& catalog_;
  StatementFacts facts_;
  std::vector<std::string_view> ctes_in_scope_;  // names of the CTEs visible here
  bool executes_ = true;  // whether the node being visited runs as part of this statement
};

}  // namespace pgdual::sql
