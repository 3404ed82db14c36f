#include "protocol/sql/classifier.h"

#include <algorithm>
#include <utility>

#include "protocol/sql/classify.h"

namespace pgdual::sql {

Classifier::Classifier(ClassifierOptions options)
    : catalog_(std::move(options.read_only_functions)),
      cache_(std::max<std::size_t>(options.cache_capacity, 1)),
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
  ++misses_;
  auto verdict = std::make_shared<const Classification>(classify_uncached(sql, catalog_));
  if (sql.size() > max_cached_text_bytes_) return verdict;
  return cache_.insert(std::string{sql}, std::move(verdict));
}

CacheStats Classifier::cache_stats() const noexcept {
  return CacheStats{
      .hits = hits_,
      .misses = misses_,
      .evictions = cache_.evictions(),
      .entries = cache_.size(),
  };
}

}  // namespace pgdual::sql
