// The WAL mirror's preflight check against real servers: each prerequisite a server lacks is
// named with its fix, and nothing else is.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "conflict/jobs/wal_preflight.h"
#include "conflict/wal_names.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"

namespace Catch {
template <>
struct StringMaker<pgdual::jobs::PreflightProblem> {
  static std::string convert(const pgdual::jobs::PreflightProblem& problem) {
    return "{" + problem.backend + " | " + problem.problem + " | " + problem.fix + "}";
  }
};
}  // namespace Catch

namespace pgdual::test {
namespace {

using jobs::check_wal_prerequisites;
using jobs::PreflightProblem;
using jobs::PreflightTarget;
using Problems = std::vector<PreflightProblem>;

constexpr const char* kReplicator = "preflight_replicator";
constexpr const char* kApplier = "preflight_applier";
constexpr const char* kRolePassword = "preflight-secret";

config::BackendConfig backend_at(const std::string& name, std::uint16_t port) {
  return config::BackendConfig{.name = name, .port = port, .connect_timeout = std::chrono::seconds{10}};
}

config::UserConfig login(const std::string& name, const std::string& password) {
  return config::UserConfig{.name = name, .password = password};
}

config::UserConfig superuser() { return login(PgCluster::kSuperuser, PgCluster::kSuperuserPassword); }

PreflightTarget on_primary(const PgCluster& cluster, const std::string& database,
                           const config::UserConfig& user = superuser()) {
  return PreflightTarget{.backend = backend_at("onprem", cluster.port()), .user = user, .database = database};
}

PreflightTarget on_mirror(const std::string& database, const config::UserConfig& user = superuser()) {
  return PreflightTarget{.backend = backend_at("cloud", backends().cloud.port()), .user = user, .database = database};
}

/// A database on the given servers, without pgdual's schema.
std::string bare_database(const std::string& name, const std::vector<const PgCluster*>& clusters) {
  for (const auto* cluster : clusters) cluster->create_database(name, kAppUser);
  return name;
}

const PreflightProblem kWalLevelReplica{
    "onprem", "wal_level is \"replica\"; the WAL mirror decodes the WAL, which needs \"logical\"",
    "set wal_level = logical in postgresql.conf and restart the server, or set mirror.mode = \"statement\""};

const PreflightProblem kNoWalSender{
    "onprem", "no WAL sender is free for pgdual's replication connection: max_wal_senders is 0 and 0 are in use",
    "raise max_wal_senders to 1 or more in postgresql.conf and restart the server, or set mirror.mode = "
    "\"statement\""};

/// The primary's database lacks pgdual's schema (version 5): a bare one here.
PreflightProblem no_emit_ddl(const std::string& database) {
  return {"onprem",
          "database \"" + database + "\" has no function pgdual.emit_ddl, through which sessions carry DDL to the "
          "mirror",
          "run pgdual init --config <your pgdual.toml> --database " + database};
}

PreflightProblem no_free_slot(const std::string& database) {
  return {"onprem",
          "no replication slot is free for pgdual's slot \"" + conflict::slot_name_for(database) +
              "\": max_replication_slots is 1 and 1 are in use",
          "raise max_replication_slots to 2 or more in postgresql.conf and restart the server, or set mirror.mode = "
          "\"statement\""};
}

PreflightProblem no_replication(const std::string& role) {
  return {"onprem",
          "role \"" + role + "\" has neither the REPLICATION attribute nor superuser, so it may not create the slot or "
                             "open the replication connection",
          "run ALTER ROLE \"" + role + "\" REPLICATION as a superuser, or set mirror.replication_user to a role that "
                                       "has it, or set mirror.mode = \"statement\""};
}

PreflightProblem no_publication(const std::string& role, const std::string& database) {
  const auto publication = conflict::slot_name_for(database);
  return {"onprem",
          "role \"" + role + "\" may not create the publication \"" + publication +
              "\" FOR ALL TABLES: PostgreSQL 15 allows that to superusers only",
          "run CREATE PUBLICATION \"" + publication + "\" FOR ALL TABLES as a superuser in database \"" + database +
              "\", or set mirror.replication_user to a superuser, or set mirror.mode = \"statement\""};
}

PreflightProblem no_parameter_privilege(const std::string& role) {
  return {"cloud",
          "role \"" + role + "\" may not set session_replication_role, which the apply sets to replica so that the "
                             "mirror's own triggers and foreign-key checks do not fire a second time",
          "run GRANT SET ON PARAMETER session_replication_role TO \"" + role +
              "\" as a superuser, or set mirror.apply_user to a role that may, or set mirror.mode = \"statement\""};
}

PreflightProblem no_schema(const std::string& database) {
  return {"cloud",
          "database \"" + database + "\" has no table pgdual.applied, where the apply records each transaction it "
                                     "applied",
          "run pgdual init --config <your pgdual.toml> --database " + database};
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "A primary and a mirror ready for the WAL mirror lack nothing",
                 "[integration][wal][preflight]") {
  const auto database = fresh_database("preflight_ready");
  const auto problems = check_wal_prerequisites(on_primary(primary(), database), on_mirror(database));
  CHECK(problems == Problems{});
  CHECK(jobs::describe(problems).empty());
}

TEST_CASE_METHOD(IntegrationTest, "A primary with wal_level replica is named, with the setting and the restart",
                 "[integration][wal][preflight]") {
  const PgCluster replica_primary{"preflight-replica", std::nullopt, "wal_level = replica\n"};
  const auto database = fresh_database("preflight_replica");
  replica_primary.create_database(database);
  const auto problems = check_wal_prerequisites(on_primary(replica_primary, database), on_mirror(database));
  CHECK(problems == Problems{kWalLevelReplica, no_emit_ddl(database)});
  CHECK(jobs::describe(problems) ==
        "mirror.mode = \"wal\" needs 2 changes on the servers:\n"
        "- onprem: wal_level is \"replica\"; the WAL mirror decodes the WAL, which needs \"logical\"\n"
        "  fix: set wal_level = logical in postgresql.conf and restart the server, or set mirror.mode = "
        "\"statement\"\n"
        "- onprem: database \"" + database + "\" has no function pgdual.emit_ddl, through which sessions carry DDL "
        "to the mirror\n"
        "  fix: run pgdual init --config <your pgdual.toml> --database " + database);
}

TEST_CASE_METHOD(IntegrationTest,
                 "A replication user without REPLICATION or superuser is told to get the attribute and to have the "
                 "publication made, each problem gone once fixed",
                 "[integration][wal][preflight]") {
  primary().create_role(kReplicator, kRolePassword);
  const auto database = fresh_database("preflight_replicator");
  const auto check = [&] {
    return check_wal_prerequisites(on_primary(primary(), database, login(kReplicator, kRolePassword)),
                                   on_mirror(database));
  };
  CHECK(check() == Problems{no_replication(kReplicator), no_publication(kReplicator, database)});

  static_cast<void>(primary().run_sql("postgres", std::string{"ALTER ROLE "} + kReplicator + " REPLICATION"));
  CHECK(check() == Problems{no_publication(kReplicator, database)});

  const auto publication = conflict::slot_name_for(database);
  static_cast<void>(primary().run_sql(database, "CREATE PUBLICATION " + publication + " FOR ALL TABLES"));
  CHECK(check() == Problems{});
  static_cast<void>(primary().run_sql(database, "DROP PUBLICATION " + publication));
}

TEST_CASE_METHOD(IntegrationTest,
                 "An apply user that may not set session_replication_role is named until granted the parameter",
                 "[integration][wal][preflight]") {
  backends().cloud.create_role(kApplier, kRolePassword);
  const auto database = fresh_database("preflight_applier");
  const auto check = [&] {
    return check_wal_prerequisites(on_primary(primary(), database),
                                   on_mirror(database, login(kApplier, kRolePassword)));
  };
  CHECK(check() == Problems{no_parameter_privilege(kApplier)});

  static_cast<void>(backends().cloud.run_sql(
      "postgres", std::string{"GRANT SET ON PARAMETER session_replication_role TO "} + kApplier));
  CHECK(check() == Problems{});
}

TEST_CASE_METHOD(IntegrationTest, "A primary and a mirror database without pgdual's schema are named, with pgdual init as the fix",
                 "[integration][wal][preflight]") {
  const auto database = bare_database("preflight_no_schema", {&backends().onprem, &backends().cloud});
  CHECK(check_wal_prerequisites(on_primary(primary(), database), on_mirror(database)) ==
        Problems{no_emit_ddl(database), no_schema(database)});
}

TEST_CASE_METHOD(IntegrationTest,
                 "Full replication slots and WAL senders are named, and a free slot is not needed once pgdual's "
                 "slot exists",
                 "[integration][wal][preflight]") {
  const PgCluster full_primary{"preflight-full", std::nullopt, "max_replication_slots = 1\nmax_wal_senders = 0\n"};
  const auto database = fresh_database("preflight_full");
  full_primary.create_database(database);
  const auto check = [&] {
    return check_wal_prerequisites(on_primary(full_primary, database), on_mirror(database));
  };

  static_cast<void>(
      full_primary.run_sql(database, "SELECT pg_create_logical_replication_slot('someone_else', 'pgoutput')"));
  CHECK(check() == Problems{no_free_slot(database), kNoWalSender, no_emit_ddl(database)});

  static_cast<void>(full_primary.run_sql(database, "SELECT pg_drop_replication_slot('someone_else'); "
                                                   "SELECT pg_create_logical_replication_slot('" +
                                                       conflict::slot_name_for(database) + "', 'pgoutput')"));
  CHECK(check() == Problems{kNoWalSender, no_emit_ddl(database)});
}

TEST_CASE_METHOD(IntegrationTest, "An unreachable primary is one problem with libpq's message, and the mirror is "
                                  "still checked",
                 "[integration][wal][preflight]") {
  const auto database = bare_database("preflight_unreachable", {&backends().cloud});
  const auto closed_port = free_loopback_port();
  const PreflightTarget nowhere{
      .backend = backend_at("onprem", closed_port), .user = superuser(), .database = database};

  const auto problems = check_wal_prerequisites(nowhere, on_mirror(database));
  INFO(jobs::describe(problems));
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].backend == "onprem");
  CHECK(problems[0].problem.starts_with("cannot connect as role \"pgdual_admin\" to database "
                                        "\"preflight_unreachable\": connection to server at \"127.0.0.1\", port " +
                                        std::to_string(closed_port) + " failed: Connection refused"));
  CHECK(problems[0].problem.find('\n') == std::string::npos);  // describe() keeps one line per problem
  CHECK(problems[0].fix == "check that the server runs at 127.0.0.1:" + std::to_string(closed_port) +
                               " ([backends.onprem]) and lets that role log in to the database with the password "
                               "in the configuration");
  CHECK(problems[1] == no_schema(database));
}

}  // namespace pgdual::test
