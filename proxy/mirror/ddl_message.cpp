#include "proxy/mirror/ddl_message.h"

#include <algorithm>
#include <cctype>

#include "protocol/sql/classify.h"

namespace pgdual::proxy {
namespace {

bool is_space(char c) noexcept { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_letter(char c) noexcept { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

std::string leading_keywords(std::string_view statement) {
  constexpr int kMaxWords = 2;
  std::string words;
  std::size_t at = 0;
  for (int word = 0; word < kMaxWords; ++word) {
    while (at < statement.size() && is_space(statement[at])) ++at;
    const auto start = at;
    while (at < statement.size() && is_letter(statement[at])) ++at;
    // A word that goes on with a digit, quote or sign may be a constant: it stops here.
    if (at == start || (at < statement.size() && !is_space(statement[at]) && statement[at] != ';')) break;
    if (!words.empty()) words += ' ';
    for (auto i = start; i < at; ++i) {
      words += static_cast<char>(std::toupper(static_cast<unsigned char>(statement[i])));
    }
  }
  return words.empty() ? std::string{"DDL"} : words;
}

}  // namespace

tl::expected<DdlMessage, DdlMessageError> decode_ddl_message(std::string_view content) {
  // The statement travels as a Query, whose text ends at the first NUL.
  if (content.find('\0') != std::string_view::npos) return tl::unexpected{DdlMessageError{"it holds a NUL byte"}};
  const auto role_end = content.find('\n');
  if (role_end == std::string_view::npos) return tl::unexpected{DdlMessageError{"it has no line break"}};
  const auto path_end = content.find('\n', role_end + 1);
  if (path_end == std::string_view::npos) {
    return tl::unexpected{DdlMessageError{"it has one line break where role, search_path and statement take two"}};
  }
  DdlMessage message{.role = content.substr(0, role_end),
                     .search_path = content.substr(role_end + 1, path_end - role_end - 1),
                     .statement = content.substr(path_end + 1)};
  if (message.role.empty()) return tl::unexpected{DdlMessageError{"its role is empty"}};
  if (std::all_of(message.statement.begin(), message.statement.end(), is_space)) {
    return tl::unexpected{DdlMessageError{"its statement is empty"}};
  }
  return message;
}

bool runs_alone(std::string_view statement) {
  static const sql::FunctionCatalog kCatalog;
  const auto classification = sql::classify_uncached(statement, kCatalog);
  return classification.parsed && classification.statements.size() == 1 && classification.alone_in_transaction &&
         !classification.schema_change_text.empty();
}

std::string ddl_summary(std::string_view statement) {
  // The catalog matters only to what the classifier says of reads; normalizing needs none of it.
  static const sql::FunctionCatalog kCatalog;
  auto classification = sql::classify_uncached(statement, kCatalog);
  if (classification.parsed && !classification.normalized.empty()) return std::move(classification.normalized);
  return leading_keywords(statement);
}

}  // namespace pgdual::proxy
