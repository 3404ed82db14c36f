#include "protocol/sql/classifier.h"

#include <algorithm>
#include <utility>

#include "protocol/sql/classify.h"
#include "protocol/sql/numeric_shape.h"

namespace pgdual::sql {

Classifier::Classifier(ClassifierOptions options)
    : catalog_(std::move(options.read_only_functions)),
      cache_(std::max<std::size_t>(options.cache_capacity, 1)),
      shapes_(std::max<std::size_t>(options.cache_capacity, 1)),
      max_cached_text_bytes_(options.max_cached_text_bytes) {}

const Classification& Classifier::classify(std::string_view sql) {
  last_ = classify_shared(sql);
  return *last_;
}

std::shared_ptr<const Classification> Classifier::classify_shared(std::string_view sql) {
  if (auto* cached = cache_.find(sql)) {
    ++hits_;
    return *cached;
  }
  // A text seen once is rarely seen again when its shape is known: it goes to the shape's entry
  // alone, leaving the exact entries to the texts that repeat.
  auto shape = sql.size() > max_cached_text_bytes_ ? std::nullopt : numeric_shape(sql);
  if (shape) {
    if (auto* cached = shapes_.find(*shape)) {
      ++hits_;
      ++shape_hits_;
      return *cached;
    }
  }
  ++misses_;
  auto verdict = std::make_shared<const Classification>(classify_uncached(sql, catalog_));
  if (sql.size() > max_cached_text_bytes_) return verdict;
  if (shape) return shapes_.insert(std::move(*shape), std::move(verdict));
  return cache_.insert(std::string{sql}, std::move(verdict));
}

CacheStats Classifier::cache_stats() const noexcept {
  return CacheStats{
      .hits = hits_,
      .shape_hits = shape_hits_,
      .misses = misses_,
      .evictions = cache_.evictions() + shapes_.evictions(),
      .entries = cache_.size() + shapes_.size(),
  };
}

}  // namespace pgdual::sql
