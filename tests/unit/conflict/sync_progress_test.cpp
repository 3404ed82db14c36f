#include "conflict/sync_progress.h"

#include <catch2/catch.hpp>

namespace pgdual::conflict {
namespace {

SyncProgress halfway() {
  SyncProgress progress;
  progress.database = "ehr \"main\"";
  progress.phase = "copying";
  progress.tables_done = 3;
  progress.tables = 12;
  progress.rows_done = 500'000;
  progress.rows_expected = 1'000'000;
  progress.bytes_done = 50'000'000;
  progress.copy_seconds = 10.0;
  progress.running = {{.name = "public.orders", .rows_done = 400'000, .rows_expected = 1'000'000},
                      {.name = "public.notes", .rows_done = 7, .rows_expected = 0}};
  return progress;
}

}  // namespace

TEST_CASE("pgdual sync's picture: a bar per table under way, then the whole with rate and ETA", "[unit][sync]") {
  const auto lines = render_sync_lines(halfway());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "  public.orders                [########------------]   40%  400,000 of ~1,000,000 rows");
  CHECK(lines[1] == "  public.notes                                               7 rows");
  CHECK(lines[2] == "copying  3/12 tables [##########----------]   50%  500,000 rows  5.0 MB/s  50,000 rows/s  ETA 10s");
  auto other = halfway();
  other.phase = "catching up";
  other.lag_bytes = 123'456;
  CHECK(render_sync_lines(other) ==
        std::vector<std::string>{"catching up  3/12 tables, 500,000 rows copied, 123,456 bytes of WAL to apply"});
}

TEST_CASE("pgdual sync's JSON line carries the figures, names quoted, no ETA outside the copy", "[unit][sync]") {
  CHECK(render_sync_json(halfway()) ==
        R"({"database":"ehr \"main\"","phase":"copying","tables_done":3,"tables":12,"rows_copied":500000,)"
        R"("rows_expected":1000000,"bytes_copied":50000000,"elapsed_seconds":10.0,"rows_per_second":50000,)"
        R"("mb_per_second":5.00,"eta_seconds":10,"lag_bytes":null,"running":[)"
        R"({"table":"public.orders","rows":400000,"rows_expected":1000000},)"
        R"({"table":"public.notes","rows":7,"rows_expected":0}]})");
  SyncProgress start;
  start.phase = "schema";
  CHECK(render_sync_json(start).find(R"("eta_seconds":null)") != std::string::npos);
  CHECK_FALSE(eta_seconds(start));
  CHECK(rows_per_second(start) == 0.0);
}

TEST_CASE("Durations read as seconds, minutes or hours", "[unit][sync]") {
  CHECK(duration_text(0.4) == "0s");
  CHECK(duration_text(59) == "59s");
  CHECK(duration_text(65) == "1m05s");
  CHECK(duration_text(7380) == "2h03m");
  CHECK(duration_text(-3) == "0s");
}

TEST_CASE("The restore list leaves pgdual's event trigger out, and keeps the large objects apart", "[unit][sync]") {
  const std::string list =
      ";\n; Archive created at 2026-12-07\n;\n"
      "215; 1259 16390 TABLE public patients app\n"
      "3380; 3466 16500 EVENT TRIGGER - pgdual_replica_identity postgres\n"
      "3381; 3466 16501 EVENT TRIGGER - audit_ddl postgres\n"
      "3382; 2613 16600 BLOB - 16600 app\n"
      "3390; 0 0 BLOBS - BLOBS \n"
      "3391; 0 16400 SEQUENCE SET public patients_id_seq app";
  CHECK(restore_list_without_own(list, "pgdual_replica_identity") ==
        ";\n; Archive created at 2026-12-07\n;\n"
        "215; 1259 16390 TABLE public patients app\n"
        "3381; 3466 16501 EVENT TRIGGER - audit_ddl postgres\n"
        "3382; 2613 16600 BLOB - 16600 app\n"
        "3390; 0 0 BLOBS - BLOBS \n"
        "3391; 0 16400 SEQUENCE SET public patients_id_seq app\n");
  CHECK(restore_list_large_objects(list) ==
        ";\n; Archive created at 2026-12-07\n;\n"
        "3382; 2613 16600 BLOB - 16600 app\n"
        "3390; 0 0 BLOBS - BLOBS \n");
}

}  // namespace pgdual::conflict
