#pragma once

// Internal to the classifier: libpg_query's parse tree as unpacked protobuf-c
// messages in an arena, a generic walk over child messages, and the other
// libpg_query calls, each result freed on every path.
// libpg_query.so exports the protobuf-c runtime and the generated message
// functions; only the protobuf-c header comes from libprotobuf-c-dev.

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace pgdual::sql {

/// Memory for unpacked protobuf-c messages, freed all at once on destruction.
/// protobuf-c allocates every message of the tree separately; bump-allocating
/// them from a few blocks more than halves the cost of unpacking.
class ParseArena {
 public:
  ParseArena() = default;
  ~ParseArena();
  ParseArena(const ParseArena&) = delete;
  ParseArena& operator=(const ParseArena&) = delete;

  /// The allocator to hand protobuf-c, borrowing this arena. Its alloc returns
  /// nullptr when memory runs out, as protobuf-c expects; its free does nothing.
  [[nodiscard]] ProtobufCAllocator allocator() noexcept;

 private:
  static void* allocate(void* arena, std::size_t size) noexcept;
  static void release(void* arena, void* pointer) noexcept;

  std::vector<void*> blocks_;  // malloc'ed, the last one in use
  std::size_t used_ = 0;       // bytes of the last block handed out
  std::size_t block_size_ = 0;
};

/// Parses `sql` (NUL-terminated) into messages allocated from `arena`, valid
/// as long as it is. Returns nullptr when libpg_query reports an error (a
/// syntax error, or bison's own nesting limit) or memory runs out.
/// Precondition: fits_parser_stack(sql), or this may overflow the stack.
[[nodiscard]] const PgQuery__ParseResult* parse(const std::string& sql, ParseArena& arena);

/// Whether libpg_query can parse, fingerprint and normalize `sql` on the
/// default 8 MiB thread stack. libpg_query's check_stack_depth() is a no-op and
/// protobuf-c packs and unpacks recursively, so a deeply nested text kills the
/// process: `SELECT 1+1+...+1` with 5,000 terms, or 1,500 nested subqueries.
/// This scans the text (lexer only, flat) and bounds the tree's depth by the
/// tokens that can nest; lists (commas, AND/OR chains, CASE branches) do not.
/// It rejects texts with more than about a thousand nested terms.
[[nodiscard]] bool fits_parser_stack(const std::string& sql);

/// pg_query_fingerprint as hex digits; empty on error.
[[nodiscard]] std::string fingerprint(const std::string& sql);

/// pg_query_normalize's output with every literal token it left replaced by a
/// new $n and comments removed; empty on error.
[[nodiscard]] std::string normalize(const std::string& sql);

/// `message` as the generated struct T whose first member it is.
template <class T>
[[nodiscard]] const T& as(const ProtobufCMessage& message) noexcept {
  return reinterpret_cast<const T&>(message);  // T is standard-layout; `base` is its first member
}

/// The text of a String node; empty for any other node.
[[nodiscard]] std::string_view string_of(const PgQuery__Node* node) noexcept;

/// A C string from a protobuf-c message (never null once unpacked, but a
/// missing string reads as empty all the same).
[[nodiscard]] inline std::string_view text_of(const char* text) noexcept {
  return text == nullptr ? std::string_view{} : std::string_view{text};
}

namespace detail {
template <class T>
T field_at(const ProtobufCMessage& message, std::size_t offset) noexcept {
  T value;
  std::memcpy(&value, reinterpret_cast<const unsigned char*>(&message) + offset, sizeof value);
  return value;
}
}  // namespace detail

/// Calls visit(child) for every message directly below `message`: message
/// fields that are set, each element of repeated message fields, and the set
/// member of a oneof. Driven by protobuf-c's descriptors, so no node type of
/// the ~250 in the tree is forgotten.
template <class Visit>
void for_each_child(const ProtobufCMessage& message, Visit&& visit) {
  const ProtobufCMessageDescriptor& descriptor = *message.descriptor;
  if (&descriptor == &pg_query__node__descriptor) {
    // Node is a oneof over every node type; look its one field up by case
    // instead of scanning ~250 field descriptors.
    const auto& node = as<PgQuery__Node>(message);
    if (node.node_case == PG_QUERY__NODE__NODE__NOT_SET) return;
    const ProtobufCFieldDescriptor* field = protobuf_c_message_descriptor_get_field(
        &descriptor, static_cast<unsigned>(node.node_case));
    if (field == nullptr) return;
    const auto* child = detail::field_at<const ProtobufCMessage*>(message, field->offset);
    if (child != nullptr) visit(*child);
    return;
  }
  for (unsigned i = 0; i < descriptor.n_fields; ++i) {
    const ProtobufCFieldDescriptor& field = descriptor.fields[i];
    if (field.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (field.label == PROTOBUF_C_LABEL_REPEATED) {
      const auto count = detail::field_at<std::size_t>(message, field.quantifier_offset);
      const auto* items = detail::field_at<ProtobufCMessage* const*>(message, field.offset);
      for (std::size_t j = 0; j < count; ++j) {
        if (items[j] != nullptr) visit(*items[j]);
      }
      continue;
    }
    if ((field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
        detail::field_at<std::uint32_t>(message, field.quantifier_offset) != field.id) {
      continue;
    }
    const auto* child = detail::field_at<const ProtobufCMessage*>(message, field.offset);
    if (child != nullptr) visit(*child);
  }
}

}  // namespace pgdual::sql
