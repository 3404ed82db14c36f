#pragma once

#include <string>
#include <string_view>

// Names and values written into SQL text that pgdual builds: catalog names are data, never syntax,
// whoever chose them.
namespace pgdual::conflict {

/// `name` as an SQL identifier, always quoted: "name", embedded quotes doubled.
[[nodiscard]] std::string quote_identifier(std::string_view name);

/// `text` as an SQL string literal: 'it''s'. Standard-conforming strings (PostgreSQL's default),
/// so backslashes are ordinary characters.
[[nodiscard]] std::string quote_literal(std::string_view text);

}  // namespace pgdual::conflict
