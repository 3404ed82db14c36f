// [auth]: logins for roles without a [[users]] entry (docs/auth-lookup.md).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "config/proxy_config.h"

namespace pgdual::config {
namespace {

constexpr std::string_view kBackends =
    "[backends.onprem]\nhost = \"10.0.0.1\"\n[backends.cloud]\nhost = \"10.0.0.2\"\n";
constexpr std::string_view kUsers =
    "[[users]]\nname = \"app\"\npassword = \"secret\"\n[[users]]\nname = \"pgdual_auth\"\npassword = \"x\"\n";

std::string with(std::string_view auth, std::string_view more = {}) {
  return std::string{kBackends} + std::string{kUsers} + std::string{more} + "[auth]\n" + std::string{auth};
}

}  // namespace

TEST_CASE("Without [auth] no role is looked up, and the defaults read pg_authid in database postgres",
          "[unit][config][auth_query]") {
  const auto config = parse_config(std::string{kBackends} + std::string{kUsers}, "test.toml");
  REQUIRE(config);
  CHECK_FALSE(config->auth.enabled());
  CHECK(config->auth.lookup_database == "postgres");
  CHECK(config->auth.query == kDefaultAuthQuery);
}

TEST_CASE("[auth] keys are read, and [[hba]] may then name roles only the servers know",
          "[unit][config][auth_query]") {
  const auto config = parse_config(
      with("lookup_user = \"pgdual_auth\"\nquery = \"SELECT * FROM f($1)\"\nlookup_database = \"ehr\"\n",
           "[[hba]]\nusers = [\"nurse\"]\ndatabases = [\"all\"]\naddress = \"all\"\nmethod = \"scram-sha-256\"\n"),
      "test.toml");
  INFO((config ? std::string{"accepted"} : config.error().to_string()));
  REQUIRE(config);
  CHECK(config->auth == AuthLookupConfig{.lookup_user = "pgdual_auth",
                                         .query = "SELECT * FROM f($1)",
                                         .lookup_database = "ehr"});
  CHECK(config->auth.enabled());
  CHECK(config->hba.front().users == std::vector<std::string>{"nurse"});
}

TEST_CASE("[auth] errors name the key and say what is wrong", "[unit][config][auth_query]") {
  struct Row {
    std::string text;
    std::string_view key;
    std::string_view message;
  };
  const Row rows[] = {
      {with("lookup_user = \"nobody\"\n"), "auth.lookup_user",
       "no [[users]] entry is named \"nobody\"; the lookup role needs one, with its password on the primary"},
      {with("lookup_user = \"\"\n"), "auth.lookup_user", "must not be empty"},
      {with("lookup_user = \"pgdual_auth\"\nquery = \"SELECT rolname, rolpassword FROM pg_authid\"\n"), "auth.query",
       "must take the role name as $1 and return the verifier in its second column"},
      {with("query = \"SELECT * FROM f($1)\"\n"), "auth.query",
       "has no effect without auth.lookup_user, the [[users]] entry the lookup runs as"},
      {with("lookup_database = \"ehr\"\n"), "auth.lookup_database",
       "has no effect without auth.lookup_user, the [[users]] entry the lookup runs as"},
      {std::string{kBackends} + std::string{kUsers} +
           "[[hba]]\nusers = [\"nurse\"]\ndatabases = [\"all\"]\naddress = \"all\"\nmethod = \"scram-sha-256\"\n",
       "hba[0].users[0]", "no [[users]] entry is named \"nurse\", so this rule could never match"},
  };
  for (const auto& row : rows) {
    INFO(row.text);
    const auto config = parse_config(row.text, "test.toml");
    REQUIRE_FALSE(config);
    CHECK(config.error().key == row.key);
    CHECK(config.error().message == row.message);
  }
}

TEST_CASE("pgdual.example.toml shows every [auth] key with its default", "[unit][config][auth_query]") {
  std::ifstream file(std::filesystem::path(PGDUAL_SOURCE_DIR) / "config" / "pgdual.example.toml");
  REQUIRE(file);
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  for (const auto& line : {std::string{"\n[auth]\n"}, std::string{"\n# lookup_user = \"pgdual_auth\"\n"},
                           "\n# query = \"" + std::string{kDefaultAuthQuery} + "\"\n",
                           std::string{"\n# lookup_database = \"postgres\"\n"}}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
}

}  // namespace pgdual::config
