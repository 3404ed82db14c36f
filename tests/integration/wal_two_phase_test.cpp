// mirror.mode = "wal" through pgdual, for what cannot share a transaction with pgdual's marker: a
// prepared transaction's COMMIT PREPARED, and the statements that must run alone (CREATE INDEX
// CONCURRENTLY, DROP INDEX CONCURRENTLY). Each is answered once the mirror has it, and both servers
// end identical.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/harness/subprocess.h"
#include "tests/integration/harness/temp_dir.h"
#include "tests/integration/wal_mode_fixture.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kClientTimeout = 180s;
/// How long the mirror's table stays locked against the apply.
constexpr auto kLockHeld = 3s;

constexpr std::string_view kVisitsSchema =
    "CREATE TABLE visits (id int PRIMARY KEY, ward text); GRANT ALL ON visits TO app;";

RunResult psql(const Endpoint& endpoint, const std::string& script) {
  return run_client({pg_program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", script}, endpoint, kClientTimeout);
}

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

class WalTwoPhaseTest : public WalModeTest {
 protected:
  static ProxySettings patient_settings() {
    auto settings = wal_settings();
    settings.mirror_timeout_ms = 20'000;  // far beyond kLockHeld: the answer waits for the apply
    return settings;
  }

  /// Holds `table` on the mirror in SHARE mode for kLockHeld: reads go on, the apply's writes wait.
  [[nodiscard]] Subprocess lock_on_mirror(const std::string& table) {
    ProcessOptions as_superuser;
    as_superuser.env = mirror().superuser(database()).libpq_env();
    const auto seconds = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kLockHeld).count());
    Subprocess locker{{pg_program("psql"), "-X", "-q", "-c",
                       "BEGIN; LOCK TABLE " + table + " IN SHARE MODE; SELECT pg_sleep(" + seconds + "); COMMIT;"},
                      as_superuser,
                      dir_.path() / "lock.log",
                      dir_.path() / "lock.log"};
    REQUIRE(wait_until([&] { return on_mirror(kLockGrantedSql) != "0\n"; }, 10s));
    return locker;
  }

 private:
  static constexpr const char* kLockGrantedSql =
      "SELECT count(*) FROM pg_locks WHERE mode = 'ShareLock' AND locktype = 'relation' AND granted";
  TempDir dir_{"pgdual-wal-2pc"};
};

TEST_CASE_METHOD(WalTwoPhaseTest,
                 "wal mode: PREPARE TRANSACTION is answered at once, COMMIT PREPARED once the "
                 "mirror has the transaction, ROLLBACK PREPARED leaves it nothing",
                 "[integration][wal_mode][two_phase]") {
  start("wal_two_phase", std::string{kVisitsSchema}, patient_settings());
  check_succeeded(psql(endpoint(), "INSERT INTO visits VALUES (0, 'warm-up')"));  // the session's mirror is up
  auto locker = lock_on_mirror("visits");

  auto start = Clock::now();
  check_succeeded(psql(endpoint(), "BEGIN; INSERT INTO visits VALUES (1, 'north'); PREPARE TRANSACTION 'g1'"));
  const auto prepare_took = since(start);
  INFO("PREPARE TRANSACTION took " << prepare_took.count() << " ms");
  CHECK(prepare_took < kLockHeld / 2);  // nothing is committed: nothing to wait for

  start = Clock::now();
  check_succeeded(psql(endpoint(), "COMMIT PREPARED 'g1'"));
  const auto commit_took = since(start);
  INFO("COMMIT PREPARED took " << commit_took.count() << " ms");
  CHECK(on_mirror("SELECT ward FROM visits WHERE id = 1") == "north\n");
  CHECK(commit_took > kLockHeld / 2);  // it waited for the apply, which waited for the lock
  static_cast<void>(locker.wait_for(10s));

  // Through the extended protocol too, and a rolled back one leaves the mirror nothing.
  check_succeeded(run_client({"/usr/bin/python3", "-c", R"py(
import psycopg
with psycopg.connect(autocommit=True) as conn:
    conn.execute("BEGIN")
    conn.execute("INSERT INTO visits VALUES (%s, %s)", (2, "south"))
    conn.execute("PREPARE TRANSACTION 'g2'")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO visits VALUES (%s, %s)", (3, "east"))
    conn.execute("PREPARE TRANSACTION 'g3'")
    conn.execute("COMMIT PREPARED 'g2'")
    conn.execute("ROLLBACK PREPARED 'g3'")
)py"},
                             endpoint(), kClientTimeout));
  CHECK(on_mirror("SELECT string_agg(id::text, ',' ORDER BY id) FROM visits") == "0,1,2\n");
  check_identical();
  CHECK(conflicts().empty());
}

TEST_CASE_METHOD(WalTwoPhaseTest,
                 "wal mode: CREATE and DROP INDEX CONCURRENTLY reach the mirror, as the primary's "
                 "role with its search_path, before the client's answer",
                 "[integration][wal_mode][ddl]") {
  start("wal_concurrently",
        "CREATE SCHEMA clinic AUTHORIZATION app; "
        "CREATE TABLE clinic.notes (id int PRIMARY KEY, body text); ALTER TABLE clinic.notes OWNER TO app;",
        patient_settings());
  const std::string indexes =
      "SELECT string_agg(schemaname || '.' || indexname, ',' ORDER BY indexname) "
      "FROM pg_indexes WHERE tablename = 'notes'";
  // Two Queries of one session: CREATE INDEX CONCURRENTLY runs alone.
  check_succeeded(run_client({pg_program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "SET search_path = clinic",
                              "-c", "CREATE INDEX CONCURRENTLY notes_body ON notes (body)"},
                             endpoint(), kClientTimeout));
  CHECK(on_mirror(indexes) == "clinic.notes_body,clinic.notes_pkey\n");
  CHECK(on_mirror("SELECT indisvalid FROM pg_index WHERE indexrelid = 'clinic.notes_body'::regclass") == "t\n");

  check_succeeded(psql(endpoint(), "INSERT INTO clinic.notes VALUES (1, 'seen')"));
  check_succeeded(psql(endpoint(), "DROP INDEX CONCURRENTLY clinic.notes_body"));
  CHECK(on_mirror(indexes) == "clinic.notes_pkey\n");
  check_identical();
  CHECK(conflicts().empty());
}

TEST_CASE_METHOD(WalTwoPhaseTest,
                 "wal mode: a statement that runs alone which the mirror refuses is recorded, and "
                 "the stream goes on",
                 "[integration][wal_mode][ddl]") {
  start("wal_concurrently_refused", std::string{kVisitsSchema} + "ALTER TABLE visits OWNER TO app;",
        patient_settings());
  static_cast<void>(on_mirror("CREATE INDEX visits_ward ON visits (ward)"));  // in the way on the mirror only
  check_succeeded(psql(endpoint(), "CREATE INDEX CONCURRENTLY visits_ward ON visits (ward)"));
  const auto records = wait_for_conflicts(1, 10s);
  REQUIRE(records.size() == 1);
  CHECK(records.front().kind == conflict::ConflictKind::mirror_error);
  CHECK(records.front().mirror.error);
  CHECK(records.front().mirror.error->sqlstate == "42P07");
  check_succeeded(psql(endpoint(), "INSERT INTO visits VALUES (1, 'north')"));
  CHECK(on_mirror("SELECT count(*) FROM visits") == "1\n");
  check_identical();
}

}  // namespace
}  // namespace pgdual::test
