#include "conflict/verify.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace pgdual::conflict;

namespace {

ColumnSchema column(std::string name, std::string type, bool not_null = false) {
  return {.name = std::move(name), .type = std::move(type), .not_null = not_null, .default_text = {},
          .collation = {}};
}

ColumnSchema text_column(std::string name, std::string collation = "default") {
  auto described = column(std::move(name), "text", true);
  described.collation = std::move(collation);
  return described;
}

TableSchema orders() {
  TableSchema table;
  table.table = {.schema = "public", .name = "orders"};
  table.columns = {column("id", "integer", true), column("customer", "integer", true), column("total", "numeric(10,2)")};
  table.primary_key = {"id"};
  table.constraints = {{.name = "orders_pkey", .definition = "PRIMARY KEY (id)"}};
  table.indexes = {{.name = "orders_pkey", .definition = "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)"}};
  return table;
}

std::vector<std::string> described(const std::vector<SchemaDifference>& differences) {
  std::vector<std::string> lines;
  for (const auto& difference : differences) lines.push_back(describe(difference));
  return lines;
}

RangeChecksum sum(std::int64_t rows, std::string digest) { return {.rows = rows, .digest = std::move(digest)}; }

}  // namespace

TEST_CASE("Identifiers are always quoted, embedded quotes doubled", "[unit][conflict][verify]") {
  CHECK(quote_identifier("orders") == "\"orders\"");
  CHECK(quote_identifier("Order \"Lines\"") == "\"Order \"\"Lines\"\"\"");
  CHECK(quote_literal("it's") == "'it''s'");
  CHECK(TableName{.schema = "billing", .name = "Orders"}.sql() == "\"billing\".\"Orders\"");
  CHECK(TableName{.schema = "billing", .name = "Orders"}.display() == "billing.Orders");
}

TEST_CASE("A --table argument without a schema means schema public", "[unit][conflict][verify]") {
  CHECK(table_name_from_argument("orders") == TableName{.schema = "public", .name = "orders"});
  CHECK(table_name_from_argument("billing.orders") == TableName{.schema = "billing", .name = "orders"});
  CHECK(table_name_from_argument("billing.odd.name") == TableName{.schema = "billing", .name = "odd.name"});
}

TEST_CASE("Identical schemas have no differences", "[unit][conflict][verify]") {
  CHECK(compare_schemas(orders(), orders()).empty());
}

TEST_CASE("Schema differences name each column, constraint and index", "[unit][conflict][verify]") {
  auto mirror = orders();
  SECTION("a column missing on the mirror, another extra on it") {
    mirror.columns.erase(mirror.columns.begin() + 2);
    mirror.columns.push_back(column("note", "text"));
    CHECK(described(compare_schemas(orders(), mirror)) ==
          std::vector<std::string>{"column \"total\" missing on mirror: numeric(10,2)",
                                   "column \"note\" extra on mirror: text"});
  }
  SECTION("a column's type, nullability, default and collation") {
    mirror.columns[2] = column("total", "integer", true);
    mirror.columns[2].default_text = "0";
    mirror.columns[2].collation = "C";
    CHECK(described(compare_schemas(orders(), mirror)) ==
          std::vector<std::string>{"column \"total\": type numeric(10,2) on primary, integer on mirror",
                                   "column \"total\": nullable on primary, not null on mirror",
                                   "column \"total\": default none on primary, 0 on mirror",
                                   "column \"total\": collation none on primary, C on mirror"});
  }
  SECTION("columns in another order") {
    std::swap(mirror.columns[1], mirror.columns[2]);
    CHECK(described(compare_schemas(orders(), mirror)) ==
          std::vector<std::string>{"column \"customer\": position 2 on primary, 3 on mirror",
                                   "column \"total\": position 3 on primary, 2 on mirror"});
  }
  SECTION("a column missing in the middle does not move the columns after it") {
    mirror.columns.erase(mirror.columns.begin() + 1);
    CHECK(described(compare_schemas(orders(), mirror)) ==
          std::vector<std::string>{"column \"customer\" missing on mirror: integer"});
  }
  SECTION("constraints and indexes by name, then by definition") {
    mirror.constraints.push_back({.name = "orders_total_check", .definition = "CHECK ((total > (0)::numeric))"});
    mirror.indexes[0].definition = "CREATE UNIQUE INDEX orders_pkey ON public.orders USING hash (id)";
    auto primary = orders();
    primary.indexes.push_back({.name = "orders_customer", .definition = "CREATE INDEX orders_customer ON public.orders USING btree (customer)"});
    const auto differences = compare_schemas(primary, mirror);
    REQUIRE(differences.size() == 3);
    CHECK(differences[0] == SchemaDifference{.object = SchemaObject::constraint, .change = SchemaChange::extra_on_mirror,
                                             .name = "orders_total_check", .attribute = {}, .on_primary = {},
                                             .on_mirror = "CHECK ((total > (0)::numeric))"});
    CHECK(describe(differences[1]) ==
          "index \"orders_pkey\": CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id) on primary, "
          "CREATE UNIQUE INDEX orders_pkey ON public.orders USING hash (id) on mirror");
    CHECK(describe(differences[2]) ==
          "index \"orders_customer\" missing on mirror: CREATE INDEX orders_customer ON public.orders USING btree (customer)");
  }
}

TEST_CASE("Database settings that differ are reported one by one", "[unit][conflict][verify]") {
  const DatabaseSettings primary{.encoding = "UTF8", .collate = "en_US.UTF-8", .ctype = "en_US.UTF-8"};
  CHECK(compare_databases(primary, primary).empty());
  const DatabaseSettings mirror{.encoding = "LATIN1", .collate = "C", .ctype = "en_US.UTF-8"};
  CHECK(described(compare_databases(primary, mirror)) ==
        std::vector<std::string>{"database encoding: UTF8 on primary, LATIN1 on mirror",
                                 "database LC_COLLATE: en_US.UTF-8 on primary, C on mirror"});
}

TEST_CASE("Rows are compared by key only when both sides have the same primary key", "[unit][conflict][verify]") {
  auto mirror = orders();
  CHECK(choose_row_method(nullptr, &mirror) == RowMethod::none);
  CHECK(choose_row_method(&mirror, nullptr) == RowMethod::none);
  CHECK(choose_row_method(&mirror, &mirror) == RowMethod::by_key);
  auto other_key = orders();
  other_key.primary_key = {"id", "customer"};
  CHECK(choose_row_method(&mirror, &other_key) == RowMethod::full_hash);
  auto keyless = orders();
  keyless.primary_key.clear();
  CHECK(choose_row_method(&keyless, &keyless) == RowMethod::full_hash);
  CHECK(choose_row_method(&keyless, &mirror) == RowMethod::full_hash);
}

TEST_CASE("Only columns with the same type on both sides are compared", "[unit][conflict][verify]") {
  auto mirror = orders();
  mirror.columns[2].type = "integer";
  mirror.columns.push_back(column("note", "text"));
  CHECK(compared_columns(orders(), mirror) == std::vector<std::string>{"id", "customer"});
}

TEST_CASE("Text keys keep their own order unless the backends might order them differently",
          "[unit][conflict][verify]") {
  TableSchema primary;
  primary.table = {.schema = "public", .name = "lines"};
  primary.columns = {text_column("code"), column("line", "integer", true)};
  primary.primary_key = {"code", "line"};
  auto mirror = primary;
  SECTION("same database collation, same column collation") {
    const auto key = key_columns(primary, mirror, true);
    REQUIRE(key.size() == 2);
    CHECK(key[0].name == "code");
    CHECK(key[0].type == "text");
    CHECK_FALSE(key[0].byte_order);
    CHECK_FALSE(key[1].byte_order);
  }
  SECTION("the databases' collations differ") {
    const auto key = key_columns(primary, mirror, false);
    CHECK(key[0].byte_order);
    CHECK_FALSE(key[1].byte_order);  // integers order the same everywhere
  }
  SECTION("the column's collations differ") {
    mirror.columns[0].collation = "C";
    CHECK(key_columns(primary, mirror, true)[0].byte_order);
  }
}

TEST_CASE("Keys print as values, composite keys as a parenthesized list", "[unit][conflict][verify]") {
  CHECK(format_key({"42"}) == "42");
  CHECK(format_key({"7", "3"}) == "(7, 3)");
  CHECK(format_key({"2024-05-01 12:00:00+00", "a,b"}) == "(\"2024-05-01 12:00:00+00\", \"a,b\")");
  CHECK(format_key({""}) == "\"\"");
  CHECK(format_key({"say \"hi\"\\"}) == "\"say \\\"hi\\\"\\\\\"");
}

TEST_CASE("Splitting a range shares the middle key as the upper half's first", "[unit][conflict][verify]") {
  const KeyRange range{.lower = Key{"10"}, .upper = std::nullopt};
  const auto [low, high] = split_at(range, Key{"50"});
  CHECK(low == KeyRange{.lower = Key{"10"}, .upper = Key{"50"}});
  CHECK(high == KeyRange{.lower = Key{"50"}, .upper = std::nullopt});
}

TEST_CASE("Range queries bound a single key with cast parameters", "[unit][conflict][verify]") {
  const KeyRangeQueries queries{{.schema = "public", .name = "orders"},
                                {{.name = "id", .type = "integer", .byte_order = false}},
                                {"id", "customer"}};
  const KeyRange open{.lower = std::nullopt, .upper = std::nullopt};
  CHECK(queries.checksum(open) ==
        "SELECT count(*), coalesce(bit_xor(hashtextextended(ROW(t.\"id\", t.\"customer\")::text, 0))::text, '') "
        "FROM ONLY \"public\".\"orders\" AS t");
  const KeyRange both{.lower = Key{"10"}, .upper = Key{"20"}};
  CHECK(queries.key_at_offset(both, 5) ==
        "SELECT t.\"id\" FROM ONLY \"public\".\"orders\" AS t WHERE t.\"id\" >= CAST($1 AS integer) AND "
        "t.\"id\" < CAST($2 AS integer) ORDER BY t.\"id\" OFFSET 5 LIMIT 1");
  const KeyRange upper_only{.lower = std::nullopt, .upper = Key{"20"}};
  CHECK(queries.row_digests(upper_only) ==
        "SELECT t.\"id\", md5(ROW(t.\"id\", t.\"customer\")::text) FROM ONLY \"public\".\"orders\" AS t "
        "WHERE t.\"id\" < CAST($1 AS integer) ORDER BY t.\"id\"");
  CHECK(KeyRangeQueries::range_parameters(both) == std::vector<std::string>{"10", "20"});
  CHECK(KeyRangeQueries::range_parameters(upper_only) == std::vector<std::string>{"20"});
  CHECK(KeyRangeQueries::range_parameters(open).empty());
}

TEST_CASE("Range queries bound a composite key as a row, text in byte order when asked", "[unit][conflict][verify]") {
  const KeyRangeQueries queries{{.schema = "public", .name = "lines"},
                                {{.name = "order_id", .type = "bigint", .byte_order = false},
                                 {.name = "code", .type = "character varying(20)", .byte_order = true}},
                                {"order_id", "code", "qty"}};
  const KeyRange both{.lower = Key{"1", "a"}, .upper = Key{"9", "z"}};
  CHECK(queries.key_at_offset(both, 0) ==
        "SELECT t.\"order_id\", t.\"code\" FROM ONLY \"public\".\"lines\" AS t WHERE "
        "(t.\"order_id\", t.\"code\" COLLATE \"C\") >= (CAST($1 AS bigint), CAST($2 AS character varying(20)) COLLATE \"C\") AND "
        "(t.\"order_id\", t.\"code\" COLLATE \"C\") < (CAST($3 AS bigint), CAST($4 AS character varying(20)) COLLATE \"C\") "
        "ORDER BY t.\"order_id\", t.\"code\" COLLATE \"C\" OFFSET 0 LIMIT 1");
  CHECK(KeyRangeQueries::range_parameters(both) == std::vector<std::string>{"1", "a", "9", "z"});
}

TEST_CASE("The full hash sums both halves of every row's md5", "[unit][conflict][verify]") {
  CHECK(full_hash_query({.schema = "public", .name = "audit"}, {"at", "what"}) ==
        "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0), "
        "coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) "
        "FROM (SELECT md5(ROW(t.\"at\", t.\"what\")::text) AS h FROM ONLY \"public\".\"audit\" AS t) AS digests");
}

TEST_CASE("A range is left alone when its checksums agree, listed when small, split otherwise",
          "[unit][conflict][verify]") {
  CHECK(next_step(sum(100, "a"), sum(100, "a"), 64) == RangeStep::identical);
  CHECK(next_step(sum(0, ""), sum(0, ""), 64) == RangeStep::identical);
  CHECK(next_step(sum(64, "a"), sum(64, "b"), 64) == RangeStep::list_rows);
  CHECK(next_step(sum(0, ""), sum(3, "b"), 64) == RangeStep::list_rows);
  CHECK(next_step(sum(65, "a"), sum(64, "b"), 64) == RangeStep::split);
  CHECK(next_step(sum(2, "a"), sum(65, "b"), 64) == RangeStep::split);
}

TEST_CASE("A range splits at the middle row of the side holding more rows", "[unit][conflict][verify]") {
  CHECK(split_point(sum(100, "a"), sum(99, "b")) == SplitPoint{.side = Side::primary, .offset = 50});
  CHECK(split_point(sum(100, "a"), sum(100, "b")) == SplitPoint{.side = Side::primary, .offset = 50});
  CHECK(split_point(sum(0, ""), sum(101, "b")) == SplitPoint{.side = Side::mirror, .offset = 50});
  CHECK(split_point(sum(2, "a"), sum(1, "b")) == SplitPoint{.side = Side::primary, .offset = 1});
}

TEST_CASE("Halving by split_point reaches listable ranges whatever the rows", "[unit][conflict][verify]") {
  // Keys 0..n on each side; the split keeps the chosen side's rows on both halves, so the larger
  // side shrinks within two halvings and the loop ends. Simulated with sorted integer keys.
  const auto count_in = [](const std::vector<int>& keys, int lower, int upper) {
    return static_cast<std::int64_t>(std::count_if(keys.begin(), keys.end(), [&](int k) { return k >= lower && k < upper; }));
  };
  std::vector<int> primary;
  std::vector<int> mirror;
  for (int key = 0; key < 1000; ++key) primary.push_back(key);
  for (int key = 500; key < 3000; ++key) mirror.push_back(key);
  struct Range { int lower; int upper; };
  std::vector<Range> pending{{-1, 100000}};
  int steps = 0;
  std::int64_t listed = 0;
  while (!pending.empty() && steps < 10000) {
    ++steps;
    const auto range = pending.back();
    pending.pop_back();
    const auto ours = sum(count_in(primary, range.lower, range.upper), "p");
    const auto theirs = sum(count_in(mirror, range.lower, range.upper), "m");
    const auto step = next_step(ours, theirs, 64);
    if (step == RangeStep::list_rows) listed += std::max(ours.rows, theirs.rows);
    if (step != RangeStep::split) continue;
    const auto point = split_point(ours, theirs);
    const auto& side = point.side == Side::primary ? primary : mirror;
    const auto first = std::find_if(side.begin(), side.end(), [&](int k) { return k >= range.lower; });
    const int middle = *(first + point.offset);
    pending.push_back({middle, range.upper});
    pending.push_back({range.lower, middle});
  }
  CHECK(pending.empty());
  CHECK(steps < 10000);
  CHECK(listed >= 2500);
}

TEST_CASE("Rows of a small range differ by key: missing, extra, or other values", "[unit][conflict][verify]") {
  const std::vector<RowDigest> primary{{{"1"}, "aa"}, {{"2"}, "bb"}, {{"3"}, "cc"}, {{"5"}, "ee"}};
  const std::vector<RowDigest> mirror{{{"1"}, "aa"}, {{"3"}, "c2"}, {{"4"}, "dd"}, {{"5"}, "ee"}, {{"0"}, "zz"}};
  const auto differences = compare_rows(primary, mirror);
  CHECK(differences.missing_on_mirror == std::vector<Key>{{"2"}});
  CHECK(differences.extra_on_mirror == std::vector<Key>{{"4"}, {"0"}});
  CHECK(differences.differing == std::vector<Key>{{"3"}});
  CHECK(compare_rows(primary, primary).differing.empty());
}

TEST_CASE("Rows listed in another order on the mirror are still the same rows", "[unit][conflict][verify]") {
  const std::vector<RowDigest> primary{{{"a", "1"}, "x"}, {{"B", "1"}, "y"}};
  const std::vector<RowDigest> mirror{{{"B", "1"}, "y"}, {{"a", "1"}, "x"}};
  const auto differences = compare_rows(primary, mirror);
  CHECK(differences.missing_on_mirror.empty());
  CHECK(differences.extra_on_mirror.empty());
  CHECK(differences.differing.empty());
}

TEST_CASE("A key list counts every key and keeps the first ones", "[unit][conflict][verify]") {
  KeyList keys;
  for (std::size_t i = 0; i < kMaxListedKeys + 5; ++i) keys.add(Key{std::to_string(i)});
  CHECK(keys.count() == kMaxListedKeys + 5);
  CHECK(keys.listed().size() == kMaxListedKeys);
  CHECK(keys.listed().front() == Key{"0"});
}

TEST_CASE("A table's differences are listed by kind", "[unit][conflict][verify]") {
  TableVerdict verdict{.table = {.schema = "public", .name = "orders"}};
  verdict.method = RowMethod::by_key;
  verdict.primary_rows = verdict.mirror_rows = 10;
  CHECK(verdict.identical());
  verdict.mirror_rows = 11;
  verdict.extra_on_mirror.add(Key{"11"});
  verdict.differing_rows.add(Key{"3"});
  CHECK(verdict.differences() == std::vector<DifferenceKind>{DifferenceKind::row_count, DifferenceKind::extra_on_mirror,
                                                             DifferenceKind::differing_rows});
  verdict.schema.push_back({});
  verdict.error = "backend \"cloud\": permission denied";
  CHECK(verdict.differences().front() == DifferenceKind::schema);
  CHECK(verdict.differences().back() == DifferenceKind::not_compared);
  CHECK(to_string(DifferenceKind::missing_on_mirror) == "missing on mirror");
}

TEST_CASE("A table on one side only is a schema difference, without a row count", "[unit][conflict][verify]") {
  TableVerdict verdict{.table = {.schema = "public", .name = "orders"}};
  verdict.schema.push_back({.object = SchemaObject::table, .change = SchemaChange::missing_on_mirror, .name = {},
                            .attribute = {}, .on_primary = {}, .on_mirror = {}});
  CHECK(verdict.differences() == std::vector<DifferenceKind>{DifferenceKind::schema});
  CHECK(render_table(verdict) == "public.orders: differs\n  schema: table missing on mirror\n");
}

TEST_CASE("Sequences pair by name and differ by position, presence or readability", "[unit][conflict][verify]") {
  const TableName ids{.schema = "public", .name = "orders_id_seq"};
  const TableName other{.schema = "public", .name = "other_seq"};
  const TableName gone{.schema = "public", .name = "gone_seq"};
  const std::vector<SequenceState> primary{{.sequence = ids, .owner = {}, .readable = true, .last_value = 42},
                                           {.sequence = other, .owner = {}, .readable = true, .last_value = {}},
                                           {.sequence = gone, .owner = {}, .readable = true, .last_value = 1}};
  const std::vector<SequenceState> mirror{{.sequence = other, .owner = {}, .readable = true, .last_value = {}},
                                          {.sequence = ids, .owner = {}, .readable = true, .last_value = 40}};
  const auto verdicts = compare_sequences(primary, mirror);
  REQUIRE(verdicts.size() == 3);
  CHECK(render_sequence(verdicts[0]) == "sequence public.gone_seq: differs, missing on mirror\n");
  CHECK(render_sequence(verdicts[1]) ==
        "sequence public.orders_id_seq: differs, last value 42 on primary, 40 on mirror (mirror behind by 2)\n");
  CHECK(render_sequence(verdicts[2]) == "sequence public.other_seq: identical, last value never used\n");
  SequenceVerdict unreadable{.sequence = ids, .on_primary = primary[0], .on_mirror = primary[0]};
  unreadable.on_mirror->readable = false;
  CHECK_FALSE(unreadable.identical());
  CHECK(render_sequence(unreadable) ==
        "sequence public.orders_id_seq: differs, last value 42 on primary, unreadable on mirror\n");
}

TEST_CASE("The text report lists keys of differing rows and counts, never other values", "[unit][conflict][verify]") {
  VerifyReport report{.database = "shop", .primary = "onprem", .mirror = "cloud", .database_differences = {},
                      .tables = {}, .sequences = {}};
  TableVerdict identical{.table = {.schema = "public", .name = "accounts"}};
  identical.method = RowMethod::by_key;
  identical.has_primary_key = true;
  identical.key_columns = {"id"};
  identical.primary_rows = identical.mirror_rows = 1;
  TableVerdict lines{.table = {.schema = "public", .name = "order_lines"}};
  lines.method = RowMethod::by_key;
  lines.has_primary_key = true;
  lines.key_columns = {"order_id", "line"};
  lines.primary_rows = 12;
  lines.mirror_rows = 11;
  lines.missing_on_mirror.add(Key{"3", "2"});
  TableVerdict audit{.table = {.schema = "public", .name = "audit"}};
  audit.method = RowMethod::full_hash;
  audit.primary_rows = audit.mirror_rows = 5;
  audit.contents_differ = true;
  TableVerdict broken{.table = {.schema = "public", .name = "secrets"}};
  broken.method = RowMethod::by_key;
  broken.error = "backend \"cloud\": permission denied for table secrets (SQLSTATE 42501)";
  report.tables = {identical, lines, audit, broken};
  CHECK(render_heading(report) == "database \"shop\": primary onprem, mirror cloud\n");
  CHECK(render_table(identical) == "public.accounts: identical, 1 row, compared by key (id)\n");
  CHECK(render_table(lines) ==
        "public.order_lines: differs, 12 rows on primary, 11 on mirror, compared by key (order_id, line)\n"
        "  missing on mirror: 1 key\n"
        "    (3, 2)\n");
  CHECK(render_table(audit) ==
        "public.audit: differs, 5 rows, no primary key: compared by a full hash\n"
        "  contents differ (no key to tell which rows)\n");
  CHECK(render_table(broken) ==
        "public.secrets: differs\n"
        "  rows not compared: backend \"cloud\": permission denied for table secrets (SQLSTATE 42501)\n");
  CHECK_FALSE(report.identical());
  CHECK(render_counts(report) == "4 tables: 1 identical, 3 differ; 0 sequences: 0 identical, 0 differ");
  report.tables = {identical};
  CHECK(report.identical());
  CHECK(render_counts(report) == "1 table: 1 identical, 0 differ; 0 sequences: 0 identical, 0 differ");
}

TEST_CASE("Keys beyond the kept ones are counted in the report", "[unit][conflict][verify]") {
  TableVerdict verdict{.table = {.schema = "public", .name = "orders"}};
  verdict.method = RowMethod::by_key;
  verdict.key_columns = {"id"};
  for (std::size_t i = 0; i < kMaxListedKeys + 2; ++i) verdict.differing_rows.add(Key{std::to_string(i)});
  const auto text = render_table(verdict);
  CHECK(text.find("differing rows: 1002 keys\n") != std::string::npos);
  CHECK(text.ends_with("    999\n    ... and 2 more\n"));
}

TEST_CASE("A database-level difference makes the report differ", "[unit][conflict][verify]") {
  VerifyReport report{.database = "shop", .primary = "onprem", .mirror = "cloud", .database_differences = {},
                      .tables = {}, .sequences = {}};
  report.database_differences = compare_databases({.encoding = "UTF8", .collate = "C", .ctype = "C"},
                                                  {.encoding = "SQL_ASCII", .collate = "C", .ctype = "C"});
  CHECK_FALSE(report.identical());
  CHECK(render_heading(report) ==
        "database \"shop\": primary onprem, mirror cloud\n  database encoding: UTF8 on primary, SQL_ASCII on mirror\n");
}

TEST_CASE("Orphans are rows whose set key columns match no referenced row", "[unit][conflict][verify]") {
  const ForeignKey foreign_key{.name = "lines_order_fk", .table = {.schema = "public", .name = "lines"},
                               .columns = {"order_id", "shop"}, .referenced = {.schema = "public", .name = "orders"},
                               .referenced_columns = {"id", "shop"}};
  CHECK(orphans_query(foreign_key, {"line_id"}) ==
        "SELECT count(*) OVER (), t.\"line_id\"::text FROM ONLY \"public\".\"lines\" AS t WHERE t.\"order_id\" IS NOT NULL "
        "AND t.\"shop\" IS NOT NULL AND NOT EXISTS (SELECT FROM ONLY \"public\".\"orders\" AS r WHERE "
        "r.\"id\" = t.\"order_id\" AND r.\"shop\" = t.\"shop\") LIMIT 1000");
  CHECK(orphans_query(foreign_key, {}).starts_with("SELECT count(*) OVER () FROM"));
}

TEST_CASE("Orphans differ unless both backends hold the same ones", "[unit][conflict][verify]") {
  TableVerdict verdict{.table = {.schema = "public", .name = "lines"}, .method = RowMethod::by_key};
  const Orphans on_primary{.foreign_key = "lines_order_fk", .referenced = {.schema = "public", .name = "orders"},
                           .side = Side::primary, .count = 1, .listed = {{"7"}}};
  auto on_mirror = on_primary;
  on_mirror.side = Side::mirror;
  verdict.orphans = {on_primary, on_mirror};
  CHECK(verdict.identical());
  CHECK(render_table(verdict).find("  orphans on mirror: 1 row referencing no row of public.orders through "
                                   "lines_order_fk\n    7\n") != std::string::npos);
  verdict.orphans.back().listed = {{"8"}};
  CHECK(verdict.differences() == std::vector{DifferenceKind::orphans});
  verdict.orphans.pop_back();
  CHECK(verdict.differences() == std::vector{DifferenceKind::orphans});
}

TEST_CASE("Keys are re-read by equality with parameter arrays cast to the key's types", "[unit][conflict][verify]") {
  const KeyRangeQueries queries{{.schema = "public", .name = "lines"},
                                {{.name = "order_id", .type = "bigint", .byte_order = false},
                                 {.name = "code", .type = "character varying(20)", .byte_order = true}},
                                {"order_id", "code", "qty"}};
  CHECK(queries.row_digests_of_keys() ==
        "SELECT t.\"order_id\", t.\"code\", md5(ROW(t.\"order_id\", t.\"code\", t.\"qty\")::text) "
        "FROM ONLY \"public\".\"lines\" AS t WHERE (t.\"order_id\", t.\"code\") IN (SELECT CAST(k.c1 AS bigint), "
        "CAST(k.c2 AS character varying(20)) FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) AS k(c1, c2))");
  const std::vector<Key> keys{{"1", "a,b"}, {"2", "say \"hi\""}, {"3", "back\\slash"}, {"4", ""}, {"5", "NULL"}};
  CHECK(queries.key_parameters(keys) ==
        std::vector<std::string>{"{\"1\",\"2\",\"3\",\"4\",\"5\"}",
                                 "{\"a,b\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"\",\"NULL\"}"});
  CHECK(queries.key_parameters({}) == std::vector<std::string>{"{}", "{}"});
}

TEST_CASE("Keys of a single column are re-read with one parameter array", "[unit][conflict][verify]") {
  const KeyRangeQueries queries{{.schema = "public", .name = "orders"},
                                {{.name = "id", .type = "integer", .byte_order = false}},
                                {"id", "customer"}};
  CHECK(queries.row_digests_of_keys() ==
        "SELECT t.\"id\", md5(ROW(t.\"id\", t.\"customer\")::text) FROM ONLY \"public\".\"orders\" AS t "
        "WHERE t.\"id\" IN (SELECT CAST(k.c1 AS integer) FROM unnest(CAST($1 AS text[])) AS k(c1))");
  CHECK(queries.key_parameters(std::vector<Key>{{"7"}, {"9"}}) == std::vector<std::string>{"{\"7\",\"9\"}"});
}

namespace {

Look look(std::optional<std::string> primary, std::optional<std::string> mirror) {
  return {.primary = std::move(primary), .mirror = std::move(mirror)};
}

}  // namespace

TEST_CASE("A difference read again settles, is in flight, or is confirmed", "[unit][conflict][verify]") {
  struct Case {
    Look first;
    Look now;
    Recheck expected;
  };
  const std::vector<Case> cases{
      {look("a", "b"), look("a", "a"), Recheck::settled},                // the mirror caught up
      {look("a", "b"), look("b", "b"), Recheck::settled},                // the primary's write reached both
      {look("a", std::nullopt), look("a", "a"), Recheck::settled},       // an insert reached the mirror
      {look(std::nullopt, "b"), look(std::nullopt, std::nullopt), Recheck::settled},  // a delete did
      {look("a", "b"), look(std::nullopt, std::nullopt), Recheck::settled},           // deleted on both
      {look("a", "b"), look("c", "b"), Recheck::in_flight},              // the primary changed again
      {look("a", "b"), look("a", "c"), Recheck::in_flight},              // the mirror changed, still differs
      {look("a", std::nullopt), look(std::nullopt, "a"), Recheck::in_flight},  // presence changed on both
      {look("a", "b"), look("a", std::nullopt), Recheck::in_flight},     // the mirror lost the row
      {look("a", "b"), look("a", "b"), Recheck::confirmed},
      {look("a", std::nullopt), look("a", std::nullopt), Recheck::confirmed},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    CHECK(classify_recheck(cases[i].first, cases[i].now) == cases[i].expected);
  }
}

TEST_CASE("Looks at keys take each side's digest, none where a side has no row", "[unit][conflict][verify]") {
  const std::vector<RowDigest> primary{{.key = {"1"}, .digest = "p1"}, {.key = {"2"}, .digest = "p2"},
                                       {.key = {"9"}, .digest = "p9"}};
  const std::vector<RowDigest> mirror{{.key = {"2"}, .digest = "m2"}, {.key = {"3"}, .digest = "m3"}};
  const std::vector<Key> keys{{"1"}, {"2"}, {"3"}, {"4"}};
  CHECK(look_at(keys, primary, mirror) == KeyLooks{{{"1"}, look("p1", std::nullopt)},
                                                   {{"2"}, look("p2", "m2")},
                                                   {{"3"}, look(std::nullopt, "m3")},
                                                   {{"4"}, look(std::nullopt, std::nullopt)}});
}

namespace {

// patients: 10 rows on the primary, 10 on the mirror, with one key of each kind, as found.
TableVerdict patients_as_found() {
  TableVerdict verdict{.table = {.schema = "public", .name = "patients"}};
  verdict.method = RowMethod::by_key;
  verdict.has_primary_key = true;
  verdict.key_columns = {"id"};
  verdict.primary_rows = 10;
  verdict.mirror_rows = 10;
  verdict.missing_on_mirror.add(Key{"17"});
  verdict.extra_on_mirror.add(Key{"501"});
  verdict.differing_rows.add(Key{"250"});
  return verdict;
}

const KeyLooks kPatientsFirstLook{{{"17"}, {.primary = "a", .mirror = std::nullopt}},
                                  {{"501"}, {.primary = std::nullopt, .mirror = "b"}},
                                  {{"250"}, {.primary = "c", .mirror = "d"}}};

}  // namespace

TEST_CASE("Differences that settled on re-check leave the verdict, and the table is identical",
          "[unit][conflict][verify]") {
  auto verdict = patients_as_found();
  const KeyLooks now{{{"17"}, look("a", "a")}, {{"501"}, look(std::nullopt, std::nullopt)}, {{"250"}, look("c", "c")}};
  apply_recheck(verdict, kPatientsFirstLook, now);
  CHECK(verdict.identical());
  CHECK(verdict.settled_keys == 3);
  CHECK(verdict.primary_rows == 10);
  CHECK(verdict.mirror_rows == 10);  // one row came, one went
  CHECK(render_table(verdict) ==
        "public.patients: identical, 10 rows, compared by key (id)\n"
        "  settled on re-check: 3 keys (writes in flight during the comparison)\n");
}

TEST_CASE("Keys whose rows changed during verify stay listed, marked, under the kind they have now",
          "[unit][conflict][verify]") {
  auto verdict = patients_as_found();
  const KeyLooks now{{{"17"}, look("a2", std::nullopt)},  // the primary changed it again
                     {{"501"}, look(std::nullopt, "b")},  // unchanged: confirmed
                     {{"250"}, look(std::nullopt, "d")}};  // the primary deleted it: now extra on the mirror
  apply_recheck(verdict, kPatientsFirstLook, now);
  CHECK(verdict.settled_keys == 0);
  CHECK(verdict.in_flight == std::set<Key>{{"17"}, {"250"}});
  CHECK(verdict.primary_rows == 9);
  CHECK(verdict.mirror_rows == 10);
  CHECK(render_table(verdict) ==
        "public.patients: differs, 9 rows on primary, 10 on mirror, compared by key (id)\n"
        "  missing on mirror: 1 key (1 changed during verify)\n"
        "    17 (changed during verify: could be a write in flight)\n"
        "  extra on mirror: 2 keys (1 changed during verify)\n"
        "    501\n"
        "    250 (changed during verify: could be a write in flight)\n");
}

TEST_CASE("Keys counted beyond the listed ones stay counted after a re-check", "[unit][conflict][verify]") {
  TableVerdict verdict{.table = {.schema = "public", .name = "orders"}, .method = RowMethod::by_key};
  KeyLooks first;
  KeyLooks now;
  for (std::size_t i = 0; i < kMaxListedKeys + 3; ++i) {
    const Key key{std::to_string(i)};
    verdict.differing_rows.add(key);
    if (i < kMaxListedKeys) first.emplace(key, look("p", "m"));
    if (i < kMaxListedKeys) now.emplace(key, i == 0 ? look("p", "p") : look("p", "m"));
  }
  apply_recheck(verdict, first, now);
  CHECK(verdict.settled_keys == 1);
  CHECK(verdict.differing_rows.count() == kMaxListedKeys + 2);
  CHECK(verdict.differing_rows.listed().size() == kMaxListedKeys - 1);
  CHECK(render_table(verdict).ends_with("    999\n    ... and 3 more\n"
                                        "  settled on re-check: 1 key (writes in flight during the comparison)\n"));
}

TEST_CASE("A full hash computed again settles, or marks the contents as changed during verify",
          "[unit][conflict][verify]") {
  TableVerdict verdict{.table = {.schema = "public", .name = "audit"}, .method = RowMethod::full_hash};
  verdict.primary_rows = verdict.mirror_rows = 5;
  verdict.contents_differ = true;
  const BothChecksums first{.primary = sum(5, "1:2"), .mirror = sum(5, "3:4")};
  SECTION("the same on both sides now") {
    apply_contents_recheck(verdict, first, {.primary = sum(6, "5:6"), .mirror = sum(6, "5:6")});
    CHECK(verdict.identical());
    CHECK(verdict.primary_rows == 6);
    CHECK(render_table(verdict) ==
          "public.audit: identical, 6 rows, no primary key: compared by a full hash\n"
          "  settled on re-check: the contents (writes in flight during the comparison)\n");
  }
  SECTION("still different, and the mirror's changed") {
    apply_contents_recheck(verdict, first, {.primary = sum(5, "1:2"), .mirror = sum(4, "7:8")});
    CHECK(verdict.differences() == std::vector{DifferenceKind::row_count, DifferenceKind::contents});
    CHECK(render_table(verdict) ==
          "public.audit: differs, 5 rows on primary, 4 on mirror, no primary key: compared by a full hash\n"
          "  contents differ (no key to tell which rows; changed during verify: could be a write in flight)\n");
  }
  SECTION("unchanged on both sides") {
    apply_contents_recheck(verdict, first, first);
    CHECK(verdict.contents_differ);
    CHECK_FALSE(verdict.contents_in_flight);
    CHECK_FALSE(verdict.contents_settled);
  }
}

TEST_CASE("A sequence read again settles when the mirror caught up, and is in flight when one moved",
          "[unit][conflict][verify]") {
  const TableName ids{.schema = "public", .name = "orders_id_seq"};
  const auto at = [&](std::optional<std::int64_t> last_value, bool readable = true) {
    return SequenceState{.sequence = ids, .owner = {}, .readable = readable, .last_value = last_value};
  };
  const auto verdict = [&](SequenceState primary, SequenceState mirror) {
    return SequenceVerdict{.sequence = ids, .on_primary = primary, .on_mirror = mirror};
  };
  auto caught_up = verdict(at(42), at(40));
  apply_recheck(caught_up, verdict(at(42), at(42)));
  CHECK(caught_up.identical());
  CHECK(render_sequence(caught_up) ==
        "sequence public.orders_id_seq: identical, last value 42 (settled on re-check)\n");
  auto moving = verdict(at(42), at(40));
  apply_recheck(moving, verdict(at(45), at(42)));
  CHECK(render_sequence(moving) == "sequence public.orders_id_seq: differs, last value 45 on primary, 42 on mirror "
                                   "(mirror behind by 3) (moved during verify: could be a write in flight)\n");
  auto stuck = verdict(at(42), at(40));
  apply_recheck(stuck, verdict(at(42), at(40)));
  CHECK(render_sequence(stuck) ==
        "sequence public.orders_id_seq: differs, last value 42 on primary, 40 on mirror (mirror behind by 2)\n");
  auto unreadable = verdict(at(42, false), at(42, false));
  apply_recheck(unreadable, verdict(at(42, false), at(42, false)));
  CHECK_FALSE(unreadable.settled);
  CHECK_FALSE(unreadable.identical());
}

TEST_CASE("The re-check notice counts keys, or names the contents of a table without a key",
          "[unit][conflict][verify]") {
  const TableName patients{.schema = "public", .name = "patients"};
  CHECK(render_recheck_notice(patients, 1) == "re-checking 1 key of public.patients...\n");
  CHECK(render_recheck_notice(patients, 3) == "re-checking 3 keys of public.patients...\n");
  CHECK(render_recheck_notice(patients, 0) == "re-checking the contents of public.patients...\n");
  CHECK(render_sequence_recheck_notice(2) == "re-checking 2 sequences...\n");
}

TEST_CASE("The progress line shows a bar and a percentage of the estimate, or rows alone without one",
          "[unit][conflict][verify]") {
  ProgressState state{.rows_done = 500'000, .rows_expected = 1'000'000, .tables_done = 3, .tables = 12};
  CHECK(render_progress(state) == "verify [##########----------]  50%  500,000 of ~1,000,000 rows  3/12 tables");
  state.rows_done = 0;
  CHECK(render_progress(state) == "verify [--------------------]   0%  0 of ~1,000,000 rows  3/12 tables");
  state.rows_done = 1'250'000;  // estimates can be low
  CHECK(render_progress(state) == "verify [####################] 100%  1,250,000 of ~1,000,000 rows  3/12 tables");
  state.rows_expected = std::nullopt;
  CHECK(render_progress(state) == "verify  1,250,000 rows  3/12 tables");
  state.rows_expected = 0;
  state.rows_done = 999;
  state.tables = 1;
  state.tables_done = 0;
  CHECK(render_progress(state) == "verify  999 rows  0/1 table");
}

TEST_CASE("A range's upper half is checksummed from the whole and its lower half", "[unit][conflict][verify]") {
  const RangeChecksum whole{.rows = 3, .digest = std::to_string(5 ^ -9 ^ 12)};
  const RangeChecksum lower{.rows = 2, .digest = std::to_string(5 ^ -9)};
  CHECK(remainder(whole, lower) == RangeChecksum{.rows = 1, .digest = "12"});
  CHECK(remainder(whole, whole) == RangeChecksum{.rows = 0, .digest = ""});
  CHECK(remainder(whole, RangeChecksum{}) == whole);
  CHECK(remainder({.rows = 2, .digest = "0"}, {.rows = 1, .digest = "-4"}) == RangeChecksum{.rows = 1, .digest = "-4"});
  CHECK_FALSE(remainder({.rows = 2, .digest = "not a number"}, lower).has_value());
  CHECK_FALSE(remainder(lower, whole).has_value());
}
