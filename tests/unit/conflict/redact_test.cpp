#include "conflict/redact.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using pgdual::conflict::kMaxRedactedMessageBytes;
using pgdual::conflict::redact_error_message;
using pgdual::protocol::ErrorFields;

namespace {

struct Row {
  const char* scenario;
  const char* sqlstate;
  const char* message;
  const char* redacted;
};

ErrorFields error(std::string_view sqlstate, std::string_view message, std::string_view routine = "") {
  ErrorFields fields{{{'S', "ERROR"}, {'C', sqlstate}, {'M', message}}};
  if (!routine.empty()) fields.fields.push_back({'R', routine});
  return fields;
}

}  // namespace

TEST_CASE("Error messages keep their wording and lose every value", "[unit][conflict]") {
  const auto row = GENERATE(values<Row>({
      {"identifiers in quotes are hidden too; the constraint is kept apart", "23505",
       "duplicate key value violates unique constraint \"patients_pkey\"",
       "duplicate key value violates unique constraint \"?\""},
      {"a value after a colon", "22P02", "invalid input syntax for type integer: \"4a2\"",
       "invalid input syntax for type integer: \"?\""},
      {"a value holding a quote is one value", "22P02", "invalid input syntax for type json: \"Jane \"JD\" Doe\"",
       "invalid input syntax for type json: \"?\""},
      {"two quoted names merge into one", "23502",
       "null value in column \"mrn\" of relation \"patients\" violates not-null constraint",
       "null value in column \"?\" violates not-null constraint"},
      {"a number in quotes", "22003", "value \"123456789012\" is out of range for type integer",
       "value \"?\" is out of range for type integer"},
      {"single quotes", "22023", "unrecognized value 'O''Brien' for option", "unrecognized value '?' for option"},
      {"parentheses", "42883", "function lookup_patient(integer, text) does not exist",
       "function lookup_patient(?) does not exist"},
      {"nested parentheses", "42601", "bad row ((1, 'a'), 2) here", "bad row (?) here"},
      {"bare numbers", "22001", "value too long for type character varying(10) in column 3",
       "value too long for type character varying(?) in column ?"},
      {"an unterminated quote hides the rest", "22P02", "invalid input: \"Smith, John born 1970",
       "invalid input: \"?\""},
      {"an unclosed parenthesis hides the rest", "42601", "syntax error near (SELECT 'secret'",
       "syntax error near (?)"},
      {"a message with nothing to hide", "40P01", "deadlock detected", "deadlock detected"},
      {"PL/pgSQL RAISE text is dropped whole", "P0001", "patient Jane Doe has no chart", ""},
      {"PL/pgSQL ASSERT text is dropped whole", "P0004", "chart 77 for Jane Doe is locked", ""},
  }));
  CAPTURE(row.scenario);
  CHECK(redact_error_message(error(row.sqlstate, row.message)) == row.redacted);
}

TEST_CASE("A RAISE that borrows a standard SQLSTATE is dropped whole too", "[unit][conflict]") {
  const auto raised = error("23505", "patient Jane Doe already admitted", "exec_stmt_raise");
  CHECK(redact_error_message(raised).empty());
  const auto core = error("23505", "duplicate key value violates unique constraint \"x\"", "_bt_check_unique");
  CHECK_FALSE(redact_error_message(core).empty());
}

TEST_CASE("Long messages are cut at a character boundary", "[unit][conflict]") {
  std::string message;
  for (int i = 0; i < 150; ++i) message += "\xc3\xa9";  // é, two bytes
  message = "x" + message;                               // so the limit falls inside a character
  const auto redacted = redact_error_message(error("XX000", message));
  CHECK(redacted.size() == kMaxRedactedMessageBytes - 1);
  CHECK(redacted.back() == '\xa9');
}
