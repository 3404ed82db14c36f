#include "protocol/sql/pin_values.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <unordered_set>
#include <vector>

#include "protocol/sql/parse_tree.h"
#include "protocol/sql/statement_walker.h"

namespace pgdual::sql {
namespace {

// How a pinned call is written.
struct PinnedForm {
  std::string_view casts;        // after the quoted time, to give the literal the call's type
  std::string_view column_name;  // PostgreSQL's name for a result column of the call
  bool statement_time = false;   // whether it reads statement_time, not transaction_time
};

// The functions pinned by name, which is also the column name they give.
constexpr std::array kPinnedFunctions = std::to_array<PinnedForm>({
    {.casts = "::timestamptz", .column_name = "now"},
    {.casts = "::timestamptz", .column_name = "transaction_timestamp"},
    {.casts = "::timestamptz", .column_name = "statement_timestamp", .statement_time = true},
});

// A call to pin, found in the tree.
struct Call {
  PinnedForm form;
  std::int32_t location = -1;        // byte offset of its first token
  bool through_parentheses = false;  // whether it ends at a ')': now(), CURRENT_TIME(3)
  std::optional<std::int32_t> precision;
  bool names_column = false;  // whether it must keep the name of the column it makes
};

std::optional<Call> pinnable_function(const PgQuery__FuncCall& call) {
  if (call.n_args != 0 || call.n_agg_order != 0 || call.agg_filter != nullptr ||
      call.over != nullptr || call.agg_within_group || call.agg_star || call.agg_distinct ||
      call.func_variadic || call.funcformat != PG_QUERY__COERCION_FORM__COERCE_EXPLICIT_CALL) {
    return std::nullopt;
  }
  std::string_view name;
  if (call.n_funcname == 1) {
    name = string_of(call.funcname[0]);
  } else if (call.n_funcname == 2 && string_of(call.funcname[0]) == "pg_catalog") {
    name = string_of(call.funcname[1]);
  }
  const auto* form = std::ranges::find(kPinnedFunctions, name, &PinnedForm::column_name);
  if (name.empty() || form == kPinnedFunctions.end()) return std::nullopt;
  Call pinned;
  pinned.form = *form;
  pinned.location = call.location;
  pinned.through_parentheses = true;  // the empty argument list
  return pinned;
}

std::optional<PinnedForm> value_function_form(PgQuery__SQLValueFunctionOp op) noexcept {
  switch (op) {
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE:
      return PinnedForm{.casts = "::timestamptz::date", .column_name = "current_date"};
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME_N:
      return PinnedForm{.casts = "::timestamptz::timetz", .column_name = "current_time"};
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N:
      return PinnedForm{.casts = "::timestamptz", .column_name = "current_timestamp"};
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME_N:
      return PinnedForm{.casts = "::timestamptz::time", .column_name = "localtime"};
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N:
      return PinnedForm{.casts = "::timestamptz::timestamp", .column_name = "localtimestamp"};
    default:
      return std::nullopt;  // CURRENT_USER and the like read no clock
  }
}

bool has_precision(PgQuery__SQLValueFunctionOp op) noexcept {
  return op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME_N ||
         op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N ||
         op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME_N ||
         op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N;
}

std::optional<Call> pinnable_value_function(const PgQuery__SQLValueFunction& function) {
  const std::optional<PinnedForm> form = value_function_form(function.op);
  if (!form) return std::nullopt;
  Call call;
  call.form = *form;
  call.location = function.location;
  if (has_precision(function.op)) {
    call.through_parentheses = true;
    call.precision = function.typmod;
  }
  return call;
}

std::optional<Call> pinnable_call(const ProtobufCMessage& message) {
  if (message.descriptor == &pg_query__func_call__descriptor) {
    return pinnable_function(as<PgQuery__FuncCall>(message));
  }
  if (message.descriptor == &pg_query__sqlvalue_function__descriptor) {
    return pinnable_value_function(as<PgQuery__SQLValueFunction>(message));
  }
  return std::nullopt;
}

// The node type inside a Node; nullptr if none is set.
const ProtobufCMessage* content_of(const PgQuery__Node* node) {
  const ProtobufCMessage* content = nullptr;
  if (node != nullptr) {
    for_each_child(node->base, [&content](const ProtobufCMessage& child) { content = &child; });
  }
  return content;
}

// Statements and clauses whose expressions are stored, to be evaluated on
// later use; a literal there would freeze the time for good. The statements
// are StatementWalker's, plus materialized views, which store their query.
bool stores_definition(const ProtobufCMessage& message) {
  const ProtobufCMessageDescriptor* type = message.descriptor;
  if (type == &pg_query__alter_table_cmd__descriptor) {
    return as<PgQuery__AlterTableCmd>(message).subtype ==
           PG_QUERY__ALTER_TABLE_TYPE__AT_ColumnDefault;
  }
  if (type == &pg_query__create_table_as_stmt__descriptor) {
    return as<PgQuery__CreateTableAsStmt>(message).objtype ==
           PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW;
  }
  return type == &pg_query__constraint__descriptor ||  // DEFAULT, CHECK, GENERATED, ...
         stores_definitions(message);
}

// Collects the calls to pin from a parse tree.
class CallFinder {
 public:
  // Precondition: the tree came from parse() of a text that fits_parser_stack(),
  // so recursion is bounded.
  void find(const PgQuery__ParseResult& tree) {
    for (std::size_t i = 0; i < tree.n_stmts; ++i) {
      const PgQuery__RawStmt* statement = tree.stmts[i];
      if (statement != nullptr && statement->stmt != nullptr) visit(statement->stmt->base);
    }
  }
  [[nodiscard]] const std::vector<Call>& calls() const noexcept { return calls_; }
  // False if a call stands where a literal cannot.
  [[nodiscard]] bool all_pinnable() const noexcept { return all_pinnable_; }

 private:
  void visit(const ProtobufCMessage& message) {
    if (auto call = pinnable_call(message)) {
      call->names_column = naming_columns_.contains(&message);
      calls_.push_back(*call);
      return;  // it has no arguments to look into
    }
    const ProtobufCMessageDescriptor* type = message.descriptor;
    if (type == &pg_query__create_stmt__descriptor) {
      // CREATE TABLE ... PARTITION OF evaluates its bounds once, now.
      const auto* bound = as<PgQuery__CreateStmt>(message).partbound;
      if (bound != nullptr) visit(bound->base);
      return;
    }
    if (stores_definition(message)) return;
    if (type == &pg_query__select_stmt__descriptor) {
      const auto& select = as<PgQuery__SelectStmt>(message);
      keep_column_names(select.target_list, select.n_target_list);
    } else if (type == &pg_query__insert_stmt__descriptor) {
      const auto& insert = as<PgQuery__InsertStmt>(message);
      keep_column_names(insert.returning_list, insert.n_returning_list);
    } else if (type == &pg_query__update_stmt__descriptor) {
      const auto& update = as<PgQuery__UpdateStmt>(message);
      keep_column_names(update.returning_list, update.n_returning_list);
    } else if (type == &pg_query__delete_stmt__descriptor) {
      const auto& remove = as<PgQuery__DeleteStmt>(message);
      keep_column_names(remove.returning_list, remove.n_returning_list);
    } else if (type == &pg_query__range_function__descriptor) {
      check_table_functions(as<PgQuery__RangeFunction>(message));
    }
    for_each_child(message, [this](const ProtobufCMessage& child) { visit(child); });
  }

  // A result column without an alias is named after its call, and a
  // subquery's or CTE's columns may be referred to by that name. The alias is
  // added only where the call is the whole target, not inside parentheses.
  void keep_column_names(PgQuery__Node* const* targets, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      const PgQuery__Node* node = targets[i];
      if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_RES_TARGET) continue;
      const PgQuery__ResTarget& target = *node->res_target;
      if (!text_of(target.name).empty()) continue;
      const ProtobufCMessage* value = content_of(target.val);
      if (value == nullptr) continue;
      const std::optional<Call> call = pinnable_call(*value);
      if (call && call->location == target.location) naming_columns_.insert(value);
    }
  }

  // `FROM now()` is a table function; `FROM ('...'::timestamptz)` is no table.
  void check_table_functions(const PgQuery__RangeFunction& range) {
    for (std::size_t i = 0; i < range.n_functions; ++i) {
      const PgQuery__Node* item = range.functions[i];  // (function, column definitions)
      if (item == nullptr || item->node_case != PG_QUERY__NODE__NODE_LIST ||
          item->list->n_items == 0) {
        continue;
      }
      const ProtobufCMessage* function = content_of(item->list->items[0]);
      if (function != nullptr && pinnable_call(*function)) all_pinnable_ = false;
    }
  }

  std::vector<Call> calls_;
  std::unordered_set<const ProtobufCMessage*> naming_columns_;
  bool all_pinnable_ = true;
};

// The lexer's tokens for `text`, allocated from `arena`; nullptr if the text
// does not scan.
const PgQuery__ScanResult* scan(const std::string& text, ParseArena& arena) {
  const PgQueryScanResult result = pg_query_scan(text.c_str());
  const PgQuery__ScanResult* tokens = nullptr;
  if (result.error == nullptr) {
    ProtobufCAllocator allocator = arena.allocator();
    tokens = pg_query__scan_result__unpack(
        &allocator, result.pbuf.len, reinterpret_cast<const std::uint8_t*>(result.pbuf.data));
  }
  pg_query_free_scan_result(result);
  return tokens;
}

struct Span {
  std::size_t start = 0;
  std::size_t end = 0;
};

struct Replacement {
  Span span;
  std::string text;
};

using Tokens = std::span<PgQuery__ScanToken* const>;

bool is_token(const PgQuery__ScanToken* token, PgQuery__Token kind) noexcept {
  return token != nullptr && token->token == kind;
}

// The bytes `call` covers: from its first token through the ')' that closes
// the first '(' after it when it has one. Tokens, not characters, so that a
// ')' in a comment or string does not count: now( /* ) */ ).
std::optional<Span> span_of(const Call& call, Tokens tokens, std::size_t text_size) {
  const auto first = std::ranges::lower_bound(
      tokens, call.location, {},
      [](const PgQuery__ScanToken* token) { return token == nullptr ? -1 : token->start; });
  if (first == tokens.end() || *first == nullptr || (*first)->start != call.location) {
    return std::nullopt;
  }
  auto last = first;
  if (call.through_parentheses) {
    last = std::find_if(first, tokens.end(), [](const PgQuery__ScanToken* token) {
      return is_token(token, PG_QUERY__TOKEN__ASCII_40);
    });
    std::size_t depth = 0;
    for (; last != tokens.end(); ++last) {
      if (is_token(*last, PG_QUERY__TOKEN__ASCII_40)) ++depth;
      if (is_token(*last, PG_QUERY__TOKEN__ASCII_41) && --depth == 0) break;
    }
    if (last == tokens.end() || *last == nullptr) return std::nullopt;
  }
  const std::int32_t start = (*first)->start;
  const std::int32_t end = (*last)->end;
  if (start < 0 || end < start || static_cast<std::size_t>(end) > text_size) return std::nullopt;
  return Span{.start = static_cast<std::size_t>(start), .end = static_cast<std::size_t>(end)};
}

std::string literal_for(const Call& call, const PinnedTimes& times) {
  std::string literal = "('";
  literal += call.form.statement_time ? times.statement_time : times.transaction_time;
  literal += '\'';
  literal += call.form.casts;
  if (call.precision) literal += '(' + std::to_string(*call.precision) + ')';
  literal += ')';
  if (call.names_column) {
    literal += " AS \"";
    literal += call.form.column_name;
    literal += '"';
  }
  return literal;
}

// Nothing but what a timestamp needs, so no text can leave the quotes.
bool is_timestamp_text(std::string_view time) noexcept {
  return !time.empty() && time.find_first_not_of("0123456789 -:.+") == std::string_view::npos;
}

std::optional<std::vector<Replacement>> replacements_for(const std::vector<Call>& calls,
                                                         const std::string& text,
                                                         const PinnedTimes& times) {
  ParseArena arena;
  const PgQuery__ScanResult* scanned = scan(text, arena);
  if (scanned == nullptr) return std::nullopt;
  const Tokens tokens{scanned->tokens, scanned->n_tokens};
  std::vector<Replacement> replacements;
  replacements.reserve(calls.size());
  for (const Call& call : calls) {
    const std::optional<Span> span = span_of(call, tokens, text.size());
    if (!span) return std::nullopt;
    replacements.push_back(Replacement{.span = *span, .text = literal_for(call, times)});
  }
  std::ranges::sort(replacements, {}, [](const Replacement& each) { return each.span.start; });
  for (std::size_t i = 1; i < replacements.size(); ++i) {
    if (replacements[i].span.start < replacements[i - 1].span.end) return std::nullopt;
  }
  return replacements;
}

std::string rewrite(const std::string& text, const std::vector<Replacement>& replacements) {
  std::string rewritten;
  std::size_t copied = 0;
  for (const Replacement& replacement : replacements) {
    rewritten.append(text, copied, replacement.span.start - copied);
    rewritten += replacement.text;
    copied = replacement.span.end;
  }
  rewritten.append(text, copied);
  return rewritten;
}

}  // namespace

std::optional<PinResult> pin_times(std::string_view sql, const PinnedTimes& times) {
  if (!is_timestamp_text(times.transaction_time) || !is_timestamp_text(times.statement_time)) {
    return std::nullopt;
  }
  // libpg_query reads a C string: it would see only the text before a NUL.
  if (sql.find('\0') != std::string_view::npos) return std::nullopt;
  std::string text{sql};
  if (!fits_parser_stack(text)) return std::nullopt;
  ParseArena arena;
  const PgQuery__ParseResult* tree = parse(text, arena);
  if (tree == nullptr) return std::nullopt;

  CallFinder finder;
  finder.find(*tree);
  if (!finder.all_pinnable()) return std::nullopt;
  if (finder.calls().empty()) return PinResult{.text = std::move(text)};
  const auto replacements = replacements_for(finder.calls(), text, times);
  if (!replacements) return std::nullopt;
  return PinResult{.text = rewrite(text, *replacements), .pinned = replacements->size()};
}

}  // namespace pgdual::sql
