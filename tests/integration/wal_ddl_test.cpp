// DDL carried by pgdual.ddl messages, against the real servers: each test runs transactions on the
// primary as pgdual's sessions will (the message just before each DDL statement, in its transaction),
// a MirrorApplier applies the slot to the mirror, and both servers' tables, columns, owners and rows
// are compared directly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "proxy/mirror/applied_units.h"
#include "proxy/mirror/applier.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/harness/loopback.h"
#include "tests/integration/wal_helpers.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
namespace asio = proxy::asio;

/// On both servers before the slot exists: the table each test writes a mark into once its own
/// transactions are done, so that the mirror has applied them all when it has the mark.
constexpr std::string_view kMarkTable = "CREATE TABLE ddl_mark (n int PRIMARY KEY)";

/// The user tables' columns, types, nullability and owners: what `\d` shows of their shape.
constexpr std::string_view kShapeSql = R"sql(
SELECT string_agg(format('%s.%s %s:%s %s %s owner=%s', c.table_schema, c.table_name, c.ordinal_position,
                         c.column_name, c.data_type, c.is_nullable, t.tableowner),
                  E'\n' ORDER BY c.table_schema, c.table_name, c.ordinal_position)
FROM information_schema.columns c
JOIN pg_tables t ON t.schemaname = c.table_schema AND t.tablename = c.table_name
WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema', 'pgdual'))sql";

constexpr std::string_view kUserTablesSql =
    "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'pgdual') ORDER BY 1";

/// `statement` as pgdual's sessions run a client's DDL: the message first, in the same transaction.
std::string carried(const std::string& statement) {
  return "SELECT pgdual.emit_ddl(current_user, pg_catalog.current_setting('search_path'), $ddl$" + statement +
         "$ddl$);\n" + statement + ";\n";
}

std::string in_transaction(const std::string& body) { return "BEGIN;\n" + body + "COMMIT;\n"; }

std::string sqlstate_of(const conflict::ConflictRecord& record) {
  return record.mirror.error ? record.mirror.error->sqlstate : "(no error)";
}

/// An io_context on a thread of its own, as the server runs an applier beside its sessions.
class ApplierThread {
 public:
  explicit ApplierThread(proxy::MirrorApplier& applier) {
    asio::co_spawn(io_, applier.run(), asio::detached);
    thread_ = std::jthread{[this] { io_.run(); }};
  }
  ApplierThread(const ApplierThread&) = delete;
  ApplierThread& operator=(const ApplierThread&) = delete;
  ~ApplierThread() {
    io_.stop();
    thread_.join();
  }

 private:
  asio::io_context io_;
  std::jthread thread_;
};

/// A database with kMarkTable (and `schema`) on both servers, pgdual's schema, and a MirrorApplier
/// for it on a thread of its own, whose conflicts and log lines are kept.
class WalDdlTest : public IntegrationTest {
 protected:
  void start(std::string_view label, const std::string& schema = {}) {
    start_proxy();
    database_ = fresh_database(label);
    check_succeeded(run({PGDUAL_BINARY, "init", "--config", proxy().config_file().string(), "--database", database_},
                        {}, 60s));
    for (auto* server : {&primary(), &mirror()}) {
      static_cast<void>(server->run_sql(database_, std::string{kMarkTable} + ";" + schema));
    }
    auto options = applier_options(primary(), mirror(), database_, "pgdual apply");
    dropper_.emplace(primary(), options.slot.slot);
    auto log = std::make_shared<spdlog::logger>("wal-ddl-test", log_lines_);
    applier_.emplace(backend_of(primary()), nullptr, backend_of(mirror(), "cloud"), nullptr, options, units_,
                     [this](conflict::ConflictRecord record) {
                       const std::lock_guard lock{recorded_mutex_};
                       recorded_.push_back(std::move(record));
                     },
                     std::move(log));
    thread_.emplace(*applier_);
    const auto slot_exists = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + options.slot.slot + "'";
    REQUIRE(wait_until([&] { return primary().run_sql(database_, slot_exists) == "1\n"; }, 30s));
  }

  [[nodiscard]] PgCluster& primary() { return backends().onprem; }
  [[nodiscard]] PgCluster& mirror() { return backends().cloud; }
  [[nodiscard]] const std::string& database() const { return database_; }
  [[nodiscard]] proxy::MirrorApplier& applier() { return *applier_; }

  std::string on_primary(const std::string& sql) { return primary().run_sql(database_, sql); }
  std::string on_mirror(const std::string& sql) { return mirror().run_sql(database_, sql); }

  /// Returns once the mirror has applied every transaction committed on the primary so far.
  void wait_for_mirror() {
    const auto mark = std::to_string(++marks_);
    static_cast<void>(on_primary("INSERT INTO ddl_mark VALUES (" + mark + ")"));
    REQUIRE(wait_until([&] { return on_mirror("SELECT count(*) FROM ddl_mark WHERE n = " + mark) == "1\n"; }, 60s));
  }

  /// Checks that both servers have the same user tables, columns, owners and rows.
  void check_same_tables() {
    const auto shape = on_primary(std::string{kShapeSql});
    CHECK(on_mirror(std::string{kShapeSql}) == shape);
    std::istringstream tables{on_primary(std::string{kUserTablesSql})};
    for (std::string table; std::getline(tables, table);) {
      const auto rows = "SELECT string_agg(t::text, ' ' ORDER BY t::text) FROM " + table + " t";
      CAPTURE(table);
      CHECK(on_mirror(rows) == on_primary(rows));
    }
  }

  [[nodiscard]] std::vector<conflict::ConflictRecord> recorded() {
    const std::lock_guard lock{recorded_mutex_};
    return recorded_;
  }

  [[nodiscard]] std::string logged() const {
    std::string text;
    for (const auto& line : log_lines_->last_formatted()) text += line;
    return text;
  }

  [[nodiscard]] const std::string& database_name() const { return database_; }

 private:
  std::string database_;
  int marks_ = 0;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_lines_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  std::optional<SlotDropper> dropper_;  // after the thread below is gone, so the slot is idle
  proxy::AppliedUnits units_;
  std::mutex recorded_mutex_;
  std::vector<conflict::ConflictRecord> recorded_;
  std::optional<proxy::MirrorApplier> applier_;
  std::optional<ApplierThread> thread_;
};

}  // namespace

TEST_CASE_METHOD(WalDdlTest, "a carried DDL runs on the mirror before the rows that follow it in its transaction",
                 "[integration][wal][ddl]") {
  start("wal_ddl_create", "CREATE TABLE ward (id int PRIMARY KEY, name text)");
  static_cast<void>(on_primary("INSERT INTO ward VALUES (1, 'east'), (2, 'west'), (3, 'north')"));

  static_cast<void>(on_primary(in_transaction(
      carried("CREATE TABLE patient (id int PRIMARY KEY, name text NOT NULL, ward int)") +
      "INSERT INTO patient VALUES (1, 'Ada', 1), (2, 'Bob', NULL);\n")));
  // Objects land in the schema the primary's search_path chose, not the mirror apply's (empty) one.
  static_cast<void>(on_primary(in_transaction(
      carried("CREATE SCHEMA clinic") + "SET LOCAL search_path = clinic, public;\n" +
      carried("CREATE TABLE visit (id int PRIMARY KEY, patient int, note text)") +
      "INSERT INTO visit VALUES (1, 1, 'first'), (2, 2, 'line\nbreak');\n")));
  // Several statements in one message; the rows CREATE TABLE AS wrote on the primary come as rows.
  static_cast<void>(on_primary(in_transaction(
      carried("CREATE TABLE ward_copy AS SELECT * FROM ward WHERE id < 3;\n"
              "CREATE TABLE bed (id int, label text DEFAULT 'spare')") +
      "INSERT INTO bed (id) VALUES (1);\n" + carried("SELECT * INTO ward_names FROM ward") +
      "INSERT INTO ward_copy VALUES (9, 'added');\n")));
  wait_for_mirror();

  check_same_tables();
  CHECK(on_mirror("SELECT count(*) FROM clinic.visit") == "2\n");
  CHECK(on_mirror("SELECT string_agg(name, ',' ORDER BY id) FROM ward_copy") == "east,west,added\n");
  CHECK(on_mirror("SELECT count(*) FROM ward_names") == "3\n");
  CHECK(recorded().empty());
  CHECK(applier().progress().skipped_changes == 0);
}

TEST_CASE_METHOD(WalDdlTest, "a table created by a role on the primary is owned by that role on the mirror",
                 "[integration][wal][ddl]") {
  start("wal_ddl_owner", "CREATE TABLE rounds (id int PRIMARY KEY)");
  const auto role = database() + "_clinician";
  for (auto* server : {&primary(), &mirror()}) {
    static_cast<void>(
        server->run_sql(database(), "CREATE ROLE " + role + " NOLOGIN; GRANT CREATE ON SCHEMA public TO " + role));
  }
  // The rows after the DDL go in as the apply again: the role may not write `rounds`.
  static_cast<void>(on_primary(in_transaction(
      "SET LOCAL ROLE " + role + ";\n" + carried("CREATE TABLE chart (id int PRIMARY KEY, entry text)") +
      "INSERT INTO chart VALUES (1, 'seen');\nRESET ROLE;\nINSERT INTO rounds VALUES (1);\n")));
  static_cast<void>(on_primary("INSERT INTO chart VALUES (2, 'later'); INSERT INTO rounds VALUES (2)"));
  wait_for_mirror();

  check_same_tables();
  CHECK(on_mirror("SELECT tableowner FROM pg_tables WHERE tablename = 'chart'") == role + "\n");
  CHECK(on_mirror("SELECT count(*) FROM rounds") == "2\n");
  CHECK(recorded().empty());
}

TEST_CASE_METHOD(WalDdlTest, "columns added, renamed, retyped and dropped between rows apply in one transaction "
                             "and across transactions", "[integration][wal][ddl]") {
  start("wal_ddl_columns",
        "CREATE TABLE dose (id int PRIMARY KEY, mg int, route text);"
        // No key: every column is matched, and retyped or renamed ones must be matched as they are now.
        "CREATE TABLE tally (drug text, n int); ALTER TABLE tally REPLICA IDENTITY FULL");
  const std::vector<std::string> steps{
      "INSERT INTO dose VALUES (1, 10, 'oral'); INSERT INTO tally VALUES ('a', 1);\n",
      carried("ALTER TABLE dose ADD COLUMN given_at text DEFAULT 'never'") +
          carried("ALTER TABLE tally ADD COLUMN unit text") +
          "INSERT INTO dose VALUES (2, 20, 'iv', 'noon'); UPDATE dose SET mg = 11 WHERE id = 1;\n"
          "INSERT INTO tally VALUES ('b', 2, 'mg'); UPDATE tally SET n = 3 WHERE drug = 'a';\n",
      carried("ALTER TABLE dose RENAME COLUMN route TO via") + carried("ALTER TABLE tally RENAME COLUMN n TO count") +
          "INSERT INTO dose VALUES (3, 30, 'im', 'dusk'); UPDATE dose SET via = 'po' WHERE id = 2;\n"
          "UPDATE tally SET count = 4 WHERE drug = 'b';\n",
      carried("ALTER TABLE dose ALTER COLUMN mg TYPE numeric(6,1)") +
          carried("ALTER TABLE tally ALTER COLUMN count TYPE bigint") +
          "INSERT INTO dose VALUES (4, 40.5, 'iv', 'dawn'); UPDATE dose SET mg = mg + 0.5 WHERE id = 3;\n"
          "DELETE FROM tally WHERE drug = 'a';\n",
      carried("ALTER TABLE dose DROP COLUMN via") + carried("ALTER TABLE tally DROP COLUMN unit") +
          "INSERT INTO dose VALUES (5, 50, 'late'); UPDATE dose SET given_at = 'now' WHERE id = 4;\n"
          "DELETE FROM dose WHERE id = 2; INSERT INTO tally VALUES ('c', 5);\n" +
          carried("ALTER TABLE tally RENAME TO tallies") + "UPDATE tallies SET count = 6 WHERE drug = 'c';\n",
  };

  SECTION("all in one transaction") {
    std::string body;
    for (const auto& step : steps) body += step;
    static_cast<void>(on_primary(in_transaction(body)));
  }
  SECTION("each step in a transaction of its own") {
    for (const auto& step : steps) static_cast<void>(on_primary(in_transaction(step)));
  }
  wait_for_mirror();

  check_same_tables();
  CHECK(on_mirror("SELECT string_agg(id || '=' || mg, ',' ORDER BY id) FROM dose") == "1=11.0,3=30.5,4=40.5,5=50.0\n");
  CHECK(recorded().empty());
  CHECK(applier().progress().skipped_changes == 0);
}

TEST_CASE_METHOD(WalDdlTest, "a DDL the mirror refuses is left out and recorded without its text, and the stream "
                             "goes on", "[integration][wal][ddl]") {
  start("wal_ddl_refused");
  static_cast<void>(on_mirror("CREATE TABLE drift (id int PRIMARY KEY, note text)"));
  const auto ghost = database() + "_ghost";
  static_cast<void>(on_primary("CREATE ROLE " + ghost + " NOLOGIN; GRANT CREATE ON SCHEMA public TO " + ghost));

  // The table is there already on the mirror alone: the rows go into it all the same. The other DDL
  // of the transaction is applied in careful mode, and its table gets the primary's rows once.
  static_cast<void>(on_primary(in_transaction(
      carried("CREATE TABLE drift (id int PRIMARY KEY, note text DEFAULT 'secret-4242')") +
      "INSERT INTO drift (id) VALUES (1);\n" +
      carried("CREATE TABLE fine AS SELECT g AS id FROM generate_series(1, 3) g") + "INSERT INTO fine VALUES (4);\n")));
  // A role the mirror does not have.
  static_cast<void>(on_primary(in_transaction("SET LOCAL ROLE " + ghost + ";\n" +
                                              carried("CREATE TABLE haunted (id int)") +
                                              "INSERT INTO haunted VALUES (1);\n")));
  static_cast<void>(on_primary(in_transaction(carried("CREATE TABLE after (id int PRIMARY KEY)") +
                                              "INSERT INTO after VALUES (7);\n")));
  wait_for_mirror();

  CHECK(on_mirror("SELECT string_agg(id || '=' || note, ',') FROM drift") == "1=secret-4242\n");
  CHECK(on_mirror("SELECT string_agg(id::text, ',' ORDER BY id) FROM fine") == "1,2,3,4\n");
  CHECK(on_mirror("SELECT count(*) FROM pg_tables WHERE tablename = 'haunted'") == "0\n");
  CHECK(on_mirror("SELECT id FROM after") == "7\n");
  const auto records = recorded();
  // The DDL of each of the first two, and the row of the table the mirror never got.
  REQUIRE(records.size() == 3);
  CHECK(sqlstate_of(records[0]) == "42P07");
  CHECK(records[0].tables.empty());
  CHECK_THAT(records[0].statement_normalized, Catch::StartsWith("CREATE TABLE drift"));
  CHECK(sqlstate_of(records[1]) == "22023");  // no such role
  CHECK_THAT(records[1].statement_normalized, Catch::StartsWith("CREATE TABLE haunted"));
  CHECK(sqlstate_of(records[2]) == "42P01");
  CHECK(records[2].tables == std::vector<std::string>{"\"public\".\"haunted\""});
  for (const auto& record : records) {
    CHECK(record.kind == conflict::ConflictKind::mirror_error);
    CHECK_THAT(record.statement_normalized, !Catch::Contains("secret-4242"));
  }
  CHECK_THAT(logged(), !Catch::Contains("secret-4242"));
  CHECK(applier().progress().skipped_changes == 3);
}

TEST_CASE_METHOD(WalDdlTest, "a malformed pgdual.ddl message, a COPY FROM STDIN and a non-transactional message "
                             "whose statement may run in a transaction are recorded, never run, and the stream goes "
                             "on", "[integration][wal][ddl]") {
  start("wal_ddl_malformed", "CREATE TABLE chart (id int PRIMARY KEY)");
  // pgdual.emit_ddl never writes one so: only a hand could, whose message is refused for that first.
  static_cast<void>(on_primary(in_transaction(
      "SELECT pg_logical_emit_message(true, 'pgdual.ddl', 'no role or path: DROP TABLE chart');\n"
      "INSERT INTO chart VALUES (1);\n")));
  // Decoded apart from its transaction, even one that rolls back: only a statement that must run
  // alone travels so (wal_two_phase_test.cpp).
  static_cast<void>(on_primary(in_transaction(
      "SELECT pg_logical_emit_message(false, 'pgdual.ddl', current_user || E'\\n\\nDROP TABLE chart');\n"
      "INSERT INTO chart VALUES (2);\n")));
  static_cast<void>(on_primary("BEGIN; SELECT pg_logical_emit_message(false, 'pgdual.ddl', "
                               "current_user || E'\\n\\nDROP TABLE chart'); ROLLBACK;"));
  static_cast<void>(on_primary("INSERT INTO chart VALUES (3)"));
  // Rows that would come from the client are never waited for: the WAL has them.
  static_cast<void>(on_primary(in_transaction(
      "SELECT pgdual.emit_ddl(current_user, '', 'COPY public.chart FROM STDIN');\n"
      "INSERT INTO chart VALUES (4);\n")));
  wait_for_mirror();

  check_same_tables();
  CHECK(on_mirror("SELECT string_agg(id::text, ',' ORDER BY id) FROM chart") == "1,2,3,4\n");
  const auto records = recorded();
  REQUIRE(records.size() == 4);
  CHECK(sqlstate_of(records[0]) == "42501");
  CHECK(records[0].statement_normalized == "DDL");
  CHECK(records[0].tables.empty());
  for (const auto& outside : {records[1], records[2]}) {
    CHECK(sqlstate_of(outside) == "22023");
    CHECK(outside.statement_normalized == "DROP TABLE chart");
  }
  CHECK(sqlstate_of(records[3]) == "57014");
  CHECK(records[3].statement_normalized == "COPY public.chart FROM STDIN");
  CHECK_THAT(logged(), !Catch::Contains("DROP TABLE chart"));
}

TEST_CASE_METHOD(WalDdlTest, "a pgdual.ddl message written by hand, not by pgdual.emit_ddl, is never run on the "
                             "mirror, whatever role it names; pgdual.emit_ddl refuses a role its caller may not become",
                 "[integration][wal][ddl]") {
  start("wal_ddl_forged", "CREATE TABLE chart (id int PRIMARY KEY); GRANT ALL ON chart TO app");
  const auto as_app = [&](const std::string& script) {
    return run_client({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", script},
                      direct(database_name()), std::chrono::seconds{30});
  };
  // The application's role, no superuser, names the mirror's superuser in a message of its own.
  const auto superuser = mirror().superuser(database_name()).user;
  check_succeeded(as_app("BEGIN; SELECT pg_catalog.pg_logical_emit_message(true, 'pgdual.ddl', '" + superuser +
                         "' || E'\\n\\nCREATE TABLE forged (id int)'); INSERT INTO chart VALUES (1); COMMIT;"));
  const auto refused = as_app("SELECT pgdual.emit_ddl('" + superuser + "', '', 'CREATE TABLE forged_too (id int)')");
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.err, Catch::Contains("may not carry DDL as role"));
  check_succeeded(as_app("INSERT INTO chart VALUES (2)"));
  wait_for_mirror();

  CHECK(on_mirror("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'forged%'") == "0\n");
  CHECK(on_mirror("SELECT string_agg(id::text, ',' ORDER BY id) FROM chart") == "1,2\n");
  const auto records = recorded();
  REQUIRE(records.size() == 1);
  CHECK(sqlstate_of(records[0]) == "42501");
  CHECK_THAT(logged(), !Catch::Contains("CREATE TABLE forged"));
}

TEST_CASE_METHOD(WalDdlTest, "a pgdual.ddl message that schema version 5's pgdual.ddl_origin proves, written "
                             "before the upgrade to version 6, still runs on the mirror",
                 "[integration][wal][ddl]") {
  start("wal_ddl_version5");
  // What version 5's pgdual.emit_ddl wrote, by its owner: the digest into pgdual.ddl_origin, then the message.
  const auto superuser = primary().superuser(database()).user;
  const auto literal = "'" + superuser + "' || E'\\npublic\\nCREATE TABLE before_upgrade (id int PRIMARY KEY)'";
  static_cast<void>(on_primary(
      "CREATE TABLE pgdual.ddl_origin (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, digest text NOT NULL); "
      "BEGIN; INSERT INTO pgdual.ddl_origin (digest) VALUES (encode(sha256(convert_to(" + literal +
      ", 'UTF8')), 'hex')); DELETE FROM pgdual.ddl_origin; SELECT pg_logical_emit_message(true, 'pgdual.ddl', " +
      literal + "); CREATE TABLE before_upgrade (id int PRIMARY KEY); COMMIT;"));
  wait_for_mirror();
  CHECK(on_mirror("SELECT count(*) FROM pg_tables WHERE tablename = 'before_upgrade'") == "1\n");
  CHECK(recorded().empty());
}

}  // namespace pgdual::test
