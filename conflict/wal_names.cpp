#include "conflict/wal_names.h"

#include <array>
#include <cstdint>
#include <cstdio>

namespace pgdual::conflict {
namespace {

constexpr std::size_t kMaxSlotName = 63;  // NAMEDATALEN - 1
constexpr std::string_view kSlotPrefix = "pgdual_";

bool is_slot_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

// FNV-1a: stable across runs, builds and platforms, unlike std::hash.
std::uint32_t fnv1a(std::string_view text) {
  std::uint32_t hash = 2166136261u;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  return hash;
}

}  // namespace

std::string slot_name_for(std::string_view database) {
  std::string sanitized;
  sanitized.reserve(database.size());
  for (const char c : database) {
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    sanitized += is_slot_name_char(lower) ? lower : '_';
  }
  std::string name{kSlotPrefix};
  if (sanitized == database && name.size() + sanitized.size() <= kMaxSlotName) return name + sanitized;
  // Sanitizing or cutting can map two databases to one name; the hash of the original keeps them apart.
  std::array<char, 9> hash{};
  std::snprintf(hash.data(), hash.size(), "%08x", static_cast<unsigned>(fnv1a(database)));
  const std::size_t room = kMaxSlotName - name.size() - 1 - 8;
  return name + sanitized.substr(0, room) + "_" + hash.data();
}

}  // namespace pgdual::conflict
