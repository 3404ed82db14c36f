#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "conflict/wal_names.h"

namespace pgdual::conflict {
namespace {

bool is_valid_slot_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (const char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!allowed) return false;
  }
  return true;
}

TEST_CASE("A database whose name is already a valid slot name gets pgdual_ and its name", "[unit][conflict][slot]") {
  CHECK(slot_name_for("shop") == "pgdual_shop");
  CHECK(slot_name_for("app_2024") == "pgdual_app_2024");
}

TEST_CASE("slot_name_for sanitizes other names and keeps them apart with a hash", "[unit][conflict][slot]") {
  const std::string long_name(63, 'x');
  const std::string long_name_too = std::string(62, 'x') + "y";
  for (const std::string& database : {std::string{"Shop"}, std::string{"shop-eu"}, std::string{"café"},
                                      std::string{"a b"}, std::string{}, long_name}) {
    const auto name = slot_name_for(database);
    INFO(database << " -> " << name);
    CHECK(is_valid_slot_name(name));
    CHECK(name.starts_with("pgdual_"));
    CHECK(name == slot_name_for(database));  // stable
  }
  CHECK(slot_name_for("Shop").starts_with("pgdual_shop_"));
  CHECK(slot_name_for("Shop") != slot_name_for("shop"));
  CHECK(slot_name_for("shop-eu") != slot_name_for("shop_eu"));
  CHECK(slot_name_for("shop-eu") != slot_name_for("shop.eu"));
  CHECK(slot_name_for(long_name) != slot_name_for(long_name_too));
  CHECK(slot_name_for(long_name).size() == 63);
}

}  // namespace
}  // namespace pgdual::conflict
