#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace pgdual::sql {

/// A least-recently-used cache from text to Value, bounded by its number of
/// entries. Lookups take a string_view and do not allocate. Not thread-safe.
template <class Value>
class LruCache {
 public:
  /// Precondition: capacity >= 1.
  explicit LruCache(std::size_t capacity) : capacity_(capacity) { index_.reserve(capacity); }

  /// The value cached for `key`, now the most recently used; nullptr if none.
  [[nodiscard]] Value* find(std::string_view key) {
    const auto found = index_.find(key);
    if (found == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, found->second);
    return &found->second->value;
  }

  /// Caches `value` for `key`, which must not be cached yet, evicting the least
  /// recently used entry when full. Returns the cached value, valid until it is
  /// evicted.
  Value& insert(std::string key, Value value) {
    if (entries_.size() >= capacity_) {
      index_.erase(entries_.back().key);
      entries_.pop_back();
      ++evictions_;
    }
    entries_.push_front(Entry{std::move(key), std::move(value)});
    // The view points into the list node, which never moves.
    index_.emplace(entries_.front().key, entries_.begin());
    return entries_.front().value;
  }

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t evictions() const noexcept { return evictions_; }

 private:
  struct Entry {
    std::string key;
    Value value;
  };
  using Entries = std::list<Entry>;  // most recently used first

  std::size_t capacity_;
  std::uint64_t evictions_ = 0;
  Entries entries_;
  std::unordered_map<std::string_view, typename Entries::iterator> index_;
};

}  // namespace pgdual::sql
