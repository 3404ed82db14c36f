#include "protocol/sql/parse_tree.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace pgdual::sql {
namespace {

// Depth budget of fits_parser_stack(), in the units of nesting_cost(). On an
// 8 MiB stack, libpg_query 15-4.0.0 overflows at about 4,500 units of its
// worst shapes (NOT NOT ..., - - ..., JOIN chains, nested CASE);
// tests/unit/sql/nesting_test.cpp parses every shape at hand just under this
// budget on a 4 MiB stack.
constexpr std::size_t kMaxNestingCost = 2000;

// Tokens that open more levels of the tree than others. A SELECT starts a
// statement (statement, target list, target entry); a CASE opens an
// expression, its list of WHEN clauses and a clause.
constexpr std::size_t kSelectCost = 4;
constexpr std::size_t kCaseCost = 3;

// Owns a libpg_query result struct and frees it with its pg_query_free_* function.
template <class Result, void (*Free)(Result)>
class Owned {
 public:
  explicit Owned(Result result) noexcept : result_(result) {}
  ~Owned() { Free(result_); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  const Result* operator->() const noexcept { return &result_; }

 private:
  Result result_;
};

// The lexer's tokens for `text`, allocated from `arena`; nullptr if the text
// does not scan.
const PgQuery__ScanResult* scan(const std::string& text, ParseArena& arena) {
  const Owned<PgQueryScanResult, pg_query_free_scan_result> result{pg_query_scan(text.c_str())};
  if (result->error != nullptr) return nullptr;
  ProtobufCAllocator allocator = arena.allocator();
  return pg_query__scan_result__unpack(
      &allocator, result->pbuf.len, reinterpret_cast<const std::uint8_t*>(result->pbuf.data));
}

// One level of brackets while bounding the nesting depth: ( ), [ ] or CASE END.
struct Level {
  std::size_t enclosing = 0;        // cost of the levels around it, where it opened
  std::size_t since_separator = 0;  // tokens since this level's last list separator
  std::size_t chained = 0;  // UNIONs and JOINs: each nests all before it, across separators
  [[nodiscard]] std::size_t cost() const noexcept { return enclosing + since_separator + chained; }
};

// An upper bound, up to a constant factor, on the parse tree's depth. Every
// token may add a level, except list separators, after which the tree goes on
// at the depth it had: the elements of a list (commas; CASE's WHEN, THEN and
// ELSE) are siblings, and PostgreSQL flattens AND and OR chains into lists, as
// everything but OR binds tighter than AND. Nesting that spans separators
// (brackets, CASE, set operations, joins) is counted where it happens.
std::size_t nesting_cost(const PgQuery__ScanResult& tokens) {
  std::vector<Level> levels(1);
  std::size_t worst = 0;
  for (std::size_t i = 0; i < tokens.n_tokens; ++i) {
    Level& level = levels.back();
    switch (tokens.tokens[i]->token) {
      case PG_QUERY__TOKEN__ASCII_40:  // (
      case PG_QUERY__TOKEN__ASCII_91:  // [
        levels.push_back(Level{.enclosing = level.cost() + 1});
        break;
      case PG_QUERY__TOKEN__CASE:
        levels.push_back(Level{.enclosing = level.cost() + kCaseCost});
        break;
      case PG_QUERY__TOKEN__ASCII_41:  // )
      case PG_QUERY__TOKEN__ASCII_93:  // ]
      case PG_QUERY__TOKEN__END_P:     // of CASE, or a statement's END (no level to close)
        if (levels.size() > 1) levels.pop_back();
        ++levels.back().since_separator;  // the group is one operand of its level
        break;
      case PG_QUERY__TOKEN__ASCII_44:  // ,
      case PG_QUERY__TOKEN__AND:
      case PG_QUERY__TOKEN__OR:
      case PG_QUERY__TOKEN__WHEN:
      case PG_QUERY__TOKEN__THEN:
      case PG_QUERY__TOKEN__ELSE:
        level.since_separator = 0;
        break;
      case PG_QUERY__TOKEN__ASCII_59:  // ; ends a statement
        level.since_separator = 0;
        level.chained = 0;
        break;
      case PG_QUERY__TOKEN__UNION:
      case PG_QUERY__TOKEN__INTERSECT:
      case PG_QUERY__TOKEN__EXCEPT:
      case PG_QUERY__TOKEN__JOIN:
        // Both sides hang below the new node, the right one starting afresh.
        ++level.chained;
        level.since_separator = 0;
        break;
      case PG_QUERY__TOKEN__SELECT:
        level.since_separator += kSelectCost;
        break;
      case PG_QUERY__TOKEN__SQL_COMMENT:
      case PG_QUERY__TOKEN__C_COMMENT:
        break;
      default:
        ++level.since_separator;
        break;
    }
    worst = std::max(worst, levels.back().cost());
  }
  return worst;
}

bool is_literal(PgQuery__Token token) noexcept {
  switch (token) {
    case PG_QUERY__TOKEN__SCONST:
    case PG_QUERY__TOKEN__USCONST:
    case PG_QUERY__TOKEN__BCONST:
    case PG_QUERY__TOKEN__XCONST:
    case PG_QUERY__TOKEN__ICONST:
    case PG_QUERY__TOKEN__FCONST:
      return true;
    default:
      return false;
  }
}

bool is_comment(PgQuery__Token token) noexcept {
  return token == PG_QUERY__TOKEN__SQL_COMMENT || token == PG_QUERY__TOKEN__C_COMMENT;
}

std::string_view token_text(const std::string& text, const PgQuery__ScanToken& token) {
  const auto start = static_cast<std::size_t>(token.start);
  const auto end = static_cast<std::size_t>(token.end);
  return std::string_view{text}.substr(start, end - start);
}

// The highest $n among the parameters of `text`, so new ones do not collide.
std::uint64_t highest_parameter(const std::string& text, const PgQuery__ScanResult& tokens) {
  std::uint64_t highest = 0;
  for (std::size_t i = 0; i < tokens.n_tokens; ++i) {
    if (tokens.tokens[i]->token != PG_QUERY__TOKEN__PARAM) continue;
    const std::string_view parameter = token_text(text, *tokens.tokens[i]).substr(1);  // after '$'
    std::uint64_t number = 0;
    std::from_chars(parameter.data(), parameter.data() + parameter.size(), number);
    highest = std::max(highest, number);
  }
  return highest;
}

// pg_query_normalize replaces the constants of DML but leaves those of many
// utility statements (PREPARE, EXECUTE, CALL, NOTIFY, COMMENT, column defaults,
// CHECK constraints, view bodies), and keeps comments, which may hold anything.
// Replace what it left, so the text is safe to log.
std::string redact_literals(const std::string& text) {
  ParseArena arena;
  const PgQuery__ScanResult* tokens = scan(text, arena);
  if (tokens == nullptr) return {};
  std::uint64_t next_parameter = highest_parameter(text, *tokens);
  std::string redacted;
  redacted.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t i = 0; i < tokens->n_tokens; ++i) {
    const PgQuery__ScanToken& token = *tokens->tokens[i];
    if (!is_literal(token.token) && !is_comment(token.token)) continue;
    redacted.append(text, copied, static_cast<std::size_t>(token.start) - copied);
    if (is_literal(token.token)) redacted += '$' + std::to_string(++next_parameter);
    copied = static_cast<std::size_t>(token.end);
  }
  redacted.append(text, copied);
  // A comment that ended the text leaves the blanks before it.
  redacted.erase(redacted.find_last_not_of(" \t\n\r") + 1);
  return redacted;
}

}  // namespace

ParseArena::~ParseArena() {
  for (void* block : blocks_) std::free(block);
}

ProtobufCAllocator ParseArena::allocator() noexcept {
  return ProtobufCAllocator{.alloc = &ParseArena::allocate, .free = &ParseArena::release,
                            .allocator_data = this};
}

void* ParseArena::allocate(void* arena, std::size_t size) noexcept {
  auto& self = *static_cast<ParseArena*>(arena);
  constexpr std::size_t kAlignment = alignof(std::max_align_t);
  constexpr std::size_t kFirstBlockSize = 16 * 1024;
  size = (size + kAlignment - 1) / kAlignment * kAlignment;
  if (self.blocks_.empty() || self.used_ + size > self.block_size_) {
    const std::size_t block_size = std::max({size, kFirstBlockSize, 2 * self.block_size_});
    void* block = std::malloc(block_size);
    if (block == nullptr) return nullptr;
    try {
      self.blocks_.push_back(block);
    } catch (const std::bad_alloc&) {
      std::free(block);
      return nullptr;
    }
    self.block_size_ = block_size;
    self.used_ = 0;
  }
  void* pointer = static_cast<std::byte*>(self.blocks_.back()) + self.used_;
  self.used_ += size;
  return pointer;
}

void ParseArena::release(void*, void*) noexcept {}

const PgQuery__ParseResult* parse(const std::string& sql, ParseArena& arena) {
  const Owned<PgQueryProtobufParseResult, pg_query_free_protobuf_parse_result> result{
      pg_query_parse_protobuf(sql.c_str())};
  if (result->error != nullptr) return nullptr;
  ProtobufCAllocator allocator = arena.allocator();
  return pg_query__parse_result__unpack(
      &allocator, result->parse_tree.len,
      reinterpret_cast<const std::uint8_t*>(result->parse_tree.data));
}

bool fits_parser_stack(const std::string& sql) {
  // No token costs more units than it has bytes (SELECT: 6 bytes, kSelectCost
  // units; CASE: 4 bytes, kCaseCost units), so a short text is within budget.
  if (sql.size() <= kMaxNestingCost) return true;
  ParseArena arena;
  const PgQuery__ScanResult* tokens = scan(sql, arena);
  // A text the lexer rejects fails in parse() too, before anything recurses.
  if (tokens == nullptr) return true;
  return nesting_cost(*tokens) <= kMaxNestingCost;
}

std::string fingerprint(const std::string& sql) {
  const Owned<PgQueryFingerprintResult, pg_query_free_fingerprint_result> result{
      pg_query_fingerprint(sql.c_str())};
  if (result->error != nullptr || result->fingerprint_str == nullptr) return {};
  return result->fingerprint_str;
}

std::string normalize(const std::string& sql) {
  const Owned<PgQueryNormalizeResult, pg_query_free_normalize_result> result{
      pg_query_normalize(sql.c_str())};
  if (result->error != nullptr || result->normalized_query == nullptr) return redact_literals(sql);
  return redact_literals(result->normalized_query);
}

std::string_view string_of(const PgQuery__Node* node) noexcept {
  if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_STRING || node->string == nullptr) {
    return {};
  }
  return text_of(node->string->sval);
}

}  // namespace pgdual::sql
