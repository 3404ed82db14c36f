#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/net/asio.h"
#include "proxy/session/mirror_link.h"

namespace pgdual::proxy {

/// Column defaults are invisible in a statement's text: a serial key or a DEFAULT now() draws a
/// different value on each backend. Which tables have them, the mirror's catalog says: asked
/// once, and again after DDL.
class ColumnDefaults {
 public:
  /// Whether the catalog was read since the last schema change.
  [[nodiscard]] bool known() const noexcept { return known_; }
  /// A schema change: the catalog is read again when next needed.
  void forget() noexcept { known_ = false; }
  /// Reads the catalog from the mirror, whose earlier answers must all be read; false when it
  /// could not (the mirror broke off, or its transaction failed).
  Awaitable<bool> read(MirrorLink& link);
  /// Adds to `unpinned` the functions ("nextval", "now"...) of the volatile defaults of `tables`
  /// when a write's `command_tag` says it drew defaults, as far as they are known.
  void add_drawn(std::string_view command_tag, const std::vector<std::string>& tables,
                 std::vector<std::string>& unpinned) const;

 private:
  /// Tables whose column defaults draw a different value on each backend, by name (qualified
  /// and bare), with those functions ("nextval,now").
  std::unordered_map<std::string, std::string> volatile_;
  bool known_ = false;
};

/// Commands that add rows, and so draw column defaults.
[[nodiscard]] bool draws_defaults(std::string_view command_tag);

}  // namespace pgdual::proxy
