#include <pthread.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/sql/classify.h"

using namespace pgdual::sql;

namespace {

std::string repeat(std::string_view text, int times) {
  std::string repeated;
  for (int i = 0; i < times; ++i) repeated += text;
  return repeated;
}

struct Shape {
  std::string_view name;
  std::function<std::string(int)> make;  // the text nesting `n` times
};

// The ways a statement nests that libpg_query recurses on.
const std::vector<Shape> kNestedShapes = {
    {"operators", [](int n) { return "SELECT 1" + repeat("+1", n); }},
    {"NOT", [](int n) { return "SELECT " + repeat("NOT ", n) + "true"; }},
    {"unary minus", [](int n) { return "SELECT " + repeat("- ", n) + "x"; }},
    {"casts", [](int n) { return "SELECT 1" + repeat("::int", n); }},
    {"concatenation", [](int n) { return "SELECT x" + repeat(" || x", n); }},
    {"IS NULL", [](int n) { return "SELECT x" + repeat(" IS NULL", n); }},
    {"COLLATE", [](int n) { return "SELECT x" + repeat(" COLLATE \"C\"", n); }},
    {"UNION", [](int n) { return "SELECT 1, 2" + repeat(" UNION SELECT 1, 2", n); }},
    {"JOIN", [](int n) { return "SELECT * FROM t0" + repeat(" JOIN t ON a = b AND c = d", n); }},
    {"scalar subqueries", [](int n) { return "SELECT " + repeat("(SELECT ", n) + "1" + repeat(")", n); }},
    {"EXISTS", [](int n) { return "SELECT " + repeat("EXISTS (SELECT ", n) + "1" + repeat(")", n); }},
    {"FROM subqueries",
     [](int n) { return "SELECT * FROM " + repeat("(SELECT * FROM ", n) + "t" + repeat(") s", n); }},
    {"CTEs", [](int n) { return repeat("WITH a AS (", n) + "SELECT 1" + repeat(") SELECT * FROM a", n); }},
    {"function calls", [](int n) { return "SELECT " + repeat("abs(", n) + "1" + repeat(")", n); }},
    {"arrays", [](int n) { return "SELECT " + repeat("ARRAY[", n) + "1" + repeat("]", n); }},
    {"CASE", [](int n) { return "SELECT " + repeat("CASE WHEN true THEN ", n) + "1" + repeat(" END", n); }},
    {"parentheses", [](int n) { return "SELECT " + repeat("(1+", n) + "1" + repeat(")", n); }},
};

struct Probe {
  int largest_accepted = 0;
  bool accepted_parsed = false;
  int smallest_rejected = 0;
  bool rejected_too_deep = false;
};

// The largest n whose text is accepted, by doubling then bisecting.
Probe probe(const Shape& shape) {
  const FunctionCatalog catalog;
  auto accepted = [&](int n) { return classify_uncached(shape.make(n), catalog).parsed; };
  Probe result;
  int low = 1;
  int high = 2;
  while (accepted(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const int middle = low + (high - low) / 2;
    (accepted(middle) ? low : high) = middle;
  }
  result.largest_accepted = low;
  result.accepted_parsed = accepted(low);
  result.smallest_rejected = high;
  result.rejected_too_deep = classify_uncached(shape.make(high), catalog).too_deep;
  return result;
}

// Runs `work` on a thread with a stack of `bytes`, as a worker thread would.
void run_on_stack(std::size_t bytes, std::function<void()> work) {
  pthread_attr_t attributes;
  REQUIRE(pthread_attr_init(&attributes) == 0);
  REQUIRE(pthread_attr_setstacksize(&attributes, bytes) == 0);
  pthread_t thread;
  REQUIRE(pthread_create(
              &thread, &attributes,
              [](void* job) -> void* {
                (*static_cast<std::function<void()>*>(job))();
                return nullptr;
              },
              &work) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
}

}  // namespace

// The classifier needs the default 8 MiB stack; passing on half of it leaves
// the margin. A regression here is a crash, not a failed check.
TEST_CASE("the deepest text of each shape the classifier accepts parses on a 4 MiB stack",
          "[unit][sql]") {
  for (const Shape& shape : kNestedShapes) {
    Probe result;
    run_on_stack(4 << 20, [&] { result = probe(shape); });
    INFO("shape: " << shape.name << ", largest accepted n: " << result.largest_accepted);
    CHECK(result.accepted_parsed);
    CHECK(result.largest_accepted >= 200);
    CHECK(result.rejected_too_deep);
  }
}

TEST_CASE("long flat statements are not mistaken for deep ones", "[unit][sql]") {
  const FunctionCatalog catalog;
  const std::vector<std::string> flat = {
      "SELECT * FROM t WHERE " + repeat("id = 1 OR ", 20000) + "true",
      "SELECT * FROM t WHERE id IN (" + repeat("1, ", 20000) + "1)",
      "INSERT INTO t VALUES " + repeat("(1, 'x', now()), ", 20000) + "(1, 'x', now())",
      "SELECT CASE" + repeat(" WHEN a = 1 THEN 'x'", 5000) + " END",
      repeat("SELECT 1 + 1 + 1 + 1; ", 5000),
  };
  for (const std::string& sql : flat) {
    INFO("sql: " << sql.substr(0, 60) << "... (" << sql.size() << " bytes)");
    CHECK(classify_uncached(sql, catalog).parsed);
  }
}
