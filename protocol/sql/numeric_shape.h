#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgdual::sql {

/// The text with each numeric literal replaced by a marker of its token type, when the
/// classifier's verdict on the text cannot depend on the literals' values; nullopt otherwise, and
/// for a text without numeric literals (the exact text is then its own key).
///
/// Texts with one shape get one verdict, so Classifier parses a shape once. Applications that
/// inline their numbers (pgbench's `UPDATE ... SET abalance = abalance + -4200 WHERE aid = 17`)
/// send a different text on every call; each would be parsed three times by libpg_query.
///
/// A shape is given only to a text that is, as far as PostgreSQL 15's lexer goes:
/// - one statement (a `;` only at its end), starting with SELECT, INSERT, UPDATE, DELETE, MERGE,
///   VALUES or WITH: the classifier reads constant values only in EXPLAIN options and in BEGIN's
///   access mode, never inside these;
/// - free of string literals, dollar quotes, comments, backslashes and NUL bytes (a string may be
///   'now', a comment anything);
/// - made of numeric literals that each end where no token can go on (`0x1F`, `1e`, `12abc` and
///   `1..2` lex differently by value, or fail);
/// - without `float` and without a number alone between brackets: the grammar turns float(p)
///   into float4 or float8 by p's value, and keeps array bounds (`int[5]`) as values in the tree,
///   where the fingerprint would tell them apart (a subscript `x[1]` is refused with them).
/// Integers that fit in 32 bits, and every other number, get different markers: PostgreSQL's
/// grammar takes the two token types in different places. Two texts with one shape thus lex
/// into the same tokens, and differ only in those literals' values. Pure; no allocation beyond
/// the result.
[[nodiscard]] std::optional<std::string> numeric_shape(std::string_view sql);

}  // namespace pgdual::sql
