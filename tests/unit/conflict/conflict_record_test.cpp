#include "conflict/conflict_record.h"

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "conflict/conflict_error.h"
#include "conflict/json.h"
#include "conflict/sha256.h"
#include "tests/unit/conflict/answers.h"

using namespace pgdual::conflict;
using pgdual::conflict::test::Answer;

namespace {

ConflictRecord sample(int number) {
  ConflictRecord record;
  record.id = "conflict-" + std::to_string(number);
  record.time = "2024-05-01T12:00:00.000123Z";
  record.idempotency_key = "pgdual-a1:" + std::to_string(1000 + number);
  record.session = {"ehr_app", "Chart \"Desk\"\n\t2 \xc3\xa9", "203.0.113.7:51234"};
  record.statement_fingerprint = "5e1f2a3b4c5d6e7f";
  record.statement_normalized = "INSERT INTO patients (mrn, name) VALUES ($1, $2) RETURNING id";
  record.tables = {"public.patients", "public.audit"};
  record.kind = ConflictKind::mirror_error;
  record.nondeterministic = {"nextval", "random"};
  record.primary = Answer{}.row({"41"}).complete("INSERT 0 1").ready('I').outcome();
  record.mirror = Answer{}
                      .error("23505", "duplicate key value violates unique constraint \"patients_mrn_key\"",
                             {{'n', "patients_mrn_key"}, {'D', "Key (mrn)=(A-4242) already exists."}})
                      .ready('I')
                      .outcome();
  return record;
}

std::vector<std::string> chain(int count) {
  std::vector<std::string> lines;
  std::string prev{kGenesisHash};
  for (int i = 0; i < count; ++i) {
    lines.push_back(to_json_line(sample(i), prev));
    prev = std::string(*claimed_hash(lines.back()));
  }
  return lines;
}

std::string canonical_form(std::string_view line) {
  return std::string(line.substr(0, line.rfind(",\"hash\":"))) + "}";
}

}  // namespace

TEST_CASE("A record is one JSON line that starts with prev and ends with its own hash", "[unit][conflict]") {
  const auto line = to_json_line(sample(1), kGenesisHash);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.starts_with("{\"prev\":\"" + std::string(kGenesisHash) + "\",\"v\":1,"));
  const auto hash = claimed_hash(line);
  REQUIRE(hash);
  CHECK(line.ends_with(",\"hash\":\"" + std::string(*hash) + "\"}"));
  CHECK(json::parse(line));
  CHECK(json::parse(canonical_form(line)));
}

TEST_CASE("The hash is SHA-256 of the previous hash followed by the canonical form", "[unit][conflict]") {
  const std::string prev = to_hex(Sha256::of("an earlier record"));
  const auto line = to_json_line(sample(2), prev);
  CHECK(*claimed_hash(line) == to_hex(Sha256::of(prev + canonical_form(line))));
}

TEST_CASE("The line format is stable", "[unit][conflict]") {
  ConflictRecord record;
  record.id = "c1";
  record.time = "2024-05-01T12:00:00Z";
  record.idempotency_key = "a1:7";
  record.session = {"app", "psql", "127.0.0.1:5000", "ehr"};
  record.statement_fingerprint = "ab12";
  record.statement_normalized = "DELETE FROM t WHERE id = $1";
  record.tables = {"public.t"};
  record.kind = ConflictKind::row_count;
  record.primary = Answer{}.complete("DELETE 1").ready('I').outcome();
  record.mirror = Answer{}.complete("DELETE 0").ready('I').outcome();
  // Checked independently with the python3 verifier in docs/conflict-log.md.
  CHECK(to_json_line(record, kGenesisHash) ==
        R"({"prev":"0000000000000000000000000000000000000000000000000000000000000000","v":1,"id":"c1",)"
        R"("time":"2024-05-01T12:00:00Z","idempotency_key":"a1:7","session":{"user":"app",)"
        R"("application_name":"psql","client_address":"127.0.0.1:5000","database":"ehr"},"statement":{"fingerprint":"ab12",)"
        R"("normalized":"DELETE FROM t WHERE id = $1"},"tables":["public.t"],"kind":"row_count",)"
        R"("nondeterministic":[],"primary":{"reachability":"reached","command_tag":"DELETE 1","row_count":1,"command_count":1,)"
        R"("tags_digest":"d040fef5465d2b93903bd24da3a3498daf59dfe68ba224f0c0059300ea528e86","rows_returned":0,)"
        R"("rows_digest":"d2d8595698bd57908e324da64519732cb7bfe4c3edaedac839a2e8a876941757","error":null,)"
        R"("transaction_status":"idle"},"mirror":{"reachability":"reached","command_tag":"DELETE 0",)"
        R"("row_count":0,"command_count":1,)"
        R"("tags_digest":"f65e5023961ccd79eeb92e110e649b28121de7f4fe7df46b9649ddefd3c1fafd",)"
        R"("rows_returned":0,"rows_digest":"d2d8595698bd57908e324da64519732cb7bfe4c3edaedac839a2e8a876941757",)"
        R"("error":null,"transaction_status":"idle"},"resolution":"open",)"
        R"("hash":"c06be50d509a374679f2910aee5749b7fce778b333575b8318c34511b69483b0"})");
}

TEST_CASE("A record reads back exactly as it was written", "[unit][conflict]") {
  auto record = sample(3);
  SECTION("with an error, returned rows and non-ASCII text") {}
  SECTION("with nothing optional set") {
    record.tables.clear();
    record.kind = ConflictKind::nondeterministic;
    record.resolution = Resolution::resolved;
    record.primary = Answer{}.complete("CREATE TABLE").outcome();
    record.mirror = Answer{}.cut_off(Reachability::timed_out).outcome();
  }
  SECTION("of a shadow read whose rows differ") {
    record.idempotency_key.clear();
    record.tables = {"public.patients"};
    record.kind = ConflictKind::read_mismatch;
    record.nondeterministic.clear();
    record.statement_normalized = "SELECT id, name FROM patients WHERE ward = $1";
    OutcomeBuilder builder{test::rows_digest_key()};
    builder.set_rows_order(OutcomeBuilder::RowsOrder::ignored);
    record.primary = Answer{}.row({"1", "ann"}).row({"2", "bob"}).complete("SELECT 2").ready('I').fold(builder);
    record.mirror = Answer{}.row({"1", "ann"}).row({"2", "bo"}).complete("SELECT 2").ready('I').fold(builder);
  }
  const auto line = to_json_line(record, kGenesisHash);
  const auto parsed = parse_json_line(line);
  REQUIRE(parsed);
  CHECK(parsed->record == record);
  CHECK(parsed->prev == kGenesisHash);
  CHECK(parsed->hash == *claimed_hash(line));
}

TEST_CASE("The log holds the redacted error, never its DETAIL", "[unit][conflict]") {
  const auto line = to_json_line(sample(4), kGenesisHash);
  CHECK(line.find("A-4242") == std::string::npos);
  CHECK(line.find(R"("error":{"sqlstate":"23505","constraint":"patients_mrn_key",)"
                  R"("message":"duplicate key value violates unique constraint \"?\""})") != std::string::npos);
}

TEST_CASE("Text that is not valid UTF-8 is stored as replacement characters", "[unit][conflict]") {
  auto record = sample(5);
  record.session.application_name = "bad\xff";
  const auto parsed = parse_json_line(to_json_line(record, kGenesisHash));
  REQUIRE(parsed);
  CHECK(parsed->record.session.application_name == "bad\xef\xbf\xbd");
}

TEST_CASE("parse_json_line tells torn lines, other versions and other objects apart", "[unit][conflict]") {
  const auto line = to_json_line(sample(6), kGenesisHash);
  CHECK(parse_json_line(line.substr(0, line.size() / 2)).error() == ConflictError::malformed_json);
  auto other_version = line;
  other_version.replace(other_version.find("\"v\":1"), 5, "\"v\":2");
  CHECK(parse_json_line(other_version).error() == ConflictError::unsupported_version);
  auto unknown_kind = line;
  unknown_kind.replace(unknown_kind.find("mirror_error"), 12, "mirror_errors");
  CHECK(parse_json_line(unknown_kind).error() == ConflictError::invalid_record);
  CHECK(parse_json_line(R"({"prev":"x","v":1,"hash":"y"})").error() == ConflictError::invalid_record);
  CHECK(parse_json_line("[]").error() == ConflictError::invalid_record);
}

TEST_CASE("An intact chain verifies and reports its head", "[unit][conflict]") {
  const auto lines = chain(5);
  const auto check = verify_chain(lines);
  CHECK_FALSE(check.first_bad);
  CHECK(check.head == *claimed_hash(lines.back()));
  CHECK_FALSE(verify_chain({}).first_bad);
  CHECK(verify_chain({}).head == kGenesisHash);
}

TEST_CASE("verify_chain finds the first record that was tampered with", "[unit][conflict]") {
  auto lines = chain(5);
  std::size_t expected_bad = 0;
  SECTION("a field changed") {
    const auto at = lines[2].find("\"row_count\":1");
    lines[2].replace(at, 13, "\"row_count\":2");
    expected_bad = 2;
  }
  SECTION("a field changed and its hash recomputed") {
    auto record = parse_json_line(lines[2])->record;
    record.kind = ConflictKind::row_count;
    lines[2] = to_json_line(record, *claimed_hash(lines[1]));
    expected_bad = 3;
  }
  SECTION("a record deleted") {
    lines.erase(lines.begin() + 2);
    expected_bad = 2;
  }
  SECTION("two records swapped") {
    std::swap(lines[1], lines[2]);
    expected_bad = 1;
  }
  SECTION("a record inserted") {
    lines.insert(lines.begin() + 3, to_json_line(sample(9), *claimed_hash(lines[1])));
    expected_bad = 3;
  }
  SECTION("the first record's prev is not genesis") {
    lines.erase(lines.begin());
    expected_bad = 0;
  }
  SECTION("a prev rewritten, hashed over the true previous hash") {
    const auto true_prev = std::string(*claimed_hash(lines[1]));
    auto canonical = canonical_form(lines[2]).replace(9, 64, std::string(64, 'f'));
    lines[2] = canonical.substr(0, canonical.size() - 1) + ",\"hash\":\"" + to_hex(Sha256::of(true_prev + canonical)) +
               "\"}";
    expected_bad = 2;
  }
  SECTION("the last line torn") {
    lines[4].resize(lines[4].size() - 10);
    expected_bad = 4;
  }
  SECTION("the hash field itself edited") {
    auto& digit = lines[3][lines[3].size() - 3];
    digit = digit == '0' ? '1' : '0';
    expected_bad = 3;
  }
  const auto check = verify_chain(lines);
  CHECK(check.first_bad == expected_bad);
  const auto last_intact = expected_bad == 0 ? kGenesisHash : *claimed_hash(lines[expected_bad - 1]);
  CHECK(check.head == last_intact);
}

TEST_CASE("Records cut from the end show only against a head kept elsewhere", "[unit][conflict]") {
  auto lines = chain(5);
  const auto anchored_head = verify_chain(lines).head;
  lines.resize(3);
  const auto check = verify_chain(lines);
  CHECK_FALSE(check.first_bad);
  CHECK(check.head != anchored_head);
}

TEST_CASE("A chain continues from a given hash, as across rotated files", "[unit][conflict]") {
  const auto lines = chain(6);
  const std::vector<std::string> older(lines.begin(), lines.begin() + 3);
  const std::vector<std::string> newer(lines.begin() + 3, lines.end());
  const auto first = verify_chain(older);
  CHECK_FALSE(verify_chain(newer, first.head).first_bad);
  CHECK(verify_chain(newer).first_bad == 0U);
}

TEST_CASE("A record written before the log carried the session's database reads with none", "[unit][conflict]") {
  auto record = sample(3);
  record.session.database = "ehr";
  auto line = to_json_line(record, kGenesisHash);
  const std::string member = R"(,"database":"ehr")";
  line.erase(line.find(member), member.size());
  const auto parsed = parse_json_line(line);
  REQUIRE(parsed);
  CHECK(parsed->record.session.database.empty());
  CHECK(parsed->record.session.user == record.session.user);
}

TEST_CASE("A resolution says who resolved it and why, inside the hash, after the resolution", "[unit][conflict]") {
  auto record = sample(4);
  record.resolution = Resolution::resolved;
  record.resolved_by = "dr.ops";
  record.resolution_note = "sequence set by hand \"INC-7\"";
  const auto line = to_json_line(record, kGenesisHash);
  CHECK_THAT(line, Catch::Contains(R"("resolution":"resolved","resolved_by":"dr.ops",)"
                                   R"("resolution_note":"sequence set by hand \"INC-7\"","hash":")"));
  CHECK(parse_json_line(line)->record == record);

  SECTION("a changed resolver breaks the chain") {
    auto forged = line;
    forged.replace(forged.find("dr.ops"), 6, "nobody");
    const std::vector<std::string> lines{forged};
    CHECK(verify_chain(lines).first_bad == 0U);
  }
  SECTION("an open record, and a resolution written before records carried them, have neither") {
    record.resolved_by.clear();
    record.resolution_note.clear();
    const auto bare = to_json_line(record, kGenesisHash);
    CHECK_THAT(bare, !Catch::Contains("resolved_by") && !Catch::Contains("resolution_note"));
    CHECK(parse_json_line(bare)->record == record);
  }
}

TEST_CASE("A read_mismatch record names its kind in the log and reads back as one", "[unit][conflict]") {
  auto record = sample(6);
  record.kind = ConflictKind::read_mismatch;
  const auto line = to_json_line(record, kGenesisHash);
  CHECK(line.find(R"("kind":"read_mismatch",)") != std::string::npos);
  const auto parsed = parse_json_line(line);
  REQUIRE(parsed);
  CHECK(parsed->record.kind == ConflictKind::read_mismatch);
  CHECK(verify_chain(std::vector<std::string>{line}).first_bad == std::nullopt);
}
