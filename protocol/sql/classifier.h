#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/sql/classification.h"
#include "protocol/sql/function_catalog.h"
#include "protocol/sql/lru_cache.h"

namespace pgdual::sql {

struct ClassifierOptions {
  /// Functions to trust as read-only besides the built-in list: "name" matches
  /// unqualified calls, "schema.name" calls qualified with that schema; lower
  /// case unless the SQL quotes the name. See FunctionCatalog.
  std::vector<std::string> read_only_functions{};
  /// Verdicts kept, by exact statement text, and as many again by numeric shape (numeric_shape.h);
  /// at least 1.
  std::size_t cache_capacity = 4096;
  /// Longer texts are classified every time, never cached: they are usually
  /// one-off bulk statements with inlined values, and would fill the memory a
  /// cache bounded by entries does not bound.
  std::size_t max_cached_text_bytes = 16 * 1024;
};

/// How the verdict cache has fared, for metrics.
struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t shape_hits = 0;  ///< hits on a text's numeric shape rather than its exact text
  std::uint64_t misses = 0;  ///< each miss parsed its text once
  std::uint64_t evictions = 0;
  std::size_t entries = 0;
};

/// Classifies Query and Parse texts for routing (see classify_uncached for the
/// rules), caching each verdict by the exact text so a hot statement is parsed
/// once, and by the text's numeric shape so that statements differing only in
/// inlined numbers are parsed once too.
///
/// Not thread-safe: give each worker thread its own Classifier (the cache is
/// then per thread too; no locks on the hot path).
class Classifier {
 public:
  explicit Classifier(ClassifierOptions options = {});

  /// The verdict on `sql`, from the cache or classified now. Never fails on
  /// input (see classify_uncached); throws std::bad_alloc when memory runs out.
  /// The reference stays valid until the next call to classify().
  [[nodiscard]] const Classification& classify(std::string_view sql);
  /// The same verdict, shared: it stays valid as long as the caller keeps it,
  /// and a cached one is handed out without a copy.
  [[nodiscard]] std::shared_ptr<const Classification> classify_shared(std::string_view sql);

  [[nodiscard]] CacheStats cache_stats() const noexcept;

 private:
  FunctionCatalog catalog_;
  LruCache<std::shared_ptr<const Classification>> cache_;
  LruCache<std::shared_ptr<const Classification>> shapes_;
  std::size_t max_cached_text_bytes_;
  std::shared_ptr<const Classification> last_;  // what classify() returned last
  std::uint64_t hits_ = 0;
  std::uint64_t shape_hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace pgdual::sql
