#include "protocol/sql/classify.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "protocol/sql/parse_tree.h"
#include "protocol/sql/statement_walker.h"

namespace pgdual::sql {
namespace {

// One statement's verdict before it joins the others of its text.
struct StatementVerdict {
  StatementKind kind = StatementKind::write;
  TransactionControl transaction = TransactionControl::none;
  bool server_specific = false;
};

bool is_temporary(const PgQuery__RangeVar* relation) noexcept {
  return relation != nullptr && (text_of(relation->relpersistence) == "t" || text_of(relation->schemaname) == "pg_temp");
}

// The relation a CREATE TABLE, VIEW, SEQUENCE, TABLE AS or SELECT INTO makes; null for any other statement.
const PgQuery__RangeVar* created_relation(const PgQuery__Node& statement) noexcept {
  switch (statement.node_case) {
    case PG_QUERY__NODE__NODE_CREATE_STMT: return statement.create_stmt->relation;
    case PG_QUERY__NODE__NODE_VIEW_STMT: return statement.view_stmt->view;
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT: return statement.create_seq_stmt->sequence;
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT: {
      const PgQuery__IntoClause* into = statement.create_table_as_stmt->into;
      return into == nullptr ? nullptr : into->rel;
    }
    case PG_QUERY__NODE__NODE_SELECT_STMT: {
      const PgQuery__IntoClause* into = statement.select_stmt->into_clause;
      return into == nullptr ? nullptr : into->rel;
    }
    default: return nullptr;
  }
}

// BEGIN READ ONLY arrives as the option transaction_read_only = 1 (READ WRITE:
// 0); PostgreSQL applies the options in order, so the last one wins.
bool begins_read_only(const PgQuery__TransactionStmt& statement) noexcept {
  bool read_only = false;
  for (std::size_t i = 0; i < statement.n_options; ++i) {
    const PgQuery__Node* option = statement.options[i];
    if (option == nullptr || option->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    const PgQuery__DefElem& element = *option->def_elem;
    if (text_of(element.defname) != "transaction_read_only") continue;
    const PgQuery__Node* value = element.arg;
    read_only = value != nullptr && value->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                value->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL &&
                value->a_const->ival->ival != 0;
  }
  return read_only;
}

TransactionControl transaction_control(const PgQuery__TransactionStmt& statement) noexcept {
  switch (statement.kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
      return begins_read_only(statement) ? TransactionControl::begin_read_only
                                         : TransactionControl::begin;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT: return TransactionControl::commit;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK: return TransactionControl::rollback;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT: return TransactionControl::savepoint;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
      return TransactionControl::release_savepoint;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
      return TransactionControl::rollback_to_savepoint;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE:
      return TransactionControl::prepare_transaction;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED:
      return TransactionControl::commit_prepared;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
      return TransactionControl::rollback_prepared;
    default: return TransactionControl::none;
  }
}

StatementKind copy_kind(const PgQuery__CopyStmt& copy, const StatementFacts& facts) noexcept {
  // A server-side file or program is an effect on that server, in either direction.
  if (copy.is_program || !text_of(copy.filename).empty()) return StatementKind::write;
  if (copy.is_from) return StatementKind::copy_in;
  return facts.side_effects ? StatementKind::write : StatementKind::copy_out;
}

// Creating a temporary relation is session state; filling it from a query
// with side effects is a write all the same.
StatementKind creates(const PgQuery__RangeVar* relation, const StatementFacts& facts) noexcept {
  return is_temporary(relation) && !facts.side_effects ? StatementKind::session_state
                                                       : StatementKind::write;
}

StatementKind read_unless_side_effects(const StatementFacts& facts) noexcept {
  return facts.side_effects ? StatementKind::write : StatementKind::read;
}

// ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY, which commits in between.
bool detaches_concurrently(const PgQuery__AlterTableStmt& alter) noexcept {
  for (std::size_t i = 0; i < alter.n_cmds; ++i) {
    const PgQuery__Node* node = alter.cmds[i];
    if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD) continue;
    const PgQuery__AlterTableCmd& command = *node->alter_table_cmd;
    if (command.subtype != PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition || command.def == nullptr ||
        command.def->node_case != PG_QUERY__NODE__NODE_PARTITION_CMD) {
      continue;
    }
    if (command.def->partition_cmd->concurrent) return true;
  }
  return false;
}

// Statements PostgreSQL refuses inside a transaction block or beside other statements
// (PreventInTransactionBlock), and CALL and DO, whose procedures may commit only when they run
// alone. Conservative: REINDEX, CLUSTER and ALTER DATABASE count whatever their options.
bool alone_in_transaction(const PgQuery__Node& statement) noexcept {
  switch (statement.node_case) {
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
    case PG_QUERY__NODE__NODE_CREATEDB_STMT:
    case PG_QUERY__NODE__NODE_DROPDB_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT:
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
    case PG_QUERY__NODE__NODE_CLUSTER_STMT:
    case PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_CALL_STMT:
    case PG_QUERY__NODE__NODE_DO_STMT:
      return true;
    case PG_QUERY__NODE__NODE_INDEX_STMT:
      return statement.index_stmt->concurrent;
    case PG_QUERY__NODE__NODE_DROP_STMT:
      return statement.drop_stmt->concurrent;
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
      return detaches_concurrently(*statement.alter_table_stmt);
    default:
      return false;
  }
}

// Writes that change objects rather than rows: what the WAL does not carry. Rows, maintenance,
// server-wide objects (databases, tablespaces, settings) and replication's own objects are not.
bool changes_schema(const PgQuery__Node& statement) noexcept {
  switch (statement.node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT:
      return statement.select_stmt->into_clause != nullptr;  // SELECT INTO creates a table
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
    case PG_QUERY__NODE__NODE_MERGE_STMT:
    case PG_QUERY__NODE__NODE_COPY_STMT:
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
    case PG_QUERY__NODE__NODE_CALL_STMT:
    case PG_QUERY__NODE__NODE_DO_STMT:
    case PG_QUERY__NODE__NODE_EXECUTE_STMT:
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT:
    case PG_QUERY__NODE__NODE_LOCK_STMT:
    case PG_QUERY__NODE__NODE_NOTIFY_STMT:
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
    case PG_QUERY__NODE__NODE_CLUSTER_STMT:
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
    case PG_QUERY__NODE__NODE_CHECK_POINT_STMT:
    case PG_QUERY__NODE__NODE_CREATEDB_STMT:
    case PG_QUERY__NODE__NODE_DROPDB_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT:
    case PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT:
    case PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT:
      return false;
    default:
      return true;
  }
}

// The statement's text as written: libpg_query gives its start and length, 0 for "to the end".
std::string_view statement_text(std::string_view sql, const PgQuery__RawStmt& statement) noexcept {
  const auto offset = std::min<std::size_t>(static_cast<std::size_t>(std::max(statement.stmt_location, 0)), sql.size());
  const auto rest = sql.substr(offset);
  return statement.stmt_len > 0 ? rest.substr(0, static_cast<std::size_t>(statement.stmt_len)) : rest;
}

// A statement that takes no snapshot and may have to come before the transaction's first query
// (Classification::transaction_setup_statements).
bool sets_up_transaction(const PgQuery__Node& statement, TransactionControl transaction) noexcept {
  if (statement.node_case == PG_QUERY__NODE__NODE_VARIABLE_SET_STMT) return true;
  return transaction == TransactionControl::begin || transaction == TransactionControl::begin_read_only;
}

StatementVerdict verdict_for(const PgQuery__Node& statement, const StatementFacts& facts) {
  switch (statement.node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT: {
      const PgQuery__IntoClause* into = statement.select_stmt->into_clause;
      if (into != nullptr) return {.kind = creates(into->rel, facts)};
      return {.kind = read_unless_side_effects(facts)};
    }
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
      const PgQuery__ExplainStmt& explain = *statement.explain_stmt;
      // A plan is the server's own: its statistics, settings and costs.
      if (!explain_analyzes(explain) || explain.query == nullptr) {
        return {.kind = StatementKind::read, .server_specific = true};
      }
      auto analyzed = verdict_for(*explain.query, facts);  // ANALYZE runs the statement
      analyzed.server_specific = true;                      // and shows the server's timings
      return analyzed;
    }
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
      // Settings such as server_version, data_directory or max_connections differ.
      return {.kind = StatementKind::read, .server_specific = true};
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
      return {.kind = StatementKind::transaction_control,
              .transaction = transaction_control(*statement.transaction_stmt)};
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
    case PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT:
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
    case PG_QUERY__NODE__NODE_PREPARE_STMT:
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
    case PG_QUERY__NODE__NODE_FETCH_STMT:  // FETCH and MOVE
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
    case PG_QUERY__NODE__NODE_LOAD_STMT:
      return {.kind = StatementKind::session_state};
    case PG_QUERY__NODE__NODE_CREATE_STMT:
      return {.kind = creates(statement.create_stmt->relation, facts)};
    case PG_QUERY__NODE__NODE_VIEW_STMT:
      return {.kind = creates(statement.view_stmt->view, facts)};
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
      return {.kind = creates(statement.create_seq_stmt->sequence, facts)};
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT: {
      const PgQuery__IntoClause* into = statement.create_table_as_stmt->into;
      return {.kind = creates(into == nullptr ? nullptr : into->rel, facts)};
    }
    case PG_QUERY__NODE__NODE_LISTEN_STMT:
    case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
      return {.kind = StatementKind::listen};
    case PG_QUERY__NODE__NODE_COPY_STMT:
      return {.kind = copy_kind(*statement.copy_stmt, facts)};
    default:
      // DML, DDL, CALL, DO, EXECUTE (its statement is not in the text), NOTIFY,
      // VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH, LOCK, CHECKPOINT, GRANT...
      return {.kind = StatementKind::write};
  }
}

// A SELECT that returns its rows in the order of its own top-level ORDER BY. A parenthesized
// SELECT with ORDER BY that stands alone is this SelectStmt itself; an arm's, a subquery's or a
// CTE's ORDER BY sits further down (larg/rarg, from_clause, with_clause) and does not count.
bool orders_rows(const PgQuery__Node& statement) noexcept {
  if (statement.node_case != PG_QUERY__NODE__NODE_SELECT_STMT) return false;
  const PgQuery__SelectStmt& select = *statement.select_stmt;
  return select.into_clause == nullptr && select.n_sort_clause > 0;
}

// Kinds both backends execute, so values that differ between executions matter.
bool executes_on_both(StatementKind kind) noexcept {
  return kind == StatementKind::write || kind == StatementKind::session_state ||
         kind == StatementKind::copy_in;
}

// std::unique rather than std::ranges::unique: clang 14, which builds the
// fuzzers, cannot compile the latter against libstdc++ 12.
void sort_unique(std::vector<std::string>& values) {
  std::ranges::sort(values);
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

Classification unparsed(bool too_deep = false) {
  Classification verdict;
  verdict.parsed = false;
  verdict.too_deep = too_deep;
  verdict.kind = StatementKind::write;
  return verdict;
}

}  // namespace

Classification classify_uncached(std::string_view sql, const FunctionCatalog& catalog) {
  // libpg_query reads C strings: a NUL would hide whatever follows it.
  if (sql.find('\0') != std::string_view::npos) return unparsed();
  const std::string text{sql};
  if (!fits_parser_stack(text)) return unparsed(/*too_deep=*/true);
  ParseArena arena;
  const PgQuery__ParseResult* tree = parse(text, arena);
  if (tree == nullptr) return unparsed();

  Classification verdict;
  StatementWalker walker{catalog};
  bool other_statement_seen = false;
  std::size_t schema_change_end = 0;  ///< where the leading statements that change the schema end
  bool setting_up = true;  ///< every statement so far sets up the transaction
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    const PgQuery__Node* statement = tree->stmts[i]->stmt;
    if (statement == nullptr) return unparsed();
    StatementFacts facts = walker.walk(*statement);
    const StatementVerdict one = verdict_for(*statement, facts);
    if (i == 0) verdict.transaction = one.transaction;
    const bool sets_up = setting_up && sets_up_transaction(*statement, one.transaction);
    if (sets_up) {
      ++verdict.transaction_setup_statements;
    } else if (setting_up) {
      setting_up = false;
      const auto start = statement_text(sql, *tree->stmts[i]).data() - sql.data();
      if (i > 0) verdict.transaction_setup_end = static_cast<std::size_t>(start);
    }
    verdict.prepares_transaction =
        verdict.prepares_transaction || one.transaction == TransactionControl::prepare_transaction;
    verdict.alone_in_transaction = verdict.alone_in_transaction || alone_in_transaction(*statement);
    verdict.writes_large_objects = verdict.writes_large_objects || facts.writes_large_objects;
    verdict.creates_unlogged_table = verdict.creates_unlogged_table || facts.creates_unlogged_table;
    verdict.fills_new_column = verdict.fills_new_column || facts.fills_new_column;
    if (one.kind == StatementKind::write && changes_schema(*statement)) {
      verdict.schema_change_late = verdict.schema_change_late || other_statement_seen;
      const auto written = statement_text(sql, *tree->stmts[i]);
      if (!other_statement_seen) {
        schema_change_end = static_cast<std::size_t>(written.data() + written.size() - sql.data());
      }
    } else if (!sets_up) {
      other_statement_seen = true;
    }
    verdict.statements.push_back(one.kind);
    verdict.kind = strongest(verdict.kind, one.kind);
    verdict.primary_only = verdict.primary_only || one.server_specific || facts.server_specific;
    std::ranges::move(facts.tables, std::back_inserter(verdict.tables));
    verdict.volatile_answer = verdict.volatile_answer || !facts.nondeterministic.empty();
    if (const auto* created = created_relation(*statement); is_temporary(created)) {
      verdict.temporary_relations.emplace_back(text_of(created->relname));
    } else if (created != nullptr) {
      verdict.creates_permanent_relation = true;
    }
    std::ranges::move(facts.dropped, std::back_inserter(verdict.dropped_relations));
    verdict.orders_rows = orders_rows(*statement);  // the last statement's stays
    verdict.plan_dependent = verdict.plan_dependent || facts.picks_rows ||
                             statement->node_case == PG_QUERY__NODE__NODE_EXPLAIN_STMT;
    if (executes_on_both(one.kind)) {
      std::ranges::move(facts.nondeterministic, std::back_inserter(verdict.nondeterministic));
    }
  }
  if (schema_change_end > 0) {
    const auto first = statement_text(sql, *tree->stmts[0]);
    const auto start = verdict.transaction_setup_end > 0 ? verdict.transaction_setup_end
                                                         : static_cast<std::size_t>(first.data() - sql.data());
    verdict.schema_change_text = std::string{sql.substr(start, schema_change_end - start)};
  }
  sort_unique(verdict.tables);
  sort_unique(verdict.nondeterministic);
  verdict.fingerprint = fingerprint(text);
  verdict.normalized = normalize(text);
  return verdict;
}

}  // namespace pgdual::sql
