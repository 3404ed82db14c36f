// The content of pgdual.ddl messages (proxy/mirror/ddl_message.h): decoded without a database.
#include "proxy/mirror/ddl_message.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace pgdual::proxy {
namespace {

using namespace std::string_view_literals;

TEST_CASE("a pgdual.ddl message gives the role, the search_path and the statement text", "[wal][ddl]") {
  const auto decoded = decode_ddl_message("clinician\n\"$user\", public\nCREATE TABLE visits (id int)");
  REQUIRE(decoded);
  CHECK(decoded->role == "clinician");
  CHECK(decoded->search_path == "\"$user\", public");
  CHECK(decoded->statement == "CREATE TABLE visits (id int)");
}

TEST_CASE("the statement text keeps its newlines and every statement in it", "[wal][ddl]") {
  const auto decoded =
      decode_ddl_message("app\nclinic\nCREATE TABLE a (id int);\n\nCREATE TABLE b (\n  note text\n);\n");
  REQUIRE(decoded);
  CHECK(decoded->search_path == "clinic");
  CHECK(decoded->statement == "CREATE TABLE a (id int);\n\nCREATE TABLE b (\n  note text\n);\n");
}

TEST_CASE("an empty search_path is one the primary's session had", "[wal][ddl]") {
  const auto decoded = decode_ddl_message("app\n\nDROP TABLE public.t");
  REQUIRE(decoded);
  CHECK(decoded->search_path.empty());
  CHECK(decoded->statement == "DROP TABLE public.t");
}

TEST_CASE("malformed pgdual.ddl content is refused without quoting it", "[wal][ddl]") {
  struct Case {
    std::string_view content;
    std::string_view why;
  };
  const auto [content, why] = GENERATE(values<Case>({
      {"", "no line break"},
      {"app CREATE TABLE secret_42 (id int)", "no line break"},
      {"app\nCREATE TABLE secret_42 (id int)", "one line break"},
      {"\npublic\nCREATE TABLE secret_42 (id int)", "role is empty"},
      {"app\npublic\n", "statement is empty"},
      {"app\npublic\n \n\t ", "statement is empty"},
      {"app\npublic\nCREATE TABLE secret_42 (id int)\0;"sv, "NUL"},
  }));
  CAPTURE(content);
  const auto decoded = decode_ddl_message(content);
  REQUIRE_FALSE(decoded);
  CHECK_THAT(decoded.error(), Catch::Contains(std::string{why}));
  CHECK_THAT(decoded.error(), !Catch::Contains("secret_42"));
}

TEST_CASE("a DDL is summarized without its constants", "[wal][ddl]") {
  const auto summary = ddl_summary("CREATE TABLE dosage (mg int DEFAULT 4242, label text DEFAULT 'morphine')");
  CHECK_THAT(summary, Catch::StartsWith("CREATE TABLE dosage"));
  CHECK_THAT(summary, !Catch::Contains("4242") && !Catch::Contains("morphine"));
  CHECK_THAT(ddl_summary("-- by Dr. Who\nALTER TABLE t ADD COLUMN c int"), !Catch::Contains("Who"));
}

TEST_CASE("a DDL the parser cannot read is summarized by its leading keywords", "[wal][ddl]") {
  CHECK(ddl_summary("create table t (id int) with syntax 'from the future'") == "CREATE TABLE");
  CHECK(ddl_summary("  FROBNICATE  ") == "FROBNICATE");
  CHECK(ddl_summary("FROBNICATE 'secret'") == "FROBNICATE");
  CHECK(ddl_summary("FROBNICATE t1 'secret'") == "FROBNICATE");
  CHECK(ddl_summary("'secret' FROBNICATE") == "DDL");
}

TEST_CASE("a non-transactional message may carry one schema change that must run alone, nothing else",
          "[wal][ddl]") {
  CHECK(runs_alone("CREATE INDEX CONCURRENTLY i ON t (a)"));
  CHECK(runs_alone("DROP INDEX CONCURRENTLY IF EXISTS i"));
  CHECK_FALSE(runs_alone("DROP TABLE chart"));
  CHECK_FALSE(runs_alone("CREATE INDEX i ON t (a)"));
  CHECK_FALSE(runs_alone("VACUUM t"));
  CHECK_FALSE(runs_alone("CREATE INDEX CONCURRENTLY i ON t (a); DROP TABLE chart"));
  CHECK_FALSE(runs_alone("CREATE INDEX CONCURRENTLY i ON t (a"));
}

}  // namespace
}  // namespace pgdual::proxy
