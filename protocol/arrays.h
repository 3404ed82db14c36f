#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>

#include "protocol/bytes.h"
#include "protocol/reader.h"
#include "protocol/writer.h"

namespace pgdual::protocol {

/// The repeated fields of a message body, borrowed from it and decoded on
/// access, so decoding DataRow, Bind or Parse allocates nothing.

/// A counted array of big-endian integers: format codes (Int16[n]) and type
/// OIDs (Int32[n]).
template <class Int>
class IntArray {
 public:
  class iterator {
   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = Int;
    using difference_type = std::ptrdiff_t;

    iterator() noexcept = default;
    explicit iterator(const std::byte* at) noexcept : at_{at} {}
    Int operator*() const noexcept { return load(at_); }
    iterator& operator++() noexcept {
      at_ += sizeof(Int);
      return *this;
    }
    iterator operator++(int) noexcept {
      auto before = *this;
      ++*this;
      return before;
    }
    bool operator==(const iterator&) const noexcept = default;

   private:
    const std::byte* at_ = nullptr;
  };

  IntArray() noexcept = default;
  /// `raw` holds the values back to back; its size is a multiple of sizeof(Int).
  explicit IntArray(Bytes raw) noexcept : raw_{raw} {}

  [[nodiscard]] std::size_t size() const noexcept { return raw_.size() / sizeof(Int); }
  [[nodiscard]] bool empty() const noexcept { return raw_.empty(); }
  /// Precondition: `index < size()`.
  [[nodiscard]] Int operator[](std::size_t index) const noexcept {
    return load(raw_.data() + index * sizeof(Int));
  }
  [[nodiscard]] iterator begin() const noexcept { return iterator{raw_.data()}; }
  [[nodiscard]] iterator end() const noexcept { return iterator{raw_.data() + raw_.size()}; }
  /// The wire bytes, without the count.
  [[nodiscard]] Bytes raw() const noexcept { return raw_; }

 private:
  static Int load(const std::byte* at) noexcept {
    std::uint32_t bits = 0;
    for (std::size_t i = 0; i < sizeof(Int); ++i) bits = bits << 8U | std::to_integer<std::uint32_t>(at[i]);
    return static_cast<Int>(bits);
  }

  Bytes raw_;
};

using Int16Array = IntArray<std::int16_t>;
using Int32Array = IntArray<std::int32_t>;

/// One length-prefixed value (Int32 length, then that many bytes): a DataRow
/// column, a Bind parameter, a FunctionCall argument or result.
/// std::nullopt is SQL NULL, sent as length -1.
using Value = std::optional<Bytes>;

/// A counted list of length-prefixed values, validated when decoded and
/// walked again on iteration (Value has no fixed size, so there is no O(1)
/// indexing; iterating is what every user does).
class ValueList {
 public:
  class iterator {
   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = Value;
    using difference_type = std::ptrdiff_t;

    iterator() noexcept = default;
    explicit iterator(Bytes rest) noexcept : rest_{rest} {}
    Value operator*() const noexcept;
    iterator& operator++() noexcept;
    iterator operator++(int) noexcept {
      auto before = *this;
      ++*this;
      return before;
    }
    // Every value occupies at least its four length bytes, so what is left
    // identifies the position.
    bool operator==(const iterator& other) const noexcept { return rest_.size() == other.rest_.size(); }

   private:
    Bytes rest_;
  };

  ValueList() noexcept = default;
  /// Precondition: `raw` holds exactly `count` well-formed values (read_value_list checks this).
  ValueList(std::uint16_t count, Bytes raw) noexcept : count_{count}, raw_{raw} {}

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] iterator begin() const noexcept { return iterator{raw_}; }
  [[nodiscard]] iterator end() const noexcept { return iterator{raw_.last(0)}; }
  /// The wire bytes, without the count.
  [[nodiscard]] Bytes raw() const noexcept { return raw_; }

 private:
  std::uint16_t count_ = 0;
  Bytes raw_;
};

// Readers and writers of the shapes above, for message decoders and encoders.
// Read failures are recorded in the Reader, as its own reads do.

/// Int16 count, then that many Int16 values.
Int16Array read_int16_array(Reader& in) noexcept;
/// Int16 count, then that many Int32 values.
Int32Array read_int32_array(Reader& in) noexcept;
/// Int32 length (-1 for NULL; lower fails with negative_count), then the bytes.
Value read_value(Reader& in) noexcept;
/// Int16 count, then that many values.
ValueList read_value_list(Reader& in) noexcept;

/// An Int16 count. Counts travel as unsigned 16-bit numbers (see Reader::count16).
void write_count16(Writer& out, std::size_t count);
void write_int16_array(Writer& out, Int16Array values);
void write_int32_array(Writer& out, Int32Array values);
void write_value(Writer& out, const Value& value);
void write_value_list(Writer& out, const ValueList& values);

}  // namespace pgdual::protocol
