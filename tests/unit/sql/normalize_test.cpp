#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/sql/classifier.h"

using namespace pgdual::sql;

namespace {

struct Secret {
  std::string_view sql;
  std::vector<std::string_view> literals;  // none may survive normalization
};

// pg_query_normalize replaces the constants of DML but not those of PREPARE,
// EXECUTE, CALL, NOTIFY, COMMENT, defaults, checks or views, nor comments.
const std::vector<Secret> kSecrets = {
    {"INSERT INTO patients (name, ssn, mrn) VALUES ('John Smith', '123-45-6789', 884213)",
     {"John Smith", "123-45-6789", "884213"}},
    {"SELECT * FROM visits WHERE mrn = 884213 AND note = E'Roe\\'s chart' AND score > 98.6",
     {"884213", "Roe", "98.6"}},
    {"SELECT $$dollar quoted diagnosis$$, U&'\\0041nna', B'1011', X'BEEF'",
     {"diagnosis", "0041nna", "1011", "BEEF"}},
    {"PREPARE p AS SELECT * FROM patients WHERE name = 'Jane Roe'", {"Jane Roe"}},
    {"EXECUTE p('Jane Roe', 884213)", {"Jane Roe", "884213"}},
    {"CALL admit_patient('Jane Roe', 884213)", {"Jane Roe", "884213"}},
    {"NOTIFY admissions, 'Jane Roe admitted'", {"Jane Roe"}},
    {"COMMENT ON TABLE patients IS 'contains Jane Roe'", {"Jane Roe"}},
    {"CREATE TABLE z (name text DEFAULT 'Jane Roe' CHECK (name <> 'John Smith'))",
     {"Jane Roe", "John Smith"}},
    {"CREATE VIEW roe AS SELECT * FROM patients WHERE name = 'Jane Roe'", {"Jane Roe"}},
    {"ALTER ROLE clinician PASSWORD 'hunter2'", {"hunter2"}},
    {"DO $$ BEGIN RAISE NOTICE 'Jane Roe'; END $$", {"Jane Roe"}},
    {"SET application_name = 'ward 7 Jane Roe'", {"Jane Roe"}},
    {"SELECT 1 /* patient Jane Roe */ -- mrn 884213\nFROM t", {"Jane Roe", "884213"}},
    {"SELECT $1 FROM t WHERE a = 'Jane Roe'; UPDATE t SET b = 'John Smith'",
     {"Jane Roe", "John Smith"}},
};

}  // namespace

TEST_CASE("normalized text carries none of the statement's literals or comments", "[unit][sql]") {
  Classifier classifier;
  for (const Secret& secret : kSecrets) {
    INFO("sql: " << secret.sql);
    const Classification& verdict = classifier.classify(secret.sql);
    REQUIRE(verdict.parsed);
    INFO("normalized: " << verdict.normalized);
    CHECK_FALSE(verdict.normalized.empty());
    for (const std::string_view literal : secret.literals) {
      CHECK(verdict.normalized.find(literal) == std::string::npos);
    }
  }
}

TEST_CASE("normalized text keeps the statement's shape", "[unit][sql]") {
  Classifier classifier;
  CHECK(classifier.classify("INSERT INTO t (a, b) VALUES ('x', 42)").normalized ==
        "INSERT INTO t (a, b) VALUES ($1, $2)");
  // Parameters of the extended protocol stay; new ones are numbered after them.
  CHECK(classifier.classify("EXECUTE p($1, 'x')").normalized == "EXECUTE p($1, $2)");
  CHECK(classifier.classify("SELECT 1 -- trailing comment").normalized == "SELECT $1");
  CHECK(classifier.classify("BEGIN READ ONLY").normalized == "BEGIN READ ONLY");
}

TEST_CASE("statements that differ only in constants share fingerprint and normalized text",
          "[unit][sql]") {
  Classifier classifier;
  const Classification first = classifier.classify("SELECT * FROM patients WHERE id = 1");
  const Classification& second = classifier.classify("select * from patients where id = 2");
  CHECK(first.fingerprint.size() == 16);
  CHECK(first.fingerprint == second.fingerprint);
  const Classification& other = classifier.classify("SELECT * FROM visits WHERE id = 1");
  CHECK(other.fingerprint != first.fingerprint);
  CHECK(first.normalized == "SELECT * FROM patients WHERE id = $1");
}
