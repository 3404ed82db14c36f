#include "proxy/mirror/apply_lease.h"

#include <catch2/catch.hpp>

#include "proxy/admin/instances_table.h"
#include "proxy/mirror/instance_link.h"

namespace pgdual::proxy {
namespace {

using namespace std::chrono_literals;

protocol::OwnedDataRow row_of(std::vector<std::optional<std::string>> columns) {
  protocol::OwnedDataRow row;
  row.columns = std::move(columns);
  return row;
}

InstanceRow instance(std::string id, std::string listen, std::chrono::milliseconds silent, bool applies,
                     std::string started = "2026-12-08 02:00:00+00") {
  return InstanceRow{.instance = std::move(id),
                     .listen = std::move(listen),
                     .host = "ward-a",
                     .pid = 4242,
                     .started_at = std::move(started),
                     .silent = silent,
                     .applies = applies};
}

TEST_CASE("A standby takes a free lease, leaves a live holder alone, and ends a silent one", "[unit][proxy][lease]") {
  CHECK(judge(LeaseHolder{}, 0ms, 5s) == LeaseVerdict::free);
  const LeaseHolder named{.pid = 17, .instance = "i", .listen = "127.0.0.1:6432", .silent = 800ms};
  CHECK(judge(named, 0ms, 5s) == LeaseVerdict::alive);
  // How long it was seen unnamed counts only for a holder no row names.
  CHECK(judge(named, 60s, 5s) == LeaseVerdict::alive);
  auto frozen = named;
  frozen.silent = 5001ms;
  CHECK(judge(frozen, 0ms, 5s) == LeaseVerdict::silent);
  const LeaseHolder unnamed{.pid = 17, .instance = {}, .listen = {}, .silent = std::nullopt};
  CHECK(judge(unnamed, 4s, 5s) == LeaseVerdict::alive);
  CHECK(judge(unnamed, 6s, 5s) == LeaseVerdict::silent);
}

TEST_CASE("The lease holder and instance rows are read from the mirror's answers", "[unit][proxy][lease]") {
  const auto holder = lease_holder_of(row_of({"17", "0193e0b2-0000-7000-8000-000000000001", "10.0.0.5:6432", "250"}));
  CHECK(holder.pid == 17);
  CHECK(holder.listen == "10.0.0.5:6432");
  CHECK(holder.silent == 250ms);
  const auto unnamed = lease_holder_of(row_of({"17", std::nullopt, std::nullopt, std::nullopt}));
  CHECK(unnamed.pid == 17);
  CHECK_FALSE(unnamed.silent.has_value());
  CHECK(lease_holder_of(row_of({"17"})).pid == 0);

  const auto row = instance_row_of(row_of({"id-1", "10.0.0.5:6432", "ward-a", "4242", "2026-12-08 02:00:00+00", "900", "t"}));
  REQUIRE(row.has_value());
  CHECK(row->pid == 4242);
  CHECK(row->silent == 900ms);
  CHECK(row->applies);
  CHECK_FALSE(instance_row_of(row_of({"id-1", "x"})).has_value());
  CHECK_FALSE(instance_row_of(row_of({std::nullopt, "", "", "", "", "", "f"})).has_value());
}

TEST_CASE("An instance's row quotes what it says and names its backend only as the apply", "[unit][proxy][lease]") {
  const InstanceIdentity self{.id = "0193e0b2-0000-7000-8000-000000000001", .listen = "0.0.0.0:6432",
                              .host = "o'brien", .pid = 7};
  const auto beat = instance_row_sql(self, false);
  CHECK(beat.find("'o''brien'") != std::string::npos);
  CHECK(beat.find("pg_backend_pid") == std::string::npos);
  const auto apply = instance_row_sql(self, true);
  CHECK(apply.find("pg_catalog.pg_backend_pid()") != std::string::npos);
  CHECK(apply.find("apply_pid = excluded.apply_pid") != std::string::npos);
}

TEST_CASE("SHOW INSTANCES lists each instance once, freshest row, with the databases it applies",
          "[unit][proxy][lease]") {
  std::vector<WalMirrors::DatabaseProgress> mirrors(2);
  mirrors[0].database = "ehr";
  mirrors[0].instances = {instance("b", "10.0.0.6:6432", 300ms, false, "2026-12-08 02:00:05+00"),
                          instance("a", "10.0.0.5:6432", 900ms, true)};
  mirrors[1].database = "lab";
  mirrors[1].instances = {instance("a", "10.0.0.5:6432", 100ms, true), instance("b", "10.0.0.6:6432", 700ms, false,
                                                                                "2026-12-08 02:00:05+00")};
  const auto table = instances_table(mirrors, "b");
  CHECK(table.columns == std::vector<std::string>{"instance", "listen", "host", "pid", "started", "silent_ms",
                                                  "applies", "this"});
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0] == std::vector<std::string>{"a", "10.0.0.5:6432", "ward-a", "4242", "2026-12-08 02:00:00+00",
                                                  "100", "ehr,lab", ""});
  CHECK(table.rows[1][0] == "b");
  CHECK(table.rows[1][5] == "300");
  CHECK(table.rows[1][6].empty());
  CHECK(table.rows[1][7] == "yes");
  CHECK(instances_table({}, "b").rows.empty());
}

}  // namespace
}  // namespace pgdual::proxy
