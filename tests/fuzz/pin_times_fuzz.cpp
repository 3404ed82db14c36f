// libFuzzer target: sql::pin_times over the whole input as SQL text.
//
// Checks that a text it leaves alone comes back byte for byte, that a text it
// pins comes back changed, and that pinning is idempotent: the rewritten text
// still parses and has no call left to pin.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/sql/pin_values.h"
#include "tests/fuzz/round_trip.h"

namespace sql = pgdual::sql;
using pgdual::protocol::fuzz::require;

namespace {

const sql::PinnedTimes kTimes{
    .transaction_time = "2026-11-22 05:16:00.123456+00",
    .statement_time = "2026-11-22 05:16:00.125001+00",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  const auto first = sql::pin_times(text, kTimes);
  if (!first) return 0;
  if (first->pinned == 0) {
    require(first->text == text, "text with nothing pinned differs from the input");
    return 0;
  }
  require(first->text != text, "text with pinned calls equals the input");
  const auto second = sql::pin_times(first->text, kTimes);
  require(second.has_value(), "pinned text cannot be pinned again");
  require(second->pinned == 0, "pinned text still has calls to pin");
  require(second->text == first->text, "pinning the pinned text changed it");
  return 0;
}
