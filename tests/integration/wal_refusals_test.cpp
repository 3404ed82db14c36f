// Issue 16, items 3 and 6: the WAL apply takes every row the primary committed. Each case below
// is a change a regression-style run saw the mirror refuse although the primary had taken it. A
// workload runs on the primary directly; its changes are read from a pgoutput slot and fed to an
// ApplyConnection on the mirror; then every transaction must have applied whole, nothing skipped,
// and both servers' tables must be equal. The encoding cases also read pgdual's own slot stream.
#include <catch2/catch.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "conflict/jobs/wal_preflight.h"
#include "proxy/mirror/slot_stream.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/wal_apply_harness.h"
#include "tests/integration/wal_helpers.h"

namespace pgdual::test {
namespace {

using namespace wal_apply;

/// Every transaction applied, with nothing skipped; the refusals are named for the failure message.
void check_all_applied(const std::vector<TransactionResult>& results, std::size_t transactions) {
  CHECK(results.size() == transactions);
  CHECK(count_with(results, Status::applied) == transactions);
  for (const auto& result : results) {
    if (result.failure) {
      FAIL_CHECK("refused: " << result.failure->relation << " " << result.failure->sqlstate << " "
                             << result.failure->message);
    }
    for (const auto& skipped : result.skipped) {
      FAIL_CHECK("skipped: " << skipped.relation << " " << skipped.sqlstate << " " << skipped.message);
    }
  }
}

/// Applies what the primary committed since the slot was made, in fast mode, and checks it all
/// reached the mirror.
void apply_and_compare(const std::string& database, const PrimarySlot& slot, std::size_t transactions,
                       proxy::ApplyOptions options = {}) {
  const auto results = apply_as_superuser(database, slot, slot.take_changes(), ApplyMode::fast, false, options);
  check_all_applied(results, transactions);
  const auto differing = differing_tables(database);
  for (const auto& table : differing) FAIL_CHECK("differs: " << table);
}

const std::string kIdentitySchema = R"sql(
CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item text UNIQUE, qty int, note text);
ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL;
CREATE TABLE lines (order_id int REFERENCES orders (id) ON DELETE CASCADE ON UPDATE CASCADE, what text);
ALTER TABLE lines REPLICA IDENTITY FULL;
CREATE TABLE tickets (id int PRIMARY KEY, seq int GENERATED ALWAYS AS IDENTITY, label text);
CREATE TABLE stamps (seq int GENERATED ALWAYS AS IDENTITY, label text);
ALTER TABLE stamps REPLICA IDENTITY FULL;
CREATE TABLE solo (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE audit_log (what text);
)sql";

// On the mirror only: had the apply fired it, audit_log would differ from the primary's (empty).
const std::string kMirrorTriggers = R"sql(
CREATE FUNCTION public.log_change() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.audit_log VALUES (TG_OP); RETURN NULL; END$$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION public.log_change();
CREATE TRIGGER tickets_audit AFTER INSERT OR UPDATE OR DELETE ON tickets
  FOR EACH ROW EXECUTE FUNCTION public.log_change();
)sql";

const std::vector<std::string> kIdentityWorkload{
    "INSERT INTO orders (item, qty, note) VALUES ('gauze', 1, repeat('n', 9000)), ('tape', 2, NULL)",
    "INSERT INTO lines VALUES (1, 'gauze 1'), (1, 'gauze 2'), (2, 'tape 1')",
    // A key change; the note is sent as unchanged TOAST, and lines follow by ON UPDATE CASCADE.
    "UPDATE orders SET id = DEFAULT WHERE item = 'gauze'",
    "INSERT INTO orders (item, qty) VALUES ('tape', 5) "
    "ON CONFLICT (item) DO UPDATE SET id = DEFAULT, qty = orders.qty + EXCLUDED.qty",
    "UPDATE orders SET qty = 7 WHERE item = 'tape'",
    // The primary's cascade deletes the lines; the WAL carries their deletes after the order's.
    "DELETE FROM orders WHERE item = 'gauze'",
    "INSERT INTO tickets (id, label) VALUES (1, 'a'), (2, 'b')",
    "UPDATE tickets SET label = 'aa' WHERE id = 1",
    "UPDATE tickets SET seq = DEFAULT WHERE id = 2",
    "UPDATE tickets SET id = 3 WHERE id = 1",
    "INSERT INTO stamps (label) VALUES ('p'), ('q'), ('q')",
    "UPDATE stamps SET seq = DEFAULT WHERE label = 'p'",
    "UPDATE stamps SET label = 'qq' WHERE seq = 3",
    "INSERT INTO solo DEFAULT VALUES",
    "UPDATE solo SET id = DEFAULT",
};

const std::string kFullIdentitySchema = R"sql(
CREATE TYPE pair AS (r int, note json);
CREATE DOMAIN pair_d AS pair CHECK ((VALUE).r >= 0);
CREATE DOMAIN small AS int CHECK (VALUE < 100);
CREATE TYPE plain AS (a int, b text);
CREATE TABLE shapes (tag text, j json, p point, x xml, d1 pair_d, c plain, cs pair[], pa plain[], r int4range,
                     m int4multirange, b box, s small, ts timestamptz[], big text);
ALTER TABLE shapes REPLICA IDENTITY FULL;
ALTER TABLE shapes ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE keyed (id int PRIMARY KEY, d1 pair_d, c plain);
)sql";

// Every column of shapes but tag and big.
const std::string kShape =
    R"sql('{"a": 1}', '(1.5,2)', '<a>x</a>', ROW(3, '[1, 2]')::pair, ROW(1, 'x'), ARRAY[ROW(1, '{}')::pair],
        ARRAY[ROW(2, 'y')::plain, NULL], '[1,5)', '{[1,2),[4,6)}', '(1,1),(0,0)', 7,
        ARRAY['2024-03-01 10:00:00.123456+01'::timestamptz])sql";

const std::vector<std::string> kFullIdentityWorkload{
    // Two rows alike but for their TOASTed column, and a third alike but for its tag.
    "INSERT INTO shapes (j, p, x, d1, c, cs, pa, r, m, b, s, ts, tag, big) VALUES (" + kShape +
        ", 'twin', repeat('a', 9000)), (" + kShape + ", 'twin', repeat('b', 9000)), (" + kShape + ", 'other', NULL)",
    // The primary's old image must single out the 'b' twin: its new one sends big as unchanged TOAST.
    "UPDATE shapes SET p = '(9,9)' WHERE big LIKE 'b%'",
    "UPDATE shapes SET d1.r = (d1).r - 1, c.b = 'z' WHERE tag = 'other'",
    "UPDATE shapes SET cs = cs || ROW(2, '[]')::pair, r = '[2,3)', m = '{}' WHERE big LIKE 'a%'",
    "DELETE FROM shapes WHERE big LIKE 'b%'",
    "DELETE FROM shapes WHERE tag = 'other'",
    "INSERT INTO keyed VALUES (1, ROW(1, '{}'), ROW(1, 'k')), (2, NULL, NULL)",
    "UPDATE keyed SET d1.r = (d1).r + 1, c.b = 'kk' WHERE id = 1",
    "DELETE FROM keyed WHERE id = 2",
};

/// A database of `encoding` on the primary and of `mirror_encoding` on the mirror, with pgdual's
/// schema, made anew.
std::string database_encoded(const std::string& name, const std::string& encoding, const std::string& mirror_encoding,
                             const ProxySettings& settings) {
  for (const auto& [server, chosen] :
       {std::pair{&backends().onprem, encoding}, std::pair{&backends().cloud, mirror_encoding}}) {
    static_cast<void>(server->run_sql("postgres", "DROP DATABASE IF EXISTS " + name));
    static_cast<void>(server->run_sql("postgres", "CREATE DATABASE " + name + " TEMPLATE template0 ENCODING '" +
                                                      chosen + "' LC_COLLATE 'C' LC_CTYPE 'C' OWNER " + kAppUser));
  }
  run_pgdual_init(name, settings);
  return name;
}

jobs::PreflightTarget superuser_on(const PgCluster& server, const std::string& database) {
  return {backend_config(server), config::UserConfig{PgCluster::kSuperuser, PgCluster::kSuperuserPassword}, database};
}

/// The first row the slot of `options` hands out after `insert` ran on the primary, its text
/// columns' bytes joined by '|', and the encoding the stream says they are in.
std::pair<std::string, std::string> first_row_streamed(const proxy::SlotStreamOptions& options,
                                                       const std::string& insert) {
  std::pair<std::string, std::string> found;
  asio::io_context io;
  bool done = false;
  std::exception_ptr failure;
  auto read = [&]() -> Awaitable<void> {
    auto stream = co_await proxy::SlotStream::open(backend_of(backends().onprem), nullptr, options);
    found.second = stream.server_encoding();
    run_on_primary(options.database, {insert});
    for (;;) {
      const auto item = co_await stream.next();
      const auto* inserted = std::get_if<lr::Insert>(&item.message);
      if (inserted == nullptr) continue;
      for (const auto column : inserted->new_tuple) {
        if (column.kind == lr::ColumnKind::text) found.first += std::string{column.text()} + "|";
      }
      break;
    }
    co_await stream.close();
  };
  asio::co_spawn(io, read(), [&](std::exception_ptr error) {
    failure = error;
    done = true;
  });
  // The bound only keeps a broken test from hanging.
  for (int waited = 0; !done && waited < 300; ++waited) io.run_for(100ms);
  if (failure) std::rethrow_exception(failure);
  REQUIRE(done);
  return found;
}

const std::string kNotesSchema = R"sql(CREATE TABLE notes (id int PRIMARY KEY, body text, mark "char");
CREATE TABLE loose (body text, mark "char");
ALTER TABLE loose REPLICA IDENTITY FULL;)sql";

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "a changed GENERATED ALWAYS identity value reaches the mirror, and replacing the "
                                  "row there fires no trigger and no foreign-key action",
                 "[integration][wal][wal_refusals]") {
  const auto database = fresh_database("wal_refusals_identity");
  create_on_both(database, kIdentitySchema);
  static_cast<void>(backends().cloud.run_sql(database, kMirrorTriggers));
  const PrimarySlot slot{database};
  run_on_primary(database, kIdentityWorkload);

  apply_and_compare(database, slot, kIdentityWorkload.size());
  CHECK(backends().cloud.run_sql(database, "SELECT count(*) FROM audit_log") == "0\n");
  CHECK(backends().cloud.run_sql(database, "SELECT string_agg(order_id || ' ' || what, ',' ORDER BY what) FROM lines") ==
        "5 tape 1\n");
}

TEST_CASE_METHOD(IntegrationTest, "rows of a table with REPLICA IDENTITY FULL are found on the mirror whatever their "
                                  "columns' types, and TOASTed values single out the right one",
                 "[integration][wal][wal_refusals]") {
  const auto database = fresh_database("wal_refusals_full");
  create_on_both(database, kFullIdentitySchema);
  const PrimarySlot slot{database};
  run_on_primary(database, kFullIdentityWorkload);

  apply_and_compare(database, slot, kFullIdentityWorkload.size());
  CHECK(backends().cloud.run_sql(database, "SELECT count(*), min(left(big, 1)), min(p[0]) FROM shapes") == "1|a|1.5\n");
}

TEST_CASE_METHOD(IntegrationTest, "a SQL_ASCII database's bytes reach the mirror as the primary stored them, whatever "
                                  "client_encoding the mirror's database would give the apply",
                 "[integration][wal][wal_refusals]") {
  const auto database = database_encoded("wal_refusals_sql_ascii", "SQL_ASCII", "SQL_ASCII", default_settings());
  create_on_both(database, kNotesSchema);
  // Without the primary's encoding the apply would read the bytes as UTF8: 22021.
  static_cast<void>(backends().cloud.run_sql("postgres", "ALTER DATABASE " + database + " SET client_encoding = 'UTF8'"));
  const PrimarySlot slot{database};
  const std::vector<std::string> workload{
      R"(INSERT INTO notes VALUES (1, E'caf\351 \377\200', E'\351'), (2, 'plain', 'p'))",
      R"(INSERT INTO loose VALUES (E'\351t\351', E'\200'), ('plain', 'p'))",
      R"(UPDATE notes SET body = body || E'\376' WHERE id = 1)",
      R"(UPDATE loose SET mark = E'\201' WHERE body LIKE E'\351%')",
      R"(DELETE FROM loose WHERE mark = 'p')",
  };
  run_on_primary(database, workload);

  CHECK(jobs::check_wal_prerequisites(superuser_on(backends().onprem, database),
                                      superuser_on(backends().cloud, database)).empty());
  apply_and_compare(database, slot, workload.size(), {.source_encoding = "SQL_ASCII"});
  CHECK(backends().cloud.run_sql(database, "SELECT encode(body::bytea, 'hex'), mark::int FROM notes WHERE id = 1") ==
        "636166e920ff80fe|-23\n");
}

TEST_CASE_METHOD(IntegrationTest, "a mirror database in another encoding than the primary's is named by the preflight, "
                                  "and the apply converts the text it carries",
                 "[integration][wal][wal_refusals]") {
  const auto database = database_encoded("wal_refusals_latin1", "LATIN1", "UTF8", default_settings());
  create_on_both(database, kNotesSchema);
  const PrimarySlot slot{database};
  const std::vector<std::string> workload{
      R"(INSERT INTO notes VALUES (1, E'caf\351', 'c'), (2, 'plain', 'p'))",
      R"(INSERT INTO loose VALUES (E'na\357ve', 'n'))",
      R"(UPDATE loose SET body = body || '!' WHERE body LIKE E'na\357%')",
  };
  run_on_primary(database, workload);

  const auto problems = jobs::check_wal_prerequisites(superuser_on(backends().onprem, database),
                                                      superuser_on(backends().cloud, database));
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].backend == backends().cloud.name());
  CHECK_THAT(problems[0].problem, Catch::Contains("encoded in UTF8 where the primary's is LATIN1"));
  CHECK_THAT(problems[0].fix, Catch::Contains("TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"));

  const auto results = apply_as_superuser(database, slot, slot.take_changes(), ApplyMode::fast, false,
                                          {.source_encoding = "LATIN1"});
  check_all_applied(results, workload.size());
  const auto characters = "SELECT string_agg(encode(convert_to(body, 'UTF8'), 'hex'), ',' ORDER BY body) FROM "
                          "(SELECT body FROM notes UNION ALL SELECT body FROM loose) AS every";
  CHECK(backends().cloud.run_sql(database, characters) == backends().onprem.run_sql(database, characters));
  CHECK(backends().cloud.run_sql(database, "SELECT body FROM notes WHERE id = 1") == "caf\u00e9\n");
}

TEST_CASE_METHOD(IntegrationTest, "the slot stream hands out text in the bytes the primary stored, whatever "
                                  "client_encoding a setting would give its walsender, and names their encoding",
                 "[integration][wal][wal_refusals]") {
  const auto database = database_encoded("wal_refusals_stream", "LATIN1", "LATIN1", default_settings());
  // The walsender would convert its rows to UTF8 by this, were it not asked for them unconverted.
  static_cast<void>(backends().onprem.run_sql("postgres", "ALTER DATABASE " + database + " SET client_encoding = 'UTF8'"));
  static_cast<void>(backends().onprem.run_sql(database, "CREATE TABLE notes (id int PRIMARY KEY, body text)"));
  const auto options = options_for(backends().onprem, database);
  const SlotDropper dropper{backends().onprem, options.slot};

  const auto [bytes, encoding] = first_row_streamed(options, R"(INSERT INTO notes VALUES (1, E'caf\351'))");
  CHECK(bytes == "1|caf\xe9|");
  CHECK(encoding == "LATIN1");
}

}  // namespace pgdual::test
