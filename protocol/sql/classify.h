#pragma once

#include <string_view>

#include "protocol/sql/classification.h"
#include "protocol/sql/function_catalog.h"

namespace pgdual::sql {

/// Classifies `sql` (one Query message's text, or one Parse message's query)
/// from libpg_query's parse tree, without caching: Classifier::classify is the
/// cached entry point. Every statement of a multi-statement text is classified.
///
/// Never fails on input: text libpg_query cannot parse safely (a syntax error, a
/// NUL byte, nesting deeper than fits_parser_stack allows) yields parsed=false
/// and kind=write. Throws std::bad_alloc when memory runs out.
///
/// Needs the default 8 MiB thread stack (see fits_parser_stack in parse_tree.h).
/// Thread-safe: libpg_query keeps its state per thread.
[[nodiscard]] Classification classify_uncached(std::string_view sql, const FunctionCatalog& catalog);

}  // namespace pgdual::sql
