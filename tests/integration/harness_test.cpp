// The harness checked on its own, directly against PostgreSQL: if these fail, the proxy tests
// below them say nothing about pgdual.
#include <catch2/catch.hpp>

#include <csignal>

#include "config/proxy_config.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/process_tree.h"
#include "tests/integration/harness/transcript.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

TEST_CASE("a command that outlives its timeout is killed and reported as timed out", "[integration][harness]") {
  const auto started = std::chrono::steady_clock::now();
  const auto result = run({"sleep", "30"}, {}, 200ms);
  CHECK(result.timed_out);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("a command's stdout, stderr and exit code are captured separately", "[integration][harness]") {
  const auto result = run({"sh", "-c", "echo out; echo err >&2; exit 3"}, {}, 10s);
  CHECK_FALSE(result.timed_out);
  CHECK(result.exit_code == 3);
  CHECK(result.out == "out\n");
  CHECK(result.err == "err\n");
}

TEST_CASE("a child sees the extra environment but none of our PG variables", "[integration][harness]") {
  setenv("PGSERVICE", "leaked-from-the-developer", 1);
  ProcessOptions options;
  options.env = {{"PGDATABASE", "db"}};
  const auto result = run({"sh", "-c", "echo \"${PGSERVICE:-unset} $PGDATABASE\""}, options, 10s);
  unsetenv("PGSERVICE");
  CHECK(result.out == "unset db\n");
}

TEST_CASE("a process stopped with a signal reports 128 plus the signal number", "[integration][harness]") {
  const TempDir capture{"pgdual-harness-test"};
  Subprocess sleeper{{"sleep", "30"}, {}, capture.path() / "out", capture.path() / "out"};
  CHECK(sleeper.running());
  sleeper.send_signal(SIGTERM);
  CHECK(sleeper.wait_for(10s) == 128 + SIGTERM);
}

TEST_CASE("starting a program that does not exist throws", "[integration][harness]") {
  CHECK_THROWS_AS(run({"/nonexistent/pgdual-no-such-program"}, {}, 10s), std::system_error);
}

TEST_CASE("first_difference names the first line that differs", "[integration][harness]") {
  CHECK(first_difference("a\nb\n", "a\nb\n").empty());
  const auto report = first_difference("a\nb\nc\n", "a\nB\nc\n");
  CHECK(report.find("line 2") != std::string::npos);
  CHECK(report.find("direct : |b|") != std::string::npos);
  CHECK(report.find("proxied: |B|") != std::string::npos);
  CHECK(first_difference("a\n", "a\nextra\n").find("(end of output)") != std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "a fresh database exists on both backends and belongs to the app role",
                 "[integration][harness]") {
  const auto database = fresh_database("harness");
  const std::string owner_query =
      "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()";
  CHECK(backends().onprem.run_sql(database, owner_query) == "app\n");
  CHECK(backends().cloud.run_sql(database, owner_query) == "app\n");
  CHECK(backends().onprem.port() != backends().cloud.port());
}

TEST_CASE_METHOD(IntegrationTest, "the app role logs in with its password and can create tables",
                 "[integration][harness]") {
  const auto database = fresh_database("login");
  const auto result = run_client(
      {pg_program("psql"), "-X", "-q", "-A", "-t", "-c", "CREATE TABLE t (x int); INSERT INTO t VALUES (41); SELECT x + 1 FROM t"},
      direct(database), 30s);
  INFO(result.describe());
  CHECK(result.exit_code == 0);
  CHECK(result.out == "42\n");
}

TEST_CASE_METHOD(IntegrationTest, "a wrong password is refused because the servers require SCRAM",
                 "[integration][harness]") {
  auto endpoint = direct(fresh_database("wrong_password"));
  endpoint.password = "not-the-password";
  const auto result = run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, endpoint, 30s);
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("password authentication failed") != std::string::npos);
}

TEST_CASE_METHOD(IntegrationTest, "run_sql reports the server's error when a statement fails",
                 "[integration][harness]") {
  CHECK_THROWS_WITH(primary().run_sql("postgres", "SELECT * FROM no_such_table"),
                    Catch::Contains("relation \"no_such_table\" does not exist"));
}

TEST_CASE("a server killed -9 restarts on its port with its committed rows", "[integration][harness]") {
  PgCluster server{"harness-crashed"};
  static_cast<void>(server.run_sql("postgres", "SET synchronous_commit = on; CREATE TABLE kept (id int); "
                                               "INSERT INTO kept VALUES (1)"));
  const auto postmaster = server.postmaster_pid();
  const auto port = server.port();
  server.crash();
  CHECK(has_exited(postmaster));
  CHECK_THROWS(server.run_sql("postgres", "SELECT 1"));
  server.restart();
  CHECK(server.port() == port);
  CHECK(server.run_sql("postgres", "SELECT count(*) FROM kept") == "1\n");
}

TEST_CASE("a frozen server keeps its clients waiting until it is thawed", "[integration][harness]") {
  PgCluster server{"harness-frozen"};
  {
    FrozenServer frozen{server};
    const auto waiting = run_client({pg_program("psql"), "-X", "-c", "SELECT 1"}, server.superuser(), 2s);
    CHECK(waiting.timed_out);
  }
  CHECK(server.run_sql("postgres", "SELECT 1") == "1\n");
}

TEST_CASE("pgdual's config parser reads the config the harness writes", "[integration][harness]") {
  ProxySettings settings;
  settings.onprem_port = 5001;
  settings.cloud_port = 5002;
  settings.primary = "cloud";
  settings.users = {{"app", "pa\"ss"}};
  const auto text = proxy_config_text(settings, 6001);
  const auto config = config::parse_config(text, "harness.toml");
  INFO((config ? std::string{} : config.error().to_string()));
  REQUIRE(config.has_value());
  CHECK(config->listen.address == "127.0.0.1");
  CHECK(config->listen.port == 6001);
  CHECK(config->onprem.port == 5001);
  CHECK(config->cloud.port == 5002);
  CHECK(config->primary == "cloud");
  REQUIRE(config->users.size() == 1);
  CHECK(config->users[0].name == "app");
  CHECK(config->users[0].password == "pa\"ss");
}

}  // namespace
}  // namespace pgdual::test
