// Client authentication by pgdual itself, before any backend connection: SCRAM-SHA-256, md5 and
// trust by the first matching [[hba]] rule, with psql as the client.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "tests/integration/harness/fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kClientTimeout = 60s;

RunResult psql_as(IntegrationTest& test, const std::string& database, const std::string& user,
                  const std::string& password) {
  auto endpoint = test.through_proxy(database);
  endpoint.user = user;
  endpoint.password = password;
  return run_client({pg_program("psql"), "-X", "-A", "-t", "-c", "SELECT current_user"}, endpoint, kClientTimeout);
}

ProxySettings with_rules(const std::string& rules) {
  auto settings = IntegrationTest::default_settings();
  settings.extra = rules;
  return settings;
}

std::string rule(const std::string& databases, const std::string& method) {
  return "\n[[hba]]\nusers = [\"all\"]\ndatabases = " + databases + "\naddress = \"127.0.0.0/8\"\nmethod = \"" +
         method + "\"\n";
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "SCRAM-SHA-256 by default: a wrong password and an unknown user get one answer",
                 "[integration][auth]") {
  const auto database = fresh_database("auth_scram");
  start_proxy();
  const auto right = psql_as(*this, database, kAppUser, kAppPassword);
  INFO(right.describe());
  CHECK(right.exit_code == 0);
  CHECK(right.out == "app\n");

  const auto wrong = psql_as(*this, database, kAppUser, "not-the-password");
  INFO(wrong.describe());
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("FATAL:  password authentication failed for user \"app\"") != std::string::npos);

  const auto unknown = psql_as(*this, database, "nobody", "not-the-password");
  INFO(unknown.describe());
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("FATAL:  password authentication failed for user \"nobody\"") != std::string::npos);
  CHECK(proxy().log().find("connecting user=nobody") == std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "md5 and trust rules, and a client no rule admits", "[integration][auth]") {
  const auto md5_database = fresh_database("auth_md5");
  const auto trusted = fresh_database("auth_trust");
  start_proxy(with_rules(rule("[\"" + md5_database + "\"]", "md5") + rule("[\"" + trusted + "\"]", "trust") +
                         rule("[\"pgdual\"]", "reject")));

  CHECK(psql_as(*this, md5_database, kAppUser, kAppPassword).out == "app\n");
  const auto wrong_md5 = psql_as(*this, md5_database, kAppUser, "not-the-password");
  CHECK(wrong_md5.err.find("password authentication failed for user \"app\"") != std::string::npos);

  const auto trusted_run = psql_as(*this, trusted, kAppUser, "anything");
  INFO(trusted_run.describe());
  CHECK(trusted_run.out == "app\n");

  const auto rejected = psql_as(*this, "pgdual", kAppUser, kAppPassword);
  CHECK(rejected.err.find("pgdual [[hba]] rejects connection for host \"127.0.0.1\", user \"app\", database "
                          "\"pgdual\", no encryption") != std::string::npos);
  const auto unmatched = psql_as(*this, "postgres", kAppUser, kAppPassword);
  CHECK(unmatched.err.find("no pgdual [[hba]] entry for host \"127.0.0.1\", user \"app\", database \"postgres\"") !=
        std::string::npos);
}

}  // namespace pgdual::test
