// wal mode against the writes that statement mirroring could not copy (issue 16, "Why"): eight
// psycopg sessions through pgdual and a writer straight to the primary at once, with triggers,
// defaults, rules, views, SKIP LOCKED, upsert races, LIMIT without ORDER BY, CTEs, pipelines,
// temporary tables, COPY, TOAST, DDL from another session and TRUNCATE CASCADE. Both servers are
// then compared directly: tables, sequences and large objects identical, and no conflict.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "conflict/compare.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kWorkload =
    std::filesystem::path{PGDUAL_SOURCE_DIR} / "tests/integration/data/hostile_workload.py";

std::string conninfo(const Endpoint& endpoint) {
  return "host=" + endpoint.host + " port=" + std::to_string(endpoint.port) + " user=" + endpoint.user +
         " password=" + endpoint.password + " dbname=" + endpoint.database;
}

TEST_CASE_METHOD(WalModeTest, "wal mode: the hostile workload leaves both servers identical, tables, sequences and "
                              "large objects, with no conflict on record",
                 "[integration][wal_mode][wal_hostile]") {
  const auto settings = wal_settings();
  start("wal_hostile", "SELECT 1", settings);
  // As a superuser, init installs the event trigger that gives tables made later without a primary
  // key a replica identity (readings): the primary must take their UPDATE and DELETE.
  run_pgdual_init(database(), settings, backends().onprem.superuser().user);

  // Debian's interpreter: python3-psycopg is installed for it only.
  const auto result =
      run_client({"/usr/bin/python3", kWorkload.string(), conninfo(direct(database()))}, endpoint(), 300s);
  check_succeeded(result);

  // The direct writer's last transactions are acknowledged to no one: they may still be on their way.
  const auto waited = wait_until_identical(20s);
  INFO("differing tables:\n" << lines(differing()));
  REQUIRE(waited);
  std::vector<std::string> others;
  for (int attempt = 0; attempt < 30; ++attempt) {  // the sequences follow within mirror.sequence_sync_ms
    others = differing_sequences_and_large_objects(database(), backends().onprem, mirror());
    if (others.empty()) break;
    std::this_thread::sleep_for(200ms);
  }
  INFO("differing sequences and large objects:\n" << lines(others));
  CHECK(others.empty());
  CHECK(on_mirror("SELECT count(*) FROM patients") == "96\n");
  CHECK(on_mirror("SELECT count(*) FROM jobs WHERE owner IS NOT NULL") == "96\n");
  CHECK(on_mirror("SELECT count(*) FROM audit") == on_primary("SELECT count(*) FROM encounters"));
  const auto records = conflicts();
  std::string recorded;
  for (const auto& record : records) {
    recorded += std::string{conflict::to_string(record.kind)} + " " + record.statement_normalized + "\n";
  }
  INFO("conflicts:\n" << recorded);
  CHECK(records.empty());
  CHECK(proxy().log().find("has no event trigger") == std::string::npos);
}

}  // namespace
}  // namespace pgdual::test
