// The WAL mirror's apply (proxy/mirror/apply_connection.h) against the real servers: a workload
// runs on the primary directly, its changes are read from a pgoutput slot with SQL (no slot reader
// of pgdual's), decoded, and fed to an ApplyConnection on the mirror; then both servers' tables
// must be equal.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/integration/harness/fixture.h"
#include "tests/integration/wal_apply_harness.h"

namespace pgdual::test {
namespace {

using namespace wal_apply;

constexpr const char* kUnitKey = "01890a5d-ac96-774b-bcce-b302099a8057";

const std::string kSchema = R"sql(
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE patients (
  id int PRIMARY KEY, name text NOT NULL, mood mood, tags text[], profile jsonb, photo bytea, notes text,
  name_upper text GENERATED ALWAYS AS (upper(name)) STORED);
CREATE TABLE events (at timestamptz, payload json, spot point);
ALTER TABLE events REPLICA IDENTITY FULL;
CREATE TABLE docs (id int PRIMARY KEY, body text, version int);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE wards (id serial PRIMARY KEY, name text);
CREATE TABLE beds (id serial PRIMARY KEY, ward_id int REFERENCES wards (id), label text);
CREATE TABLE audit_log (what text);
)sql";

// On the mirror only: had the apply fired it, audit_log would differ from the primary's (empty).
const std::string kMirrorTrigger = R"sql(
CREATE FUNCTION public.log_change() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.audit_log VALUES (TG_OP); RETURN NULL; END$$;
CREATE TRIGGER patients_audit AFTER INSERT OR UPDATE OR DELETE ON patients
  FOR EACH ROW EXECUTE FUNCTION public.log_change();
)sql";

const std::vector<std::string> kWorkload{
    R"(INSERT INTO patients (id, name, mood, tags, profile, photo, notes) VALUES
         (1, 'Ada', 'happy', ARRAY['a', 'b c', NULL], '{"k": [1, 2.50], "q": "it''s"}', '\x00ff10', NULL),
         (2, 'Bob', NULL, NULL, NULL, NULL, 'n'),
         (3, 'Cy', 'sad', '{}', '{}', '\x', E'tab\there'))",
    "UPDATE patients SET mood = 'ok', tags = array_append(tags, 'd') WHERE id = 1",
    "UPDATE patients SET id = 20, name = 'Bobby' WHERE id = 2",
    "DELETE FROM patients WHERE id = 3",
    R"(INSERT INTO events VALUES ('2024-01-01 10:00+00', '{"a": 1}', '(1,2)'),
                                 ('2024-01-01 10:00+00', '{"a": 1}', '(1,2)'),
                                 ('2024-01-02 00:00+00', NULL, NULL))",
    // One of two identical rows: the mirror must change exactly one too.
    R"(UPDATE events SET payload = '{"a": 2}' WHERE ctid = (SELECT ctid FROM events WHERE spot IS NOT NULL LIMIT 1))",
    "DELETE FROM events WHERE payload IS NULL",
    "INSERT INTO docs VALUES (1, repeat('lorem ipsum ', 20000), 1)",
    "UPDATE docs SET version = 2 WHERE id = 1",  // body is sent as unchanged TOAST
    "INSERT INTO wards (name) VALUES ('east'), ('west')",
    "INSERT INTO beds (ward_id, label) VALUES (1, 'e1'), (2, 'w1')",
    "TRUNCATE wards RESTART IDENTITY CASCADE",
    "INSERT INTO wards (name) VALUES ('north')",
    std::string{"BEGIN; INSERT INTO patients (id, name) VALUES (4, 'Di'); "
                "SELECT pg_logical_emit_message(true, 'pgdual', '"} + kUnitKey + "'); COMMIT;",
};

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "the WAL apply makes the mirror's tables the primary's, exactly once",
                 "[integration][wal][apply]") {
  const auto database = fresh_database("wal_apply");
  create_on_both(database, kSchema);
  static_cast<void>(backends().cloud.run_sql(database, kMirrorTrigger));
  const PrimarySlot slot{database};
  run_on_primary(database, kWorkload);
  const auto messages = slot.take_changes();
  REQUIRE(!messages.empty());

  const auto results = apply_as_superuser(database, slot, messages);
  CHECK(results.size() == kWorkload.size());
  CHECK(count_with(results, Status::applied) == kWorkload.size());
  for (const auto& result : results) {
    if (result.failure)
      FAIL_CHECK(result.failure->relation << " " << result.failure->sqlstate << " " << result.failure->message);
  }
  CHECK(differing_tables(database).empty());
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM audit_log") == "0\n");
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM docs WHERE length(body) = 240000 AND version = 2") ==
        "1\n");

  const auto ledger = "SELECT count(*), count(unit_key), max(unit_key::text) FROM pgdual.applied WHERE source = '" +
                      slot.source() + "'";
  const auto recorded = std::to_string(kWorkload.size()) + "|1|" + kUnitKey + "\n";
  CHECK(backends().cloud.run_sql(database, ledger) == recorded);
  CHECK(results.back().unit_key == std::optional<std::string>{kUnitKey});

  SECTION("the same transactions sent again by the slot are skipped whole") {
    const auto again = apply_as_superuser(database, slot, messages);
    CHECK(count_with(again, Status::already_applied) == kWorkload.size());
    CHECK(differing_tables(database).empty());
    CHECK(backends().cloud.run_sql(database, ledger) == recorded);
  }
}

TEST_CASE_METHOD(IntegrationTest, "a change the mirror cannot take fails its transaction, and careful mode applies "
                                  "the rest with each skip on record", "[integration][wal][apply]") {
  const auto database = fresh_database("wal_apply_fail");
  create_on_both(database, "CREATE TABLE codes (id int PRIMARY KEY, code text UNIQUE)");
  const PrimarySlot slot{database};
  run_on_primary(database, {"INSERT INTO codes VALUES (1, 'a'), (2, 'b')"});
  REQUIRE(count_with(apply_as_superuser(database, slot, slot.take_changes()), Status::applied) == 1);

  // The mirror has drifted: row 2 is gone, and code 'c' is taken.
  static_cast<void>(
      backends().cloud.run_sql(database, "DELETE FROM codes WHERE id = 2; INSERT INTO codes VALUES (9, 'c')"));
  run_on_primary(database, {"BEGIN; UPDATE codes SET code = 'bb' WHERE id = 2; INSERT INTO codes VALUES (3, 'c'); "
                            "INSERT INTO codes VALUES (4, 'd'); COMMIT;"});
  const auto messages = slot.take_changes();
  const auto mirror_rows = "SELECT string_agg(id || '=' || code, ',' ORDER BY id) FROM codes";
  const auto applied_rows = "SELECT count(*) FROM pgdual.applied";

  const auto fast = apply_as_superuser(database, slot, messages);
  REQUIRE(fast.size() == 1);
  CHECK(fast[0].status == Status::failed);
  REQUIRE(fast[0].failure);
  // The UPDATE that finds no row refuses nothing; the INSERT after it does.
  CHECK(fast[0].failure->change_number == 2);
  CHECK(fast[0].failure->relation == R"("public"."codes")");
  CHECK(fast[0].failure->kind == proxy::ChangeKind::insert);
  CHECK(fast[0].failure->sqlstate == "23505");
  CHECK(fast[0].skipped.empty());  // nothing of it stayed
  CHECK(backends().cloud.run_sql(database, mirror_rows) == "1=a,9=c\n");
  CHECK(backends().cloud.run_sql(database, applied_rows) == "1\n");

  const auto careful = apply_as_superuser(database, slot, messages, ApplyMode::careful);
  REQUIRE(careful.size() == 1);
  CHECK(careful[0].status == Status::applied);
  CHECK_FALSE(careful[0].failure);
  REQUIRE(careful[0].skipped.size() == 2);
  CHECK(careful[0].skipped[0].sqlstate == "02000");
  CHECK(careful[0].skipped[1].change_number == 2);
  CHECK(careful[0].skipped[1].kind == proxy::ChangeKind::insert);
  CHECK(careful[0].skipped[1].sqlstate == "23505");
  CHECK(careful[0].skipped[1].message.find("(3, c)") == std::string::npos);  // no row values
  CHECK(backends().cloud.run_sql(database, mirror_rows) == "1=a,4=d,9=c\n");
  CHECK(backends().cloud.run_sql(database, applied_rows) == "2\n");

  const auto replayed = apply_as_superuser(database, slot, messages, ApplyMode::careful);
  CHECK(count_with(replayed, Status::already_applied) == 1);
}

TEST_CASE_METHOD(IntegrationTest, "transactions that follow each other share one mirror COMMIT, each in the ledger",
                 "[integration][wal][apply]") {
  const auto database = fresh_database("wal_apply_batch");
  create_on_both(database, kSchema);
  const PrimarySlot slot{database};
  run_on_primary(database, kWorkload);
  const auto results = apply_as_superuser(database, slot, slot.take_changes(), ApplyMode::fast, /*batch=*/true);
  CHECK(results.size() == kWorkload.size());
  CHECK(count_with(results, Status::applied) == kWorkload.size());
  CHECK(differing_tables(database).empty());
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM pgdual.applied") ==
        std::to_string(kWorkload.size()) + "\n");
}

TEST_CASE_METHOD(IntegrationTest, "a change the mirror refuses fails its whole batch, naming its own transaction",
                 "[integration][wal][apply]") {
  const auto database = fresh_database("wal_apply_batch_fail");
  create_on_both(database, "CREATE TABLE codes (id int PRIMARY KEY, code text UNIQUE)");
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO codes VALUES (9, 'f')"));
  const PrimarySlot slot{database};
  run_on_primary(database, {"INSERT INTO codes VALUES (5, 'e')", "INSERT INTO codes VALUES (6, 'f')",
                            "INSERT INTO codes VALUES (7, 'g')"});
  const auto messages = slot.take_changes();
  const auto batch = apply_as_superuser(database, slot, messages, ApplyMode::fast, /*batch=*/true);
  REQUIRE(batch.size() == 1);
  CHECK(batch[0].status == Status::failed);
  REQUIRE(batch[0].failure);
  CHECK(batch[0].failure->kind == proxy::ChangeKind::insert);
  CHECK(batch[0].failure->sqlstate == "23505");
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM codes") == "1\n");
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM pgdual.applied") == "0\n");
  // One by one, the second fails alone: the batch named the second.
  const auto single = apply_as_superuser(database, slot, messages);
  REQUIRE(single.size() == 3);
  CHECK(single[0].status == Status::applied);
  CHECK(single[1].status == Status::failed);
  CHECK(single[1].commit_lsn == batch[0].commit_lsn);
}

TEST_CASE_METHOD(IntegrationTest, "a refusal read before the batch's COMMIT fails the batch as one read with it",
                 "[integration][wal][apply]") {
  const auto database = fresh_database("wal_apply_early_refusal");
  create_on_both(database, "CREATE TABLE codes (id int PRIMARY KEY, code text UNIQUE)");
  static_cast<void>(backends().cloud.run_sql(database, "INSERT INTO codes VALUES (9, 'f')"));
  const PrimarySlot slot{database};
  run_on_primary(database, {"INSERT INTO codes VALUES (5, 'e')", "INSERT INTO codes VALUES (6, 'f')",
                            "INSERT INTO codes VALUES (7, 'g')"});
  const auto messages = slot.take_changes();
  // A pipeline one request deep reads each change's answer before the next: the refusal is in
  // hand before the COMMIT is sent, and the mirror skips that COMMIT too.
  for (const bool batch : {true, false}) {
    const auto results =
        apply_as_superuser(database, slot, messages, ApplyMode::fast, batch, proxy::ApplyOptions{.pipeline_depth = 1});
    INFO("batch " << batch);
    const auto failed = std::ranges::find(results, Status::failed, &TransactionResult::status);
    REQUIRE(failed != results.end());
    REQUIRE(failed->failure);
    CHECK(failed->failure->sqlstate == "23505");
  }
}

TEST_CASE_METHOD(IntegrationTest, "a change that finds no row on the mirror is skipped and reported, and the rest of "
                                  "its transaction and of its batch commits in the same round trip",
                 "[integration][wal][apply]") {
  const auto database = fresh_database("wal_apply_batch_missing");
  create_on_both(database, "CREATE TABLE codes (id int PRIMARY KEY, code text)");
  static_cast<void>(backends().onprem.run_sql(database, "INSERT INTO codes VALUES (2, 'b')"));
  const PrimarySlot slot{database};
  run_on_primary(database, {"INSERT INTO codes VALUES (5, 'e')",
                            "BEGIN; UPDATE codes SET code = 'bb' WHERE id = 2; INSERT INTO codes VALUES (6, 'f'); COMMIT",
                            "INSERT INTO codes VALUES (7, 'g')"});
  const auto batch = apply_as_superuser(database, slot, slot.take_changes(), ApplyMode::fast, /*batch=*/true);
  REQUIRE(batch.size() == 3);
  CHECK(count_with(batch, Status::applied) == 3);
  CHECK(batch[0].skipped.empty());
  REQUIRE(batch[1].skipped.size() == 1);
  CHECK(batch[1].skipped[0].change_number == 1);
  CHECK(batch[1].skipped[0].kind == proxy::ChangeKind::update);
  CHECK(batch[1].skipped[0].sqlstate == "02000");
  CHECK(batch[2].skipped.empty());
  CHECK(backends().cloud.run_sql(database, "SELECT string_agg(id || '=' || code, ',' ORDER BY id) FROM codes") ==
        "5=e,6=f,7=g\n");
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM pgdual.applied") == "3\n");
}

TEST_CASE_METHOD(IntegrationTest, "the WAL apply says plainly when its role may not replay as a replica",
                 "[integration][wal][apply]") {
  const auto database = fresh_database("wal_apply_role");
  const PrimarySlot slot{database};
  // The app role may set the parameter (for reconcile): a role that may not, of the test's own.
  constexpr const char* kPlainRole = "wal_apply_plain";
  static_cast<void>(backends().cloud.run_sql(
      "postgres", std::string{"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"} + kPlainRole +
                      "') THEN CREATE ROLE " + kPlainRole + " LOGIN PASSWORD '" + kAppPassword + "'; END IF; END $$"));
  try {
    static_cast<void>(run_to_end(apply_all(login_as(kPlainRole, kAppPassword, database), slot.source(), {},
                                           ApplyMode::fast, false)));
    FAIL("the apply opened as a role that may not set session_replication_role");
  } catch (const proxy::ApplyError& error) {
    CHECK_THAT(error.what(), Catch::Contains("session_replication_role") && Catch::Contains("42501") &&
                                 Catch::Contains("superuser"));
  }
}

}  // namespace pgdual::test
