#include "conflict/outcome.h"

#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include "conflict/sha256.h"
#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "tests/unit/conflict/answers.h"

using namespace pgdual::conflict;
using namespace std::string_literals;
using pgdual::conflict::test::Answer;
using pgdual::conflict::test::rows_digest_key;
using pgdual::protocol::TransactionStatus;

namespace {

struct CountRow {
  const char* tag;
  std::optional<std::uint64_t> count;
};

// The body of a DataRow as it travels: Int16 column count, then Int32 length and bytes per column.
std::string data_row_body(std::string_view first, std::string_view second) {
  auto length = [](std::string_view text) {
    return std::string{'\0', '\0', '\0', static_cast<char>(text.size())};
  };
  return std::string{'\0', '\2'} + length(first) + std::string(first) + length(second) + std::string(second);
}

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-2 test vector", "[unit][conflict]") {
  CHECK(to_hex(Sha256::of("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(digest_from_hex(to_hex(Sha256::of("abc"))) == Sha256::of("abc"));
  CHECK_FALSE(digest_from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  CHECK_FALSE(digest_from_hex("ba78"));
}

TEST_CASE("SHA-256 fed in pieces equals SHA-256 of the whole, and starts over after finish", "[unit][conflict]") {
  Sha256 hash;
  hash.update(std::string_view{"a"});
  hash.update(std::string_view{"bc"});
  CHECK(hash.finish() == Sha256::of("abc"));
  CHECK(hash.finish() == Sha256::of(""));
}

TEST_CASE("HMAC-SHA-256 matches RFC 4231 and starts over under the same key", "[unit][conflict]") {
  HmacSha256 mac{pgdual::protocol::as_bytes("Jefe")};
  mac.update(std::string_view{"what do ya "});
  mac.update(std::string_view{"want for nothing?"});
  const auto expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  CHECK(to_hex(mac.finish()) == expected);
  mac.update(std::string_view{"what do ya want for nothing?"});
  CHECK(to_hex(mac.finish()) == expected);
}

TEST_CASE("HMAC-SHA-256 of nothing is the MAC of the empty message, before and after data", "[unit][conflict]") {
  HmacSha256 mac{pgdual::protocol::as_bytes("Jefe")};
  const auto of_nothing = "923598ca6d64af2a5dba79dcd021a8a0fe5c5f557519adaaf0ad532d4506dd30";  // openssl dgst -hmac
  CHECK(to_hex(mac.finish()) == of_nothing);
  mac.update(std::string_view{});
  CHECK(to_hex(mac.finish()) == of_nothing);
  mac.update(std::string_view{"what do ya want for nothing?"});
  CHECK(to_hex(mac.finish()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(to_hex(mac.finish()) == of_nothing);
  HmacSha256 moved{std::move(mac)};
  moved.update(std::string_view{"what do ya want for nothing?"});
  CHECK(to_hex(moved.finish()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("The rows digest depends on the key, and short keys are refused", "[unit][conflict]") {
  const auto answer = Answer{}.row({"42"}).complete("INSERT 0 1").ready('I');
  OutcomeBuilder other{pgdual::protocol::as_bytes("another-deployment-rows-digest-k")};
  CHECK(answer.fold(other).rows_digest != answer.outcome().rows_digest);
  CHECK_THROWS_AS(OutcomeBuilder{pgdual::protocol::as_bytes("too short")}, std::invalid_argument);
}

TEST_CASE("parse_row_count reads the count of every counted command tag", "[unit][conflict]") {
  const auto row = GENERATE(values<CountRow>({
      {"INSERT 0 1", 1},
      {"INSERT 0 250", 250},
      {"UPDATE 0", 0},
      {"DELETE 18446744073709551615", 18446744073709551615ULL},
      {"MERGE 3", 3},
      {"SELECT 7", 7},
      {"MOVE 2", 2},
      {"FETCH 5", 5},
      {"COPY 1000", 1000},
      {"CREATE TABLE", std::nullopt},
      {"BEGIN", std::nullopt},
      {"COMMIT", std::nullopt},
      {"INSERT 0 ", std::nullopt},
      {"UPDATE x", std::nullopt},
      {"UPDATE 18446744073709551616", std::nullopt},
      {"UPDATE -1", std::nullopt},
      {"LISTEN 5", std::nullopt},
      {"", std::nullopt},
  }));
  CAPTURE(row.tag);
  CHECK(parse_row_count(row.tag) == row.count);
}

TEST_CASE("An autocommit INSERT becomes its tag, count and transaction status", "[unit][conflict]") {
  const auto outcome = Answer{}.complete("INSERT 0 1").ready('I').outcome();
  CHECK(outcome.reachability == Reachability::reached);
  CHECK(outcome.command_tag == "INSERT 0 1");
  CHECK(outcome.row_count == 1U);
  CHECK(outcome.command_count == 1);
  CHECK(outcome.rows_returned == 0);
  CHECK(outcome.rows_digest == HmacSha256{rows_digest_key()}.finish());
  CHECK_FALSE(outcome.error);
  CHECK(outcome.transaction_status == TransactionStatus::idle);
}

TEST_CASE("A transaction's counts add up and its last tag and status are kept", "[unit][conflict]") {
  const auto outcome = Answer{}
                           .complete("BEGIN").ready('T')
                           .complete("INSERT 0 2").ready('T')
                           .complete("UPDATE 3").ready('T')
                           .complete("COMMIT").ready('I')
                           .outcome();
  CHECK(outcome.command_tag == "COMMIT");
  CHECK(outcome.row_count == 5U);
  CHECK(outcome.command_count == 4);
  CHECK(outcome.tags_digest == Sha256::of("BEGIN\0INSERT 0 2\0UPDATE 3\0COMMIT\0"s));
  CHECK(outcome.transaction_status == TransactionStatus::idle);
}

TEST_CASE("Tags without counts leave the row count empty", "[unit][conflict]") {
  const auto outcome = Answer{}.complete("CREATE TABLE").ready('I').outcome();
  CHECK(outcome.command_tag == "CREATE TABLE");
  CHECK_FALSE(outcome.row_count);
}

TEST_CASE("The rows digest is SHA-256 over the DataRow bodies in order", "[unit][conflict]") {
  const auto outcome =
      Answer{}.row({"1", "ann"}).row({"2", "bob"}).complete("INSERT 0 2").ready('I').outcome();
  CHECK(outcome.rows_returned == 2);
  HmacSha256 expected{rows_digest_key()};
  expected.update(data_row_body("1", "ann") + data_row_body("2", "bob"));
  CHECK(outcome.rows_digest == expected.finish());

  const auto reordered = Answer{}.row({"2", "bob"}).row({"1", "ann"}).complete("INSERT 0 2").ready('I').outcome();
  CHECK(reordered.rows_digest != outcome.rows_digest);
  const auto with_null = Answer{}.row({"1", std::nullopt}).complete("INSERT 0 1").ready('I').outcome();
  const auto with_empty = Answer{}.row({"1", ""}).complete("INSERT 0 1").ready('I').outcome();
  CHECK(with_null.rows_digest != with_empty.rows_digest);
}

TEST_CASE("Only the first error is kept, without DETAIL and with its message redacted", "[unit][conflict]") {
  const auto outcome = Answer{}
                           .complete("BEGIN")
                           .error("23505", "duplicate key value violates unique constraint \"patients_pkey\"",
                                  {{'D', "Key (mrn)=(A-4242) already exists."}, {'n', "patients_pkey"}})
                           .error("25P02", "current transaction is aborted, commands ignored until end of "
                                           "transaction block")
                           .ready('E')
                           .outcome();
  REQUIRE(outcome.error);
  CHECK(outcome.error->sqlstate == "23505");
  CHECK(outcome.error->constraint == "patients_pkey");
  CHECK(outcome.error->message == "duplicate key value violates unique constraint \"?\"");
  CHECK(outcome.transaction_status == TransactionStatus::failed);
}

TEST_CASE("Messages that are not part of the answer are ignored", "[unit][conflict]") {
  std::vector<std::byte> bytes;
  pgdual::protocol::Writer writer{bytes};
  encode(pgdual::protocol::ParameterStatus{"TimeZone", "UTC"}, writer);
  encode(pgdual::protocol::RowDescription{}, writer);
  encode(pgdual::protocol::ParseComplete{}, writer);
  OutcomeBuilder builder{rows_digest_key()};
  pgdual::protocol::Bytes rest{bytes};
  while (!rest.empty()) {
    const auto frame = pgdual::protocol::peek_frame(rest, pgdual::protocol::kDefaultMaxMessageBody);
    REQUIRE(frame);
    REQUIRE(builder.add(*frame));
    rest = rest.subspan(frame->wire_size());
  }
  const auto with_notice = Answer{}.notice("table \"t\" does not exist, skipping").complete("DROP TABLE").ready('I');
  CHECK(with_notice.fold(builder) == Answer{}.complete("DROP TABLE").ready('I').outcome());
}

TEST_CASE("A malformed message is reported and leaves the builder unchanged", "[unit][conflict]") {
  OutcomeBuilder builder{rows_digest_key()};
  REQUIRE(builder.add('C', pgdual::protocol::as_bytes(std::string_view{"INSERT 0 1\0", 11})));
  CHECK(builder.add('Z', pgdual::protocol::as_bytes("X")).error() == pgdual::protocol::CodecError::unexpected_value);
  CHECK(builder.add('C', pgdual::protocol::as_bytes("no terminator")).error() ==
        pgdual::protocol::CodecError::missing_terminator);
  CHECK(builder.add('E', pgdual::protocol::as_bytes("Cunterminated")).error() ==
        pgdual::protocol::CodecError::missing_terminator);
  const auto outcome = builder.finish();
  CHECK(outcome.command_tag == "INSERT 0 1");
  CHECK(outcome.command_count == 1);
  CHECK_FALSE(outcome.transaction_status);
  CHECK_FALSE(outcome.error);
}

TEST_CASE("finish starts the next unit from scratch", "[unit][conflict]") {
  OutcomeBuilder builder{rows_digest_key()};
  const auto first = Answer{}.row({"1"}).complete("INSERT 0 1").error("23505", "x").ready('E').cut_off(
      Reachability::timed_out);
  const auto second = Answer{}.complete("UPDATE 2").ready('I');
  (void)first.fold(builder);
  CHECK(second.fold(builder) == second.outcome());
}

TEST_CASE("An answer cut off keeps what arrived before", "[unit][conflict]") {
  const auto outcome = Answer{}.complete("INSERT 0 1").cut_off(Reachability::timed_out).outcome();
  CHECK(outcome.reachability == Reachability::timed_out);
  CHECK(outcome.command_tag == "INSERT 0 1");
  CHECK_FALSE(outcome.transaction_status);
}

namespace {

using RowsOrder = OutcomeBuilder::RowsOrder;

Outcome unordered_outcome(const Answer& answer) {
  OutcomeBuilder builder{rows_digest_key()};
  builder.set_rows_order(RowsOrder::ignored);
  return answer.fold(builder);
}

// The ignored order's digest computed another way: the sum byte by byte, least significant first.
Digest multiset_digest(const std::vector<std::string>& bodies) {
  Digest sum{};
  for (const auto& body : bodies) {
    const Digest hash = Sha256::of(body);
    unsigned carry = 0;
    for (std::size_t i = sum.size(); i-- > 0;) {
      const unsigned total = std::to_integer<unsigned>(sum[i]) + std::to_integer<unsigned>(hash[i]) + carry;
      sum[i] = static_cast<std::byte>(total & 0xffU);
      carry = total >> 8U;
    }
  }
  HmacSha256 mac{rows_digest_key()};
  mac.update(sum);
  return mac.finish();
}

// Feeds each DataRow body in parts of `part_size` bytes, as a streaming relay does.
void stream_row(OutcomeBuilder& builder, std::string_view body, std::size_t part_size) {
  for (std::size_t offset = 0; offset < body.size(); offset += part_size) {
    builder.add_row_part(pgdual::protocol::as_bytes(body.substr(offset, part_size)), offset == 0);
  }
}

}  // namespace

TEST_CASE("Rows in the ignored order digest the multiset: any order gives the same digest", "[unit][conflict]") {
  const auto outcome =
      unordered_outcome(Answer{}.row({"1", "ann"}).row({"2", "bob"}).row({"3", "cy"}).complete("SELECT 3").ready('I'));
  CHECK(outcome.rows_returned == 3);
  CHECK(outcome.rows_digest ==
        multiset_digest({data_row_body("1", "ann"), data_row_body("2", "bob"), data_row_body("3", "cy")}));
  const auto reordered =
      unordered_outcome(Answer{}.row({"3", "cy"}).row({"1", "ann"}).row({"2", "bob"}).complete("SELECT 3").ready('I'));
  CHECK(reordered.rows_digest == outcome.rows_digest);
  CHECK(reordered == outcome);

  const auto kept = Answer{}.row({"1", "ann"}).row({"2", "bob"}).row({"3", "cy"}).complete("SELECT 3").ready('I');
  CHECK(kept.outcome().rows_digest != outcome.rows_digest);
}

TEST_CASE("Rows in the ignored order still tell rows, duplicates and NULLs apart", "[unit][conflict]") {
  const auto once = unordered_outcome(Answer{}.row({"1", "ann"}).row({"2", "bob"}).complete("SELECT 2").ready('I'));
  const auto twice = unordered_outcome(
      Answer{}.row({"1", "ann"}).row({"2", "bob"}).row({"2", "bob"}).complete("SELECT 3").ready('I'));
  const auto other_twice = unordered_outcome(
      Answer{}.row({"1", "ann"}).row({"1", "ann"}).row({"2", "bob"}).complete("SELECT 3").ready('I'));
  const auto changed = unordered_outcome(Answer{}.row({"1", "ann"}).row({"2", "bo"}).complete("SELECT 2").ready('I'));
  const auto with_null = unordered_outcome(Answer{}.row({"1", std::nullopt}).complete("SELECT 1").ready('I'));
  const auto with_empty = unordered_outcome(Answer{}.row({"1", ""}).complete("SELECT 1").ready('I'));
  CHECK(twice.rows_digest != once.rows_digest);
  CHECK(twice.rows_digest != other_twice.rows_digest);
  CHECK(changed.rows_digest != once.rows_digest);
  CHECK(with_null.rows_digest != with_empty.rows_digest);
  // Columns are not shuffled: the order inside a row is part of it.
  CHECK(unordered_outcome(Answer{}.row({"a", "b"}).complete("SELECT 1").ready('I')).rows_digest !=
        unordered_outcome(Answer{}.row({"b", "a"}).complete("SELECT 1").ready('I')).rows_digest);
}

TEST_CASE("Rows streamed in parts digest as whole DataRows, in the ignored order too", "[unit][conflict]") {
  const std::vector<std::string> bodies = {data_row_body("1", "ann"), data_row_body("22", "bobby"),
                                           data_row_body("3", "")};
  for (const auto order : {RowsOrder::kept, RowsOrder::ignored}) {
    OutcomeBuilder whole{rows_digest_key()};
    whole.set_rows_order(order);
    for (const auto& body : bodies) REQUIRE(whole.add('D', pgdual::protocol::as_bytes(body)));
    const auto expected = whole.finish();
    for (const std::size_t part_size : {std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{1000}}) {
      INFO("order " << (order == RowsOrder::kept ? "kept" : "ignored") << ", parts of " << part_size);
      OutcomeBuilder streamed{rows_digest_key()};
      streamed.set_rows_order(order);
      for (const auto& body : bodies) stream_row(streamed, body, part_size);
      CHECK(streamed.finish() == expected);

      // A streamed row ends where a whole DataRow starts, and the other way round.
      OutcomeBuilder mixed{rows_digest_key()};
      mixed.set_rows_order(order);
      stream_row(mixed, bodies[0], part_size);
      REQUIRE(mixed.add('D', pgdual::protocol::as_bytes(bodies[1])));
      stream_row(mixed, bodies[2], part_size);
      CHECK(mixed.finish() == expected);
    }
  }
}

TEST_CASE("Without rows both orders give the MAC of nothing", "[unit][conflict]") {
  const auto answer = Answer{}.complete("SELECT 0").ready('I');
  const auto unordered = unordered_outcome(answer);
  CHECK(unordered.rows_digest == answer.outcome().rows_digest);
  CHECK(unordered.rows_digest == hmac_sha256(rows_digest_key(), ""));
  CHECK(unordered.rows_returned == 0);
}

TEST_CASE("The rows order persists across finish and each unit starts its sum from zero", "[unit][conflict]") {
  OutcomeBuilder builder{rows_digest_key()};
  builder.set_rows_order(RowsOrder::ignored);
  const auto first = Answer{}.row({"1"}).row({"2"}).complete("SELECT 2").ready('I');
  const auto second = Answer{}.row({"3"}).complete("SELECT 1").ready('I');
  CHECK(first.fold(builder) == unordered_outcome(first));
  CHECK(second.fold(builder) == unordered_outcome(second));
  CHECK(Answer{}.complete("SELECT 0").ready('I').fold(builder).rows_digest == hmac_sha256(rows_digest_key(), ""));

  builder.set_rows_order(RowsOrder::kept);
  CHECK(first.fold(builder) == first.outcome());
}

TEST_CASE("The ignored order's digest depends on the key", "[unit][conflict]") {
  const auto answer = Answer{}.row({"42"}).complete("SELECT 1").ready('I');
  OutcomeBuilder other{pgdual::protocol::as_bytes("another-deployment-rows-digest-k")};
  other.set_rows_order(RowsOrder::ignored);
  CHECK(answer.fold(other).rows_digest != unordered_outcome(answer).rows_digest);
}

TEST_CASE("The ignored order's sum carries across all of its 256 bits", "[unit][conflict]") {
  // A hundred hashes overflow every byte of the sum many times over.
  std::vector<std::string> bodies;
  Answer forward;
  for (int i = 0; i < 100; ++i) {
    bodies.push_back(data_row_body(std::to_string(i), "x"));
    forward.row({std::to_string(i), "x"});
  }
  Answer backward;
  for (int i = 99; i >= 0; --i) backward.row({std::to_string(i), "x"});
  const auto outcome = unordered_outcome(forward.complete("SELECT 100").ready('I'));
  CHECK(outcome.rows_digest == multiset_digest(bodies));
  CHECK(unordered_outcome(backward.complete("SELECT 100").ready('I')).rows_digest == outcome.rows_digest);
}
