#include "protocol/arrays.h"

#include "protocol/codec_error.h"

namespace pgdual::protocol {
namespace {

constexpr std::int32_t kNullLength = -1;

// The length of the value at the front of `rest`, which read_value_list
// has already validated.
std::int32_t length_at(Bytes rest) noexcept {
  Reader in{rest.first(4)};
  return in.int32();
}

}  // namespace

Value ValueList::iterator::operator*() const noexcept {
  const auto length = length_at(rest_);
  if (length == kNullLength) return std::nullopt;
  return rest_.subspan(4, static_cast<std::size_t>(length));
}

ValueList::iterator& ValueList::iterator::operator++() noexcept {
  const auto length = length_at(rest_);
  rest_ = rest_.subspan(4 + (length == kNullLength ? 0 : static_cast<std::size_t>(length)));
  return *this;
}

Int16Array read_int16_array(Reader& in) noexcept {
  const auto count = in.count16();
  return Int16Array{in.bytes(count * sizeof(std::int16_t))};
}

Int32Array read_int32_array(Reader& in) noexcept {
  const auto count = in.count16();
  return Int32Array{in.bytes(count * sizeof(std::int32_t))};
}

Value read_value(Reader& in) noexcept {
  const auto length = in.int32();
  if (length == kNullLength) return std::nullopt;
  if (length < 0) {
    in.fail(CodecError::negative_count);
    return std::nullopt;
  }
  return in.bytes(static_cast<std::size_t>(length));
}

ValueList read_value_list(Reader& in) noexcept {
  const auto count = in.count16();
  // Validate on a copy of the cursor first, then take the values' bytes as
  // one span from the real one.
  Reader probe = in;
  for (std::size_t i = 0; i < count && probe.ok(); ++i) read_value(probe);
  if (!probe.ok()) {
    in.fail(*probe.finish());
    return {};
  }
  return ValueList{count, in.bytes(in.remaining() - probe.remaining())};
}

void write_count16(Writer& out, std::size_t count) {
  out.int16(static_cast<std::int16_t>(static_cast<std::uint16_t>(count)));
}

void write_int16_array(Writer& out, Int16Array values) {
  write_count16(out, values.size());
  out.bytes(values.raw());
}

void write_int32_array(Writer& out, Int32Array values) {
  write_count16(out, values.size());
  out.bytes(values.raw());
}

void write_value(Writer& out, const Value& value) {
  if (!value) {
    out.int32(kNullLength);
    return;
  }
  out.int32(static_cast<std::int32_t>(value->size()));
  out.bytes(*value);
}

void write_value_list(Writer& out, const ValueList& values) {
  write_count16(out, values.size());
  out.bytes(values.raw());
}

}  // namespace pgdual::protocol
