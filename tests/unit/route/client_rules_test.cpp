#include "proxy/route/client_rules.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/route/ip_network.h"

namespace pgdual::proxy {
namespace {

using config::HbaConnection;
using config::HbaRule;

using test::network;

// A rule that matches everything, for each test to narrow one key of.
HbaRule open_rule(AuthMethod method = AuthMethod::scram_sha_256) {
  return HbaRule{.users = {"all"},
                 .databases = {"all"},
                 .address = std::nullopt,
                 .connection = HbaConnection::any,
                 .method = method};
}

const ClientAddress kClinicV4 = ClientAddress::v4({10, 1, 2, 3});
const ClientAddress kLoopbackV4 = ClientAddress::v4({127, 0, 0, 1});
const ClientAddress kLoopbackV6 = ClientAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});

bool admits(const HbaRule& rule, std::string_view user, std::string_view database, const ClientAddress& address,
            bool tls) {
  const std::vector<HbaRule> rules{rule};
  return match_rule(rules, user, database, address, tls) != nullptr;
}

}  // namespace

TEST_CASE("An hba rule matches the users it names, exactly, or every user with all", "[unit][proxy][hba]") {
  HbaRule rule = open_rule();
  rule.users = {"app", "reporting"};
  CHECK(admits(rule, "app", "ehr", kClinicV4, false));
  CHECK(admits(rule, "reporting", "ehr", kClinicV4, false));
  CHECK_FALSE(admits(rule, "APP", "ehr", kClinicV4, false));
  CHECK_FALSE(admits(rule, "ap", "ehr", kClinicV4, false));
  CHECK_FALSE(admits(rule, "", "ehr", kClinicV4, false));
  rule.users = {"app", "all"};
  CHECK(admits(rule, "anyone", "ehr", kClinicV4, false));
}

TEST_CASE("An hba rule matches the databases it names, or every database with all", "[unit][proxy][hba]") {
  HbaRule rule = open_rule();
  rule.databases = {"ehr"};
  CHECK(admits(rule, "app", "ehr", kClinicV4, false));
  CHECK_FALSE(admits(rule, "app", "Ehr", kClinicV4, false));
  CHECK_FALSE(admits(rule, "app", "pgdual", kClinicV4, false));
  rule.databases = {"pgdual"};
  CHECK(admits(rule, "app", "pgdual", kClinicV4, false));
  rule.databases = {"all"};
  CHECK(admits(rule, "app", "pgdual", kClinicV4, false));
  CHECK(admits(rule, "app", "billing", kClinicV4, false));
}

TEST_CASE("An hba rule's address matches IPv4, IPv6 and IPv4-mapped clients in its network", "[unit][proxy][hba]") {
  HbaRule rule = open_rule();
  rule.address = network("10.1.0.0/16");
  CHECK(admits(rule, "app", "ehr", kClinicV4, false));
  CHECK(admits(rule, "app", "ehr", ClientAddress::v4({10, 1, 255, 255}), false));
  CHECK_FALSE(admits(rule, "app", "ehr", ClientAddress::v4({10, 2, 0, 1}), false));
  // ::ffff:10.1.2.3, as a dual-stack socket reports an IPv4 client.
  CHECK(admits(rule, "app", "ehr", ClientAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3}), false));
  // The same four bytes in an IPv6 address that is not IPv4-mapped are another client.
  CHECK_FALSE(admits(rule, "app", "ehr", ClientAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 1, 2, 3}), false));

  rule.address = network("fd00::/8");
  CHECK(admits(rule, "app", "ehr", ClientAddress::v6({0xfd, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}), false));
  CHECK_FALSE(admits(rule, "app", "ehr", kLoopbackV6, false));
  CHECK_FALSE(admits(rule, "app", "ehr", kClinicV4, false));

  rule.address = network("10.1.2.3");
  CHECK(admits(rule, "app", "ehr", kClinicV4, false));
  CHECK_FALSE(admits(rule, "app", "ehr", ClientAddress::v4({10, 1, 2, 4}), false));

  rule.address = std::nullopt;  // "all"
  CHECK(admits(rule, "app", "ehr", kClinicV4, false));
  CHECK(admits(rule, "app", "ehr", kLoopbackV6, false));
}

TEST_CASE("An hba rule's connection matches TLS clients, plain clients, or both", "[unit][proxy][hba]") {
  HbaRule rule = open_rule();
  CHECK(admits(rule, "app", "ehr", kClinicV4, true));
  CHECK(admits(rule, "app", "ehr", kClinicV4, false));
  rule.connection = HbaConnection::tls;
  CHECK(admits(rule, "app", "ehr", kClinicV4, true));
  CHECK_FALSE(admits(rule, "app", "ehr", kClinicV4, false));
  rule.connection = HbaConnection::plain;
  CHECK_FALSE(admits(rule, "app", "ehr", kClinicV4, true));
  CHECK(admits(rule, "app", "ehr", kClinicV4, false));
}

TEST_CASE("An hba rule matches only when every key matches", "[unit][proxy][hba]") {
  const HbaRule rule{.users = {"app"},
                     .databases = {"ehr"},
                     .address = network("10.1.0.0/16"),
                     .connection = HbaConnection::tls,
                     .method = AuthMethod::md5};
  CHECK(admits(rule, "app", "ehr", kClinicV4, true));
  CHECK_FALSE(admits(rule, "other", "ehr", kClinicV4, true));
  CHECK_FALSE(admits(rule, "app", "other", kClinicV4, true));
  CHECK_FALSE(admits(rule, "app", "ehr", kLoopbackV4, true));
  CHECK_FALSE(admits(rule, "app", "ehr", kClinicV4, false));
}

TEST_CASE("The first matching hba rule decides, even when a later one would allow more", "[unit][proxy][hba]") {
  HbaRule reject_reporting = open_rule(AuthMethod::reject);
  reject_reporting.users = {"reporting"};
  HbaRule trust_loopback = open_rule(AuthMethod::trust);
  trust_loopback.address = network("127.0.0.0/8");
  const std::vector<HbaRule> rules{reject_reporting, trust_loopback, open_rule(AuthMethod::md5),
                                   open_rule(AuthMethod::scram_sha_256)};

  const auto* reporting = match_rule(rules, "reporting", "ehr", kLoopbackV4, false);
  REQUIRE(reporting != nullptr);
  CHECK(reporting == &rules[0]);
  CHECK(reporting->method == AuthMethod::reject);

  const auto* local_app = match_rule(rules, "app", "ehr", kLoopbackV4, false);
  REQUIRE(local_app != nullptr);
  CHECK(local_app == &rules[1]);
  CHECK(local_app->method == AuthMethod::trust);

  const auto* remote_app = match_rule(rules, "app", "ehr", kClinicV4, true);
  REQUIRE(remote_app != nullptr);
  CHECK(remote_app == &rules[2]);
  CHECK(remote_app->method == AuthMethod::md5);
}

TEST_CASE("A client no hba rule matches gets no rule, and no rules match nobody", "[unit][proxy][hba]") {
  HbaRule rule = open_rule();
  rule.users = {"app"};
  rule.address = network("10.1.0.0/16");
  const std::vector<HbaRule> rules{rule};
  CHECK(match_rule(rules, "app", "ehr", kLoopbackV6, false) == nullptr);
  CHECK(match_rule(rules, "ops", "ehr", kClinicV4, false) == nullptr);
  CHECK(match_rule({}, "app", "ehr", kClinicV4, false) == nullptr);
}

TEST_CASE("The default hba rules ask loopback clients for SCRAM and match no other client", "[unit][proxy][hba]") {
  const config::ProxyConfig defaults;
  for (const bool tls : {false, true}) {
    for (const auto& address : {kLoopbackV4, ClientAddress::v4({127, 9, 8, 7}), kLoopbackV6}) {
      const auto* rule = match_rule(defaults.hba, "anyone", "pgdual", address, tls);
      REQUIRE(rule != nullptr);
      CHECK(rule->method == AuthMethod::scram_sha_256);
    }
    CHECK(match_rule(defaults.hba, "app", "ehr", kClinicV4, tls) == nullptr);
    CHECK(match_rule(defaults.hba, "app", "ehr", ClientAddress::v6({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
                     tls) == nullptr);
  }
}

}  // namespace pgdual::proxy
