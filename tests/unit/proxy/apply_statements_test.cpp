// The WAL apply's SQL, text in and SQL out (proxy/mirror/apply_statements.h): no database.
#include "proxy/mirror/apply_statements.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

namespace lr = protocol::logicalrep;

constexpr lr::Oid kInt4 = 23;
constexpr lr::Oid kText = 25;
constexpr lr::Oid kJson = 114;

/// The mirror's catalog not read: plans go by what pgoutput said alone.
const MirrorColumns kNotRead{};

/// A column of a test tuple: 'n', 'u', or text ('t').
struct Cell {
  char kind = 't';
  std::string text{};
};
Cell text(std::string value) { return {'t', std::move(value)}; }
const Cell kNull{'n'};
const Cell kUnchanged{'u'};

/// TupleData over bytes that the test keeps alive.
class Tuple {
 public:
  Tuple(std::initializer_list<Cell> cells) {
    protocol::Writer out{bytes_};
    for (const auto& cell : cells) {
      out.uint8(static_cast<std::uint8_t>(cell.kind));
      if (cell.kind != 't') continue;
      out.int32(static_cast<std::int32_t>(cell.text.size()));
      out.bytes(cell.text);
    }
    data_ = lr::TupleData{static_cast<std::uint16_t>(cells.size()), bytes_};
  }
  Tuple(const Tuple&) = delete;
  Tuple& operator=(const Tuple&) = delete;
  [[nodiscard]] const lr::TupleData& data() const noexcept { return data_; }

 private:
  std::vector<std::byte> bytes_;
  lr::TupleData data_;
};

lr::OwnedRelation relation(std::string schema, std::string name, lr::ReplicaIdentity identity,
                           std::vector<lr::OwnedRelation::Column> columns) {
  lr::OwnedRelation owned;
  owned.relation_id = 16401;
  owned.namespace_name = std::move(schema);
  owned.relation_name = std::move(name);
  owned.replica_identity = identity;
  owned.columns = std::move(columns);
  return owned;
}

lr::OwnedRelation::Column column(bool key, std::string name, lr::Oid type = kText) {
  return {.key = key, .name = std::move(name), .type_oid = type, .type_modifier = -1};
}

/// patients (id int PRIMARY KEY, name text, notes text)
lr::OwnedRelation patients() {
  return relation("public", "patients", lr::ReplicaIdentity::default_key,
                  {column(true, "id", kInt4), column(false, "name"), column(false, "notes")});
}

/// events (at text, payload json), REPLICA IDENTITY FULL, no key
lr::OwnedRelation events() {
  return relation("audit", "events", lr::ReplicaIdentity::full,
                  {column(true, "at"), column(true, "payload", kJson)});
}

std::vector<std::string> values_of(const PlannedChange& change) {
  std::vector<std::string> values;
  for (const auto& value : change.values) {
    values.push_back(value.kind == lr::ColumnKind::null ? "NULL" : std::string{value.text()});
  }
  return values;
}

}  // namespace

TEST_CASE("an insert lists every column the primary sent, as parameters", "[unit][proxy][apply]") {
  const Tuple row{text("7"), text("Ada"), kNull};
  const auto planned = plan_insert(patients(), lr::Insert{.xid = {}, .relation_id = 16401, .new_tuple = row.data()});
  REQUIRE(planned);
  CHECK(statement_sql(patients(), kNotRead, *planned) ==
        R"(INSERT INTO "public"."patients" ("id", "name", "notes") OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3))");
  CHECK(values_of(*planned) == std::vector<std::string>{"7", "Ada", "NULL"});
}

TEST_CASE("an update leaves unchanged TOAST columns and the unchanged key alone and matches the key of the new row",
          "[unit][proxy][apply]") {
  const Tuple row{text("7"), text("Ada"), kUnchanged};
  const lr::Update update{.xid = {}, .relation_id = 16401, .old_kind = {}, .old_tuple = {}, .new_tuple = row.data()};
  const auto planned = plan_update(patients(), kNotRead, update);
  REQUIRE(planned);
  // The key may be an identity GENERATED ALWAYS, which only DEFAULT may be assigned to.
  CHECK(statement_sql(patients(), kNotRead, *planned) == R"(UPDATE ONLY "public"."patients" SET "name" = $1 WHERE "id" = $2)");
  CHECK(values_of(*planned) == std::vector<std::string>{"Ada", "7"});
}

TEST_CASE("an update that changed nothing the primary sent still looks for its row, through a column that is no key",
          "[unit][proxy][apply]") {
  const Tuple row{text("7"), kUnchanged, kUnchanged};
  const lr::Update update{.xid = {}, .relation_id = 16401, .old_kind = {}, .old_tuple = {}, .new_tuple = row.data()};
  const auto planned = plan_update(patients(), kNotRead, update);
  REQUIRE(planned);
  CHECK(statement_sql(patients(), kNotRead, *planned) == R"(UPDATE ONLY "public"."patients" SET "name" = "name" WHERE "id" = $1)");
  CHECK(values_of(*planned) == std::vector<std::string>{"7"});
}

TEST_CASE("an update of the key matches the old key the primary sent", "[unit][proxy][apply]") {
  const Tuple old_key{text("7"), kNull, kNull};
  const Tuple row{text("8"), text("Ada"), text("x")};
  const lr::Update update{.xid = {},
                          .relation_id = 16401,
                          .old_kind = lr::OldTupleKind::key,
                          .old_tuple = old_key.data(),
                          .new_tuple = row.data()};
  const auto planned = plan_update(patients(), kNotRead, update);
  REQUIRE(planned);
  CHECK(statement_sql(patients(), kNotRead, *planned) ==
        R"(UPDATE ONLY "public"."patients" SET "id" = $1, "name" = $2, "notes" = $3 WHERE "id" = $4)");
  CHECK(values_of(*planned) == std::vector<std::string>{"8", "Ada", "x", "7"});
}

TEST_CASE("a delete matches the key", "[unit][proxy][apply]") {
  const Tuple old_key{text("7"), kNull, kNull};
  const auto planned = plan_delete(
      patients(), lr::Delete{.xid = {}, .relation_id = 16401, .old_kind = lr::OldTupleKind::key, .old_tuple = old_key.data()});
  REQUIRE(planned);
  CHECK(statement_sql(patients(), kNotRead, *planned) == R"(DELETE FROM ONLY "public"."patients" WHERE "id" = $1)");
  CHECK(values_of(*planned) == std::vector<std::string>{"7"});
}

TEST_CASE("with REPLICA IDENTITY FULL one row is matched on every column, json as text", "[unit][proxy][apply]") {
  const Tuple old_row{text("noon"), kNull};
  SECTION("delete") {
    const auto planned = plan_delete(
        events(), lr::Delete{.xid = {}, .relation_id = 16401, .old_kind = lr::OldTupleKind::old, .old_tuple = old_row.data()});
    REQUIRE(planned);
    CHECK(statement_sql(events(), kNotRead, *planned) ==
          R"(DELETE FROM ONLY "audit"."events" WHERE ctid = (SELECT ctid FROM ONLY "audit"."events" WHERE )"
          R"("at" IS NOT DISTINCT FROM $1 AND "payload"::text IS NOT DISTINCT FROM $2 LIMIT 1))");
    CHECK(values_of(*planned) == std::vector<std::string>{"noon", "NULL"});
  }
  SECTION("update of one column: the other stays as it is") {
    const Tuple row{text("noon"), text("{}")};
    const lr::Update update{.xid = {},
                            .relation_id = 16401,
                            .old_kind = lr::OldTupleKind::old,
                            .old_tuple = old_row.data(),
                            .new_tuple = row.data()};
    const auto planned = plan_update(events(), kNotRead, update);
    REQUIRE(planned);
    CHECK(statement_sql(events(), kNotRead, *planned) ==
          R"(UPDATE ONLY "audit"."events" SET "payload" = $1 WHERE ctid = (SELECT ctid FROM ONLY "audit"."events" )"
          R"(WHERE "at" IS NOT DISTINCT FROM $2 AND "payload"::text IS NOT DISTINCT FROM $3 LIMIT 1))");
    CHECK(values_of(*planned) == std::vector<std::string>{"{}", "noon", "NULL"});
  }
  SECTION("update") {
    const Tuple row{text("dusk"), text("{}")};
    const lr::Update update{.xid = {},
                            .relation_id = 16401,
                            .old_kind = lr::OldTupleKind::old,
                            .old_tuple = old_row.data(),
                            .new_tuple = row.data()};
    const auto planned = plan_update(events(), kNotRead, update);
    REQUIRE(planned);
    CHECK(statement_sql(events(), kNotRead, *planned) ==
          R"(UPDATE ONLY "audit"."events" SET "at" = $1, "payload" = $2 WHERE ctid = (SELECT ctid FROM ONLY "audit"."events" )"
          R"(WHERE "at" IS NOT DISTINCT FROM $3 AND "payload"::text IS NOT DISTINCT FROM $4 LIMIT 1))");
    CHECK(values_of(*planned) == std::vector<std::string>{"dusk", "{}", "noon", "NULL"});
  }
}

TEST_CASE("an update that assigns an identity GENERATED ALWAYS replaces the row, keeping what was not sent",
          "[unit][proxy][apply]") {
  const MirrorColumns mirror{{.always_identity = true, .compares_as_text = false, .type = "integer"},
                             {.always_identity = false, .compares_as_text = false, .type = "text"},
                             {.always_identity = false, .compares_as_text = false, .type = "text"}};
  const Tuple old_key{text("7"), kNull, kNull};
  const Tuple row{text("8"), text("Ada"), kUnchanged};
  const lr::Update update{.xid = {},
                          .relation_id = 16401,
                          .old_kind = lr::OldTupleKind::key,
                          .old_tuple = old_key.data(),
                          .new_tuple = row.data()};
  const auto planned = plan_update(patients(), mirror, update);
  REQUIRE(planned);
  CHECK(planned->replaces_row);
  CHECK(statement_sql(patients(), mirror, *planned) ==
        R"(WITH gone AS (DELETE FROM ONLY "public"."patients" WHERE "id" = $3 RETURNING *) )"
        R"(INSERT INTO "public"."patients" ("id", "name", "notes") OVERRIDING SYSTEM VALUE )"
        R"(SELECT CAST($1 AS integer), CAST($2 AS text), gone."notes" FROM gone)");
  CHECK(values_of(*planned) == std::vector<std::string>{"8", "Ada", "7"});

  SECTION("an update that leaves it alone stays an UPDATE, which never assigns it to itself") {
    const Tuple unchanged{text("7"), kUnchanged, kUnchanged};
    const auto quiet = plan_update(patients(), mirror,
                                   lr::Update{.xid = {}, .relation_id = 16401, .old_kind = {}, .old_tuple = {},
                                              .new_tuple = unchanged.data()});
    REQUIRE(quiet);
    CHECK_FALSE(quiet->replaces_row);
    CHECK(quiet->shape() != planned->shape());
    CHECK(statement_sql(patients(), mirror, *quiet) ==
          R"(UPDATE ONLY "public"."patients" SET "name" = "name" WHERE "id" = $1)");
  }
}

TEST_CASE("with the mirror's catalog read, REPLICA IDENTITY FULL compares text forms of the column's own type",
          "[unit][proxy][apply]") {
  const MirrorColumns mirror{{.always_identity = false, .compares_as_text = false, .type = "text"},
                             {.always_identity = false, .compares_as_text = true, .type = "public.pair_d"}};
  const Tuple old_row{text("noon"), text("(1,{})")};
  const auto planned = plan_delete(
      events(), lr::Delete{.xid = {}, .relation_id = 16401, .old_kind = lr::OldTupleKind::old, .old_tuple = old_row.data()});
  REQUIRE(planned);
  CHECK(statement_sql(events(), mirror, *planned) ==
        R"(DELETE FROM ONLY "audit"."events" WHERE ctid = (SELECT ctid FROM ONLY "audit"."events" WHERE )"
        R"("at" IS NOT DISTINCT FROM $1 AND )"
        R"("payload"::pg_catalog.text IS NOT DISTINCT FROM CAST($2 AS public.pair_d)::pg_catalog.text LIMIT 1))");
}

TEST_CASE("the mirror's columns are asked for by name and read back from one row each", "[unit][proxy][apply]") {
  const auto odd = relation("public", "t", lr::ReplicaIdentity::full,
                            {column(true, "plain"), column(true, R"(say "hi")"), column(true, R"(back\slash)")});
  CHECK(column_names_parameter(odd) == R"({"plain","say \"hi\"","back\\slash"})");
  CHECK(parse_mirror_column(std::string{"at:public.pair[]"}) ==
        MirrorColumn{.always_identity = true, .compares_as_text = true, .type = "public.pair[]"});
  CHECK(parse_mirror_column(std::string{"-n:integer"}) ==
        MirrorColumn{.always_identity = false, .compares_as_text = false, .type = "integer"});
  CHECK(parse_mirror_column(std::nullopt) == MirrorColumn{});
  CHECK(parse_mirror_column(std::string{"??"}) == MirrorColumn{});
}

TEST_CASE("changes of one shape share a statement; another shape gets its own", "[unit][proxy][apply]") {
  const Tuple full{text("7"), text("Ada"), text("x")};
  const Tuple toasted{text("7"), text("Ada"), kUnchanged};
  const Tuple other{text("9"), text("Bob"), text("y")};
  const auto update = [](const Tuple& row) {
    return plan_update(patients(), kNotRead, lr::Update{.xid = {}, .relation_id = 16401, .old_kind = {}, .old_tuple = {},
                                              .new_tuple = row.data()});
  };
  CHECK(update(full)->shape() == update(other)->shape());
  CHECK(update(full)->shape() != update(toasted)->shape());
  const auto insert = plan_insert(patients(), lr::Insert{.xid = {}, .relation_id = 16401, .new_tuple = full.data()});
  CHECK(insert->shape() != update(full)->shape());
}

TEST_CASE("a change that does not fit its relation is refused with a reason and no values", "[unit][proxy][apply]") {
  SECTION("column count") {
    const Tuple row{text("7"), text("secret")};
    const auto planned = plan_insert(patients(), lr::Insert{.xid = {}, .relation_id = 16401, .new_tuple = row.data()});
    REQUIRE_FALSE(planned);
    CHECK(planned.error() == "the change has 2 columns where the relation has 3");
  }
  SECTION("a key column not sent") {
    const Tuple row{kUnchanged, text("secret"), text("x")};
    const auto planned = plan_update(
        patients(), kNotRead, lr::Update{.xid = {}, .relation_id = 16401, .old_kind = {}, .old_tuple = {}, .new_tuple = row.data()});
    REQUIRE_FALSE(planned);
    CHECK(planned.error().find("secret") == std::string::npos);
    CHECK(planned.error().find(R"("id")") != std::string::npos);
  }
  SECTION("no replica identity") {
    const auto keyless = relation("public", "log", lr::ReplicaIdentity::nothing, {column(false, "line")});
    const Tuple old_row{text("a")};
    CHECK_FALSE(plan_delete(keyless, lr::Delete{.xid = {}, .relation_id = 1, .old_kind = lr::OldTupleKind::key,
                                                .old_tuple = old_row.data()}));
  }
}

TEST_CASE("names are quoted and qualified, whatever they hold", "[unit][proxy][apply]") {
  const auto catalog = relation("", "Mixed Case", lr::ReplicaIdentity::default_key, {column(true, "id")});
  CHECK(qualified_name(catalog) == R"("pg_catalog"."Mixed Case")");
  CHECK(is_pgdual_relation(relation("pgdual", "ledger", lr::ReplicaIdentity::default_key, {})));
  CHECK_FALSE(is_pgdual_relation(patients()));
}

TEST_CASE("a truncate lists each relation the primary emptied, with its options", "[unit][proxy][apply]") {
  const auto first = patients();
  const auto second = events();
  const std::vector<const lr::OwnedRelation*> both{&first, &second};
  CHECK(truncate_sql(both, false, false) == R"(TRUNCATE ONLY "public"."patients", ONLY "audit"."events")");
  CHECK(truncate_sql(both, true, true) ==
        R"(TRUNCATE ONLY "public"."patients", ONLY "audit"."events" RESTART IDENTITY CASCADE)");
}

TEST_CASE("only a canonical UUID is taken for pgdual's unit key", "[unit][proxy][apply]") {
  CHECK(is_unit_key("01890a5d-ac96-774b-bcce-b302099a8057"));
  CHECK(is_unit_key("01890A5D-AC96-774B-BCCE-B302099A8057"));
  CHECK_FALSE(is_unit_key("01890a5dac96774bbcceb302099a8057"));
  CHECK_FALSE(is_unit_key("01890a5d-ac96-774b-bcce-b302099a805g"));
  CHECK_FALSE(is_unit_key("DROP TABLE patients"));
  CHECK(source_name("pgdual_app", "7291234567890123456") == "pgdual_app@7291234567890123456");
}

}  // namespace pgdual::proxy
