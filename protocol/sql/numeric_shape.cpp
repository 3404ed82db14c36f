#include "protocol/sql/numeric_shape.h"

#include <algorithm>
#include <array>

namespace pgdual::sql {
namespace {

// NUL never occurs in a text that has a shape, so a marker cannot be mistaken for the text's own
// characters.
constexpr std::string_view kIntegerMarker{"\0i", 2};
constexpr std::string_view kOtherNumberMarker{"\0n", 2};
constexpr std::string_view kBlanks = " \t\n\r\f\v";

constexpr std::array<std::string_view, 7> kShapedStatements = {"select", "insert", "update", "delete",
                                                               "merge",  "values", "with"};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// PostgreSQL's ident_start: a letter, an underscore, or any byte of a multibyte character.
bool is_identifier_start(char c) noexcept {
  const auto byte = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || byte >= 0x80;
}

bool is_identifier_char(char c) noexcept { return is_identifier_start(c) || is_digit(c) || c == '$'; }

bool equals_lowered(std::string_view text, std::string_view lower) noexcept {
  return std::ranges::equal(text, lower, [](char a, char b) {
    return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
  });
}

// An integer PostgreSQL's lexer keeps as ICONST: it fits in 32 bits (else it becomes FCONST).
bool fits_int32(std::string_view digits) noexcept {
  constexpr std::string_view kMax = "2147483647";
  const auto first = std::min(digits.find_first_not_of('0'), digits.size());
  digits.remove_prefix(first);
  return digits.size() < kMax.size() || (digits.size() == kMax.size() && digits <= kMax);
}

class ShapeLexer {
 public:
  explicit ShapeLexer(std::string_view sql) : sql_(sql) { shape_.reserve(sql.size()); }

  std::optional<std::string> run() {
    if (!starts_shaped_statement()) return std::nullopt;
    while (at_ < sql_.size()) {
      if (!next_token()) return std::nullopt;
    }
    if (!has_numbers_) return std::nullopt;
    return std::move(shape_);
  }

 private:
  bool starts_shaped_statement() const {
    const auto start = std::min(sql_.find_first_not_of(kBlanks), sql_.size());
    auto end = start;
    while (end < sql_.size() && is_identifier_char(sql_[end])) ++end;
    const auto keyword = sql_.substr(start, end - start);
    return std::ranges::any_of(kShapedStatements,
                               [keyword](std::string_view statement) { return equals_lowered(keyword, statement); });
  }

  [[nodiscard]] char peek(std::size_t ahead = 0) const noexcept {
    return at_ + ahead < sql_.size() ? sql_[at_ + ahead] : '\0';
  }

  bool next_token() {
    const char c = sql_[at_];
    if (is_identifier_start(c)) return identifier();
    if (is_digit(c) || (c == '.' && is_digit(peek(1)))) return number();
    switch (c) {
      case '"': return quoted_identifier();
      case '$': return parameter();
      case ';': return sql_.find_first_not_of(kBlanks, at_ + 1) == std::string_view::npos && copy(1);
      case '\'': case '\\': case '\0': return false;
      case '-': return peek(1) != '-' && copy(1);
      case '/': return peek(1) != '*' && copy(1);
      default: return copy(1);
    }
  }

  bool copy(std::size_t length) {
    shape_.append(sql_.substr(at_, length));
    at_ += length;
    return true;
  }

  // float(p) names float4 or float8 by p's value; the parse tree keeps the bounds of an array
  // type (int[5]) as values, not as constants. The fingerprint would tell them apart.
  [[nodiscard]] static bool value_shapes_tree(std::string_view identifier) { return equals_lowered(identifier, "float"); }

  [[nodiscard]] bool between_brackets(std::size_t start) const {
    const auto before = sql_.find_last_not_of(kBlanks, start == 0 ? 0 : start - 1);
    const auto after = sql_.find_first_not_of(kBlanks, at_);
    return start > 0 && before != std::string_view::npos && sql_[before] == '[' && after != std::string_view::npos &&
           sql_[after] == ']';
  }

  bool identifier() {
    const auto start = at_;
    copy_while(is_identifier_char);
    return !value_shapes_tree(sql_.substr(start, at_ - start));
  }

  bool copy_while(bool (*belongs)(char) noexcept) {
    auto end = at_;
    while (end < sql_.size() && belongs(sql_[end])) ++end;
    return copy(end - at_);
  }

  bool quoted_identifier() {
    for (auto end = at_ + 1; end < sql_.size(); ++end) {
      if (sql_[end] != '"') continue;
      if (end + 1 < sql_.size() && sql_[end + 1] == '"') {
        ++end;
        continue;
      }
      return copy(end + 1 - at_);
    }
    return false;
  }

  // $n stays as it is; any other $ starts a dollar-quoted string.
  bool parameter() {
    auto end = at_ + 1;
    while (end < sql_.size() && is_digit(sql_[end])) ++end;
    if (end == at_ + 1 || (end < sql_.size() && is_identifier_char(sql_[end]))) return false;
    return copy(end - at_);
  }

  bool number() {
    const auto start = at_;
    skip_digits();
    bool integer = true;
    if (peek() == '.') {
      if (peek(1) == '.') return false;
      integer = false;
      ++at_;
      skip_digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      const std::size_t sign = peek(1) == '+' || peek(1) == '-' ? 1 : 0;
      if (!is_digit(peek(1 + sign))) return false;
      integer = false;
      at_ += 1 + sign;
      skip_digits();
    }
    if (at_ < sql_.size() && (is_identifier_char(sql_[at_]) || sql_[at_] == '.')) return false;
    if (between_brackets(start)) return false;
    const bool int32 = integer && fits_int32(sql_.substr(start, at_ - start));
    shape_.append(int32 ? kIntegerMarker : kOtherNumberMarker);
    has_numbers_ = true;
    return true;
  }

  void skip_digits() noexcept {
    while (at_ < sql_.size() && is_digit(sql_[at_])) ++at_;
  }

  std::string_view sql_;
  std::size_t at_ = 0;
  std::string shape_;
  bool has_numbers_ = false;
};

}  // namespace

std::optional<std::string> numeric_shape(std::string_view sql) { return ShapeLexer{sql}.run(); }

}  // namespace pgdual::sql
