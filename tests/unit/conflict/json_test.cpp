#include "conflict/json.h"

#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "conflict/conflict_error.h"

namespace json = pgdual::conflict::json;
using pgdual::conflict::ConflictError;

namespace {

struct EscapeRow {
  const char* scenario;
  std::string input;
  std::string output;
};

std::string quoted(std::string_view text) {
  std::string out;
  json::append_string(out, text);
  return out;
}

}  // namespace

TEST_CASE("Strings are escaped so that any bytes make one valid JSON line", "[unit][conflict]") {
  using namespace std::string_literals;
  const auto row = GENERATE(values<EscapeRow>({
      {"plain text", "patients", R"("patients")"},
      {"quote and backslash", R"(a"b\c)", R"("a\"b\\c")"},
      {"line breaks and tabs", "a\nb\rc\td", R"("a\nb\rc\td")"},
      {"backspace and form feed", "\b\f", R"("\b\f")"},
      {"NUL and other control characters", "a\0b\x01\x1f"s, R"("a\u0000b\u0001\u001f")"},
      {"DEL", "\x7f", R"("\u007f")"},
      {"two-, three- and four-byte characters pass unchanged", "Z\xc3\xbcrich \xe6\x9d\xb1 \xf0\x9f\x98\x80",
       "\"Z\xc3\xbcrich \xe6\x9d\xb1 \xf0\x9f\x98\x80\""},
      {"line and paragraph separators", "a\xe2\x80\xa8z\xe2\x80\xa9", R"("a\u2028z\u2029")"},
      {"a lone high byte", "a\xff" "b", R"("a\ufffdb")"},
      {"a stray continuation byte", "\x80", R"("\ufffd")"},
      {"an overlong slash", "\xc0\xaf", R"("\ufffd\ufffd")"},
      {"an overlong three-byte form", "\xe0\x80\xaf", R"("\ufffd\ufffd\ufffd")"},
      {"a UTF-16 surrogate", "\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},
      {"a code point above U+10FFFF", "\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"a sequence cut by the end", "ok\xe6\x9d", R"("ok\ufffd\ufffd")"},
      {"a sequence cut by ASCII", "\xe6\x9d" "a", R"("\ufffd\ufffda")"},
  }));
  CAPTURE(row.scenario);
  CHECK(quoted(row.input) == row.output);
}

TEST_CASE("Escaped strings read back as the text, with bad bytes replaced", "[unit][conflict]") {
  const std::uint32_t seed = 20240501;
  CAPTURE(seed);
  std::mt19937 random{seed};
  std::uniform_int_distribution<int> byte{0, 255};
  std::uniform_int_distribution<int> length{0, 40};
  for (int round = 0; round < 2000; ++round) {
    std::string input;
    for (int i = length(random); i > 0; --i) input.push_back(static_cast<char>(byte(random)));
    const auto text = quoted(input);
    CAPTURE(text);
    CHECK(text.find_first_of("\n\r") == std::string::npos);
    const auto parsed = json::parse(text);
    REQUIRE(parsed);
    const auto* read_back = parsed->get<std::string>();
    REQUIRE(read_back);
    if (text.find("\\ufffd") == std::string::npos) {
      CHECK(*read_back == input);
    } else {
      // What was read back is valid UTF-8, so it survives another round unchanged.
      CHECK(*json::parse(quoted(*read_back))->get<std::string>() == *read_back);
    }
  }
}

TEST_CASE("parse reads objects, arrays, strings, integers, booleans and null", "[unit][conflict]") {
  const auto value =
      json::parse(R"( {"a": [1, 18446744073709551615, true, false, null], "b": {"c": "\u00e9\ud83d\ude00\/"}} )");
  REQUIRE(value);
  const auto* array = value->find("a")->get<json::Array>();
  REQUIRE(array);
  REQUIRE(array->size() == 5);
  CHECK(*(*array)[0].get<std::uint64_t>() == 1);
  CHECK(*(*array)[1].get<std::uint64_t>() == 18446744073709551615ULL);
  CHECK(*(*array)[2].get<bool>());
  CHECK_FALSE(*(*array)[3].get<bool>());
  CHECK((*array)[4].is_null());
  CHECK(*value->find("b")->find("c")->get<std::string>() == "\xc3\xa9\xf0\x9f\x98\x80/");
  CHECK(value->find("missing") == nullptr);
}

TEST_CASE("parse rejects what the log never writes", "[unit][conflict]") {
  const auto text = GENERATE(as<std::string>{}, R"({"a":1} x)", R"({"a":1,"a":2})", R"("\ud800")",
                             R"("\udc00\ud800")", R"(-1)", R"(1.5)", R"(1e3)", R"(01)", R"(18446744073709551616)",
                             R"("unterminated)", "\"raw\nnewline\"", R"({"a" 1})", R"([1,])", R"({,})", R"(tru)",
                             R"("\x")", R"("\u12")", "", std::string(40, '[') + std::string(40, ']'));
  CAPTURE(text);
  const auto parsed = json::parse(text);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error() == ConflictError::malformed_json);
}
