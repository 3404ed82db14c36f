// `pgdual verify` and `pgdual reconcile` against the two shared servers, with divergences seeded
// directly on them. The commands run in this process, and verify once through the pgdual binary.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "conflict/jobs/reconcile_command.h"
#include "conflict/jobs/verify_command.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/temp_dir.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

/// The same application schema and rows on both backends, created as the app user so that it
/// may read them. Values include text a report must never show ("secret-…").
constexpr const char* kSeed = R"sql(
SET ROLE app;
CREATE TABLE patients (id integer PRIMARY KEY, name text NOT NULL, note text);
INSERT INTO patients SELECT g, 'patient ' || g, 'secret-note-' || g FROM generate_series(1, 500) g;
CREATE TABLE visits (clinic text, visit_no integer, amount numeric(10,2), PRIMARY KEY (clinic, visit_no));
INSERT INTO visits SELECT 'clinic ' || (g % 7), g, g * 1.5 FROM generate_series(1, 300) g;
CREATE TABLE audit_log (at timestamptz NOT NULL, what text);
INSERT INTO audit_log SELECT timestamptz '2024-05-01 00:00:00+00' + g * interval '1 minute', 'secret-event-' || g
  FROM generate_series(1, 50) g;
CREATE TABLE prices (id serial PRIMARY KEY, price numeric(10,2));
INSERT INTO prices (price) SELECT g * 0.25 FROM generate_series(1, 20) g;
CREATE SEQUENCE invoice_numbers;
SELECT setval('invoice_numbers', 100);
CREATE TABLE prescriptions (id integer PRIMARY KEY, patient_id integer NOT NULL REFERENCES patients, drug text);
INSERT INTO prescriptions SELECT g, g * 10, 'secret-drug-' || g FROM generate_series(1, 40) g;
INSERT INTO prescriptions VALUES (1000, 17, 'secret-drug-17');
)sql";

/// What happened to the mirror behind pgdual's back. Replication mode (superuser only) skips the
/// foreign key's triggers, so patient 17's prescription is left an orphan.
constexpr const char* kMirrorDrift = R"sql(
SET session_replication_role = replica;
SET ROLE app;
DELETE FROM patients WHERE id = 17;
INSERT INTO patients VALUES (0, 'patient 0', 'secret-note-0'), (501, 'patient 501', 'secret-note-501');
UPDATE patients SET note = 'secret-changed' WHERE id = 250;
DELETE FROM visits WHERE clinic = 'clinic 3' AND visit_no = 10;
INSERT INTO visits VALUES ('clinic 9', 1000, 1.00);
UPDATE visits SET amount = 0 WHERE clinic = 'clinic 5' AND visit_no = 12;
UPDATE audit_log SET what = 'secret-tampered' WHERE what = 'secret-event-7';
ALTER TABLE prices ALTER COLUMN price TYPE numeric(12,2);
CREATE TABLE scratch (x integer);
)sql";

/// The primary moved on; the mirror's sequence did not follow.
constexpr const char* kPrimaryDrift = "SET ROLE app; SELECT setval('invoice_numbers', 120);";

struct VerifyRun {
  int exit_code = -1;
  std::string out;
  std::string err;

  [[nodiscard]] std::string describe() const {
    return "exit code " + std::to_string(exit_code) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
  [[nodiscard]] bool says(const std::string& text) const { return out.find(text) != std::string::npos; }
};

/// Collects what a FILE* receives in memory (POSIX open_memstream).
class CapturedStream {
 public:
  CapturedStream() : file_{open_memstream(&buffer_, &size_)} {
    if (file_ == nullptr) throw std::runtime_error{"open_memstream failed"};
  }
  ~CapturedStream() {
    close();
    std::free(buffer_);
  }
  CapturedStream(const CapturedStream&) = delete;
  CapturedStream& operator=(const CapturedStream&) = delete;

  [[nodiscard]] std::FILE* file() const noexcept { return file_; }
  [[nodiscard]] std::string text() {
    close();
    return std::string{buffer_, size_};
  }

 private:
  void close() {
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
  }
  char* buffer_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* file_;
};

std::string write_config(const TempDir& dir) {
  const auto config = dir.path() / "pgdual.toml";
  write_file(config, proxy_config_text(IntegrationTest::default_settings(), 6432));
  return config.string();
}

using Command = int (*)(std::span<char*>, std::FILE*, std::FILE*);

VerifyRun run_command(Command command, const std::vector<std::string>& options) {
  TempDir dir{"pgdual-verify"};
  std::vector<std::string> words{"--config", write_config(dir)};
  words.insert(words.end(), options.begin(), options.end());
  std::vector<char*> args;
  for (auto& word : words) args.push_back(word.data());
  CapturedStream out;
  CapturedStream err;
  VerifyRun result;
  result.exit_code = command(args, out.file(), err.file());
  result.out = out.text();
  result.err = err.text();
  return result;
}

VerifyRun verify(const std::vector<std::string>& options) { return run_command(jobs::run_verify_command, options); }

VerifyRun verify(const std::string& database, std::vector<std::string> options = {}) {
  options.insert(options.begin(), {"--database", database});
  return verify(options);
}

VerifyRun reconcile(const std::string& database, std::vector<std::string> options) {
  options.insert(options.begin(), {"--database", database});
  return run_command(jobs::run_reconcile_command, options);
}

void run_sql(const PgCluster& cluster, const std::string& database, const std::string& sql) {
  static_cast<void>(cluster.run_sql(database, sql));
}

std::string seeded_database(IntegrationTest& test, std::string_view label) {
  auto database = test.fresh_database(label);
  run_sql(backends().onprem, database, kSeed);
  run_sql(backends().cloud, database, kSeed);
  return database;
}

std::string drifted_database(IntegrationTest& test) {
  auto database = seeded_database(test, "verify_drift");
  run_sql(backends().cloud, database, kMirrorDrift);
  run_sql(backends().onprem, database, kPrimaryDrift);
  return database;
}

void check_finds_every_drift(const VerifyRun& run) {
  INFO(run.describe());
  CHECK(run.exit_code == 1);
  CHECK(run.says("public.patients: differs, 500 rows on primary, 501 on mirror, compared by key (id)\n"
                 "  missing on mirror: 1 key\n    17\n"
                 "  extra on mirror: 2 keys\n    0\n    501\n"
                 "  differing rows: 1 key\n    250\n"));
  CHECK(run.says("public.visits: differs, 300 rows, compared by key (clinic, visit_no)\n"
                 "  missing on mirror: 1 key\n    (\"clinic 3\", 10)\n"
                 "  extra on mirror: 1 key\n    (\"clinic 9\", 1000)\n"
                 "  differing rows: 1 key\n    (\"clinic 5\", 12)\n"));
  CHECK(run.says("public.audit_log: differs, 50 rows, no primary key: compared by a full hash\n"
                 "  contents differ"));
  CHECK(run.says("public.prices: differs, 20 rows, compared by key (id)\n"
                 "  schema: column \"price\": type numeric(10,2) on primary, numeric(12,2) on mirror\n"));
  CHECK(run.says("public.scratch: differs\n  schema: table extra on mirror\n"));
  CHECK(run.says("sequence public.invoice_numbers: differs, last value 120 on primary, 100 on mirror "
                 "(mirror behind by 20)\n"));
  CHECK(run.says("sequence public.prices_id_seq: identical, last value 20\n"));
  CHECK(run.says("public.prescriptions: differs, 41 rows, compared by key (id)\n"
                 "  orphans on mirror: 1 row referencing no row of public.patients through "
                 "prescriptions_patient_id_fkey\n    1000\n"));
  CHECK(run.says("6 tables: 0 identical, 6 differ; 2 sequences: 1 identical, 1 differs\n"
                 "verify: differences found\n"));
  CHECK_FALSE(run.says("secret-"));
  CHECK_FALSE(run.says("patient "));
  CHECK_FALSE(run.says("pgdual.ledger"));
}

TEST_CASE_METHOD(IntegrationTest, "verify reports identical databases and exits 0", "[integration][verify]") {
  const auto database = seeded_database(*this, "verify_same");
  const auto run = verify(database, {"--chunk-rows", "100"});
  INFO(run.describe());
  CHECK(run.exit_code == 0);
  CHECK(run.says("database \"" + database + "\": primary onprem, mirror cloud\n"));
  CHECK(run.says("public.patients: identical, 500 rows, compared by key (id)\n"));
  CHECK(run.says("public.visits: identical, 300 rows, compared by key (clinic, visit_no)\n"));
  CHECK(run.says("public.audit_log: identical, 50 rows, no primary key: compared by a full hash\n"));
  CHECK(run.says("sequence public.invoice_numbers: identical, last value 100\n"));
  CHECK(run.says("5 tables: 5 identical, 0 differ; 2 sequences: 2 identical, 0 differ\nverify: identical\n"));
  CHECK(run.err.empty());
}

TEST_CASE_METHOD(IntegrationTest, "verify finds missing, extra and differing rows, schema and sequence drift",
                 "[integration][verify]") {
  const auto database = drifted_database(*this);
  SECTION("in one chunk, halved down to the rows") { check_finds_every_drift(verify(database)); }
  SECTION("in many small chunks") {
    check_finds_every_drift(verify(database, {"--chunk-rows", "7", "--settle-ms", "0"}));
  }
  SECTION("in chunks large enough to halve") {
    check_finds_every_drift(verify(database, {"--chunk-rows", "150", "--settle-ms", "0"}));
  }
}

TEST_CASE_METHOD(IntegrationTest, "verify --jobs 2 prints exactly what --jobs 1 prints", "[integration][verify]") {
  const auto database = drifted_database(*this);
  // A short pause still re-checks, so the re-check lines are compared too.
  const auto one = verify(database, {"--jobs", "1", "--chunk-rows", "7", "--settle-ms", "50"});
  const auto two = verify(database, {"--jobs", "2", "--chunk-rows", "7", "--settle-ms", "50"});
  INFO(one.describe());
  INFO(two.describe());
  check_finds_every_drift(two);
  CHECK(two.says("re-checking 4 keys of public.patients...\npublic.patients: differs"));
  CHECK(two.exit_code == one.exit_code);
  CHECK(two.out == one.out);
}

TEST_CASE_METHOD(IntegrationTest,
                 "verify --progress draws a progress line on stderr, and none off a terminal without it",
                 "[integration][verify]") {
  const auto database = seeded_database(*this, "verify_progress");
  run_sql(backends().onprem, database, "ANALYZE");
  const auto shown = verify(database, {"--progress", "--jobs", "2"});
  INFO(shown.describe());
  CHECK(shown.exit_code == 0);
  // The first line is drawn before any row is compared; later ones at most ten times a second.
  CHECK(shown.err.starts_with("\rverify [--------------------]   0%  0 of ~911 rows  0/5 tables"));
  CHECK(shown.err.ends_with("\r"));  // blanked at the end
  CHECK(shown.err.find("secret-") == std::string::npos);
  CHECK(shown.out.find("verify [") == std::string::npos);
  const auto quiet = verify(database);
  INFO(quiet.describe());
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  CHECK(quiet.out == shown.out);
}

/// One row that differs between the two backends: public.t, key 1.
std::string database_with_one_differing_row(IntegrationTest& test, std::string_view label) {
  auto database = test.fresh_database(label);
  for (const auto* cluster : {&backends().onprem, &backends().cloud}) {
    run_sql(*cluster, database, "SET ROLE app; CREATE TABLE t (id integer PRIMARY KEY, v text); "
                                "INSERT INTO t VALUES (1, 'secret-a'), (2, 'secret-b')");
  }
  run_sql(backends().cloud, database, "SET ROLE app; UPDATE t SET v = 'secret-old' WHERE id = 1");
  return database;
}

bool wait_for_text(const std::filesystem::path& file, const std::string& text, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_file(file).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

/// Runs the pgdual binary's verify of public.t with a 4 s pause before the re-check, and
/// `during_pause` once verify says it is re-checking.
VerifyRun verify_with_write_during_pause(const std::string& database, const std::function<void()>& during_pause) {
  TempDir dir{"pgdual-verify"};
  const auto out = dir.path() / "stdout";
  const auto err = dir.path() / "stderr";
  Subprocess child{{PGDUAL_BINARY, "verify", "--config", write_config(dir), "--database", database, "--table", "t",
                    "--settle-ms", "4000"},
                   {}, out, err};
  const bool paused = wait_for_text(out, "re-checking 1 key of public.t...\n", 30s);
  if (paused) during_pause();
  VerifyRun result;
  result.exit_code = child.wait_for(60s).value_or(-1);
  result.out = read_file(out);
  result.err = read_file(err);
  if (!paused) result.err += "(the test never saw the re-check line)\n";
  return result;
}

TEST_CASE_METHOD(IntegrationTest, "verify drops a difference that settles during its pause and exits 0",
                 "[integration][verify]") {
  const auto database = database_with_one_differing_row(*this, "verify_settles");
  const auto run = verify_with_write_during_pause(database, [&] {
    run_sql(backends().cloud, database, "SET ROLE app; UPDATE t SET v = 'secret-a' WHERE id = 1");
  });
  INFO(run.describe());
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("re-checking 1 key of public.t...\n"
                     "public.t: identical, 2 rows, compared by key (id)\n"
                     "  settled on re-check: 1 key (writes in flight during the comparison)\n") != std::string::npos);
  CHECK(run.says("verify: identical\n"));
  CHECK_FALSE(run.says("secret-"));
}

TEST_CASE_METHOD(IntegrationTest, "verify marks a row the primary changed during its pause as possibly in flight",
                 "[integration][verify]") {
  const auto database = database_with_one_differing_row(*this, "verify_in_flight");
  const auto run = verify_with_write_during_pause(database, [&] {
    run_sql(backends().onprem, database, "SET ROLE app; UPDATE t SET v = 'secret-new' WHERE id = 1");
  });
  INFO(run.describe());
  CHECK(run.exit_code == 1);
  CHECK(run.says("public.t: differs, 2 rows, compared by key (id)\n"
                 "  differing rows: 1 key (1 changed during verify)\n"
                 "    1 (changed during verify: could be a write in flight)\n"));
  CHECK_FALSE(run.says("settled"));
  CHECK_FALSE(run.says("secret-"));
}

TEST_CASE_METHOD(IntegrationTest, "verify reports a difference that stays as it was, with or without a re-check",
                 "[integration][verify]") {
  const auto database = database_with_one_differing_row(*this, "verify_confirmed");
  const std::string verdict = "public.t: differs, 2 rows, compared by key (id)\n  differing rows: 1 key\n    1\n";
  SECTION("without a re-check") {
    const auto run = verify(database, {"--settle-ms", "0"});
    INFO(run.describe());
    CHECK(run.exit_code == 1);
    CHECK(run.says("\n" + verdict + "1 table: 0 identical, 1 differs"));
    CHECK_FALSE(run.says("re-checking"));
  }
  SECTION("after the default pause") {
    const auto run = verify(database);
    INFO(run.describe());
    CHECK(run.exit_code == 1);
    CHECK(run.says("\nre-checking 1 key of public.t...\n" + verdict + "1 table: 0 identical, 1 differs"));
  }
}

TEST_CASE_METHOD(IntegrationTest, "verify compares only the named tables and the sequences they own",
                 "[integration][verify]") {
  const auto database = drifted_database(*this);
  const auto run = verify(database, {"--table", "prices", "public.audit_log", "--table", "public.prices"});
  INFO(run.describe());
  CHECK(run.exit_code == 1);
  CHECK(run.says("public.audit_log: differs"));
  CHECK(run.says("public.prices: differs"));
  CHECK(run.says("sequence public.prices_id_seq: identical"));
  CHECK_FALSE(run.says("patients"));
  CHECK_FALSE(run.says("invoice_numbers"));
  CHECK(run.says("2 tables: 0 identical, 2 differ; 1 sequence: 1 identical, 0 differ\n"));
}

TEST_CASE_METHOD(IntegrationTest, "verify names a table it cannot read and still compares the others",
                 "[integration][verify]") {
  const auto database = seeded_database(*this, "verify_denied");
  for (const auto* cluster : {&backends().onprem, &backends().cloud}) {
    run_sql(*cluster, database, "CREATE TABLE locked (id integer PRIMARY KEY)");  // owned by the superuser
  }
  const auto run = verify(database);
  INFO(run.describe());
  CHECK(run.exit_code == 1);
  CHECK(run.says("public.locked: differs\n  rows not compared: backend \"onprem\": permission denied for table "
                 "locked (SQLSTATE 42501)\n"));
  CHECK(run.says("public.patients: identical"));
}

TEST_CASE_METHOD(IntegrationTest, "verify rejects bad arguments with exit code 2 before comparing anything",
                 "[integration][verify]") {
  const auto database = seeded_database(*this, "verify_usage");
  SECTION("no database") {
    const auto run = verify(std::vector<std::string>{});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--database is required") != std::string::npos);
  }
  SECTION("a chunk size that is not a positive number") {
    const auto run = verify(database, {"--chunk-rows", "0"});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--chunk-rows: expected a positive number") != std::string::npos);
  }
  SECTION("a table neither backend has") {
    const auto run = verify(database, {"--table", "nowhere"});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("no table public.nowhere on either backend") != std::string::npos);
    CHECK(run.out.empty());
  }
  SECTION("a number of jobs out of range") {
    const auto run = verify(database, {"--jobs", "0"});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--jobs: expected a number from 1 to 64, got \"0\"") != std::string::npos);
  }
  SECTION("a pause that is not a number of milliseconds") {
    const auto run = verify(database, {"--settle-ms", "-1"});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--settle-ms: expected milliseconds") != std::string::npos);
  }
  SECTION("--jobs, which is verify's own, given to reconcile") {
    const auto run = reconcile(database, {"--jobs", "2"});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("unknown option \"--jobs\"") != std::string::npos);
  }
  SECTION("a user not in the configuration") {
    const auto run = verify(database, {"--user", "stranger"});
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("user \"stranger\" is not in") != std::string::npos);
  }
  SECTION("a database that does not exist") {
    const auto run = verify("no_such_database");
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("backend \"onprem\"") != std::string::npos);
  }
}

TEST_CASE_METHOD(IntegrationTest, "pgdual verify runs as a subcommand of the binary", "[integration][verify]") {
  const auto database = seeded_database(*this, "verify_binary");
  TempDir dir{"pgdual-verify"};
  const auto identical = run({PGDUAL_BINARY, "verify", "--config", write_config(dir), "--database", database}, {}, 60s);
  INFO(identical.describe());
  CHECK(identical.exit_code == 0);
  CHECK(identical.out.ends_with("verify: identical\n"));
  run_sql(backends().cloud, database, kMirrorDrift);
  const auto differs = run({PGDUAL_BINARY, "verify", "--config", write_config(dir), "--database", database}, {}, 60s);
  INFO(differs.describe());
  CHECK(differs.exit_code == 1);
}

TEST_CASE_METHOD(IntegrationTest, "reconcile plans exactly the drift, --apply repairs it, a second run changes nothing",
                 "[integration][verify][reconcile]") {
  const auto database = drifted_database(*this);
  const auto plan = reconcile(database, {"--dry-run"});
  INFO(plan.describe());
  CHECK(plan.exit_code == 1);
  CHECK(plan.says("public.patients: insert 1 row, update 1 row, delete 2 rows\n"
                  "  insert (missing on mirror): 1 key\n    17\n"
                  "  update (differing): 1 key\n    250\n"
                  "  delete (extra on mirror): 2 keys\n    0\n    501\n"));
  CHECK(plan.says("public.visits: insert 1 row, update 1 row, delete 1 row\n"
                  "  insert (missing on mirror): 1 key\n    (\"clinic 3\", 10)\n"
                  "  update (differing): 1 key\n    (\"clinic 5\", 12)\n"
                  "  delete (extra on mirror): 1 key\n    (\"clinic 9\", 1000)\n"));
  CHECK(plan.says("public.audit_log: insert 1 row, delete 1 row (no primary key: rows matched by content)\n"));
  CHECK(plan.says("public.prices: 1 schema change\n  schema: ALTER TABLE \"public\".\"prices\" ALTER COLUMN \"price\" "
                  "TYPE numeric(10,2) USING \"price\"::numeric(10,2)\n"));
  CHECK(plan.says("public.scratch: nothing pgdual can change\n"
                  "  by hand: table extra on mirror (pgdual does not create or drop tables)\n"));
  CHECK(plan.says("sequence public.invoice_numbers: run SELECT setval('\"public\".\"invoice_numbers\"', 120)\n"));
  CHECK_FALSE(plan.says("prescriptions"));
  CHECK(plan.says("reconcile: changes planned; run with --apply to make them\n"));
  CHECK_FALSE(plan.says("secret-"));
  CHECK(verify(database).exit_code == 1);

  const auto applied = reconcile(database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 1);  // the extra table is the operator's to drop
  CHECK(applied.says("public.patients: inserted 1 row, updated 1 row, deleted 2 rows\n"));
  CHECK(applied.says("public.prices: 1 schema change made\n"));
  CHECK(applied.says("still differs: public.scratch: differs\n"));
  CHECK_FALSE(applied.says("secret-"));

  run_sql(backends().cloud, database, "DROP TABLE scratch");
  const auto after = verify(database);
  INFO(after.describe());
  CHECK(after.exit_code == 0);
  const auto again = reconcile(database, {"--apply"});
  INFO(again.describe());
  CHECK(again.exit_code == 0);
  CHECK(again.says("reconcile: nothing to do\n"));
}

TEST_CASE_METHOD(IntegrationTest, "reconcile orders rows around foreign keys and copies NULLs and identities",
                 "[integration][verify][reconcile]") {
  auto database = fresh_database("reconcile_keys");
  constexpr const char* kTables = R"sql(
SET ROLE app;
CREATE TABLE z_parent (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text,
                       note_length integer GENERATED ALWAYS AS (length(note)) STORED);
CREATE TABLE a_child (id integer PRIMARY KEY, parent_id integer REFERENCES z_parent, note text);
INSERT INTO z_parent (note) SELECT CASE WHEN g % 3 = 0 THEN NULL ELSE 'secret-' || g END FROM generate_series(1, 30) g;
INSERT INTO a_child SELECT g, g, NULL FROM generate_series(1, 30) g;
)sql";
  run_sql(backends().onprem, database, kTables);
  run_sql(backends().cloud, database, kTables);
  run_sql(backends().cloud, database,
          "SET ROLE app; DELETE FROM a_child WHERE id IN (4, 5); DELETE FROM z_parent WHERE id IN (4, 5); "
          "INSERT INTO z_parent (id, note) OVERRIDING SYSTEM VALUE VALUES (100, 'secret-extra'); "
          "INSERT INTO a_child VALUES (100, 100, 'secret-extra'); UPDATE z_parent SET note = NULL WHERE id = 7");
  const auto applied = reconcile(database, {"--apply"});
  INFO(applied.describe());
  CHECK(applied.exit_code == 0);
  CHECK(applied.says("public.a_child: inserted 2 rows, deleted 1 row\n"));
  CHECK(applied.says("public.z_parent: inserted 2 rows, updated 1 row, deleted 1 row\n"));
  CHECK(applied.says("reconcile: done; verified identical\n"));
  CHECK(verify(database).exit_code == 0);
}

}  // namespace
}  // namespace pgdual::test
