#include "proxy/cutover/running_roles.h"

#include <memory>

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

std::shared_ptr<const config::ProxyConfig> started_on_prem() {
  auto config = std::make_shared<config::ProxyConfig>();
  config->onprem.name = "onprem";
  config->cloud.name = "cloud";
  config->primary = "onprem";
  return config;
}

}  // namespace

TEST_CASE("RunningRoles turns the roles round only once swapped() is told, and back again",
          "[unit][proxy][cutover]") {
  RunningRoles roles{started_on_prem()};
  CHECK(roles.swaps() == 0);
  CHECK_FALSE(roles.last_swap());
  const auto turned = roles.turned();
  CHECK(turned->primary_backend().name == "cloud");
  CHECK(roles.config()->primary_backend().name == "onprem");  // not in force yet

  roles.swapped(turned, "ops@10.0.0.5:50102");
  CHECK(roles.config()->primary_backend().name == "cloud");
  CHECK(roles.config()->mirror_backend().name == "onprem");
  CHECK(roles.swaps() == 1);
  REQUIRE(roles.last_swap());
  CHECK(roles.last_swap()->by == "ops@10.0.0.5:50102");
  CHECK(roles.last_swap()->primary == "cloud");
  CHECK(roles.last_swap()->at.ends_with("Z"));

  roles.swapped(roles.turned(), std::string{RunningRoles::kAutomaticRollback});
  CHECK(roles.config()->primary_backend().name == "onprem");
  CHECK(roles.swaps() == 2);
  CHECK(roles.last_swap()->by == "pgdual automatic rollback");
}

TEST_CASE("The primary's answers are counted from the last swap on", "[unit][proxy][cutover]") {
  RunningRoles roles{started_on_prem()};
  roles.count_answer(false);
  roles.count_answer(true);
  CHECK(roles.answers_since_swap() == std::pair<std::uint64_t, std::uint64_t>{2, 1});
  roles.swapped(roles.turned(), "ops");
  CHECK(roles.answers_since_swap() == std::pair<std::uint64_t, std::uint64_t>{0, 0});
  roles.count_answer(true);
  CHECK(roles.answers_since_swap() == std::pair<std::uint64_t, std::uint64_t>{1, 1});
}

}  // namespace pgdual::proxy
