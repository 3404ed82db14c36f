#include "proxy/route/statement_latencies.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using std::chrono::microseconds;

void record_times(PrimaryLatencies& latencies, std::string_view fingerprint, int count, microseconds latency) {
  for (int i = 0; i < count; ++i) latencies.record(fingerprint, latency);
}

std::int64_t typical_us(const PrimaryLatencies& latencies, std::string_view fingerprint) {
  const auto typical = latencies.typical(fingerprint);
  REQUIRE(typical);
  return typical->count();
}

TEST_CASE("The mirror's latency over the primary's counts differences under a millisecond as none",
          "[unit][proxy][latency]") {
  using std::chrono::microseconds;
  CHECK(latency_ratio(microseconds{700}, microseconds{100}) == 1.0);
  CHECK(latency_ratio(microseconds{8000}, microseconds{2000}) == 4.0);
  CHECK(latency_ratio(microseconds{20000}, microseconds{150}) == 20.0);
  CHECK(latency_ratio(microseconds{500}, microseconds{4000}) == 0.25);
}

}  // namespace

TEST_CASE("A statement has no typical latency until the primary has run it a few times", "[unit][proxy][latency]") {
  PrimaryLatencies latencies;
  CHECK_FALSE(latencies.typical("a1b2c3"));
  record_times(latencies, "a1b2c3", PrimaryLatencies::kMinSamples - 1, microseconds{1500});
  CHECK_FALSE(latencies.typical("a1b2c3"));
  latencies.record("a1b2c3", microseconds{1500});
  CHECK(typical_us(latencies, "a1b2c3") == 1500);
}

TEST_CASE("The typical latency is the geometric mean, so one slow run has little say", "[unit][proxy][latency]") {
  PrimaryLatencies latencies;
  for (int i = 0; i < 8; ++i) {
    latencies.record("pair", microseconds{1000});
    latencies.record("pair", microseconds{4000});
  }
  CHECK(typical_us(latencies, "pair") == 2000);

  record_times(latencies, "steady", 40, microseconds{1000});
  latencies.record("steady", microseconds{1'000'000});  // a lock wait: a thousand times the usual
  const auto after_outlier = typical_us(latencies, "steady");
  INFO(after_outlier);
  CHECK(after_outlier > 1000);
  CHECK(after_outlier < 1600);  // e^(ln(1000) / 16) = 1.54 times the usual
  record_times(latencies, "steady", 80, microseconds{1000});
  CHECK(typical_us(latencies, "steady") <= 1005);
}

TEST_CASE("The typical latency follows a statement that became slower for good", "[unit][proxy][latency]") {
  PrimaryLatencies latencies;
  record_times(latencies, "report", 1000, microseconds{1000});
  record_times(latencies, "report", 200, microseconds{10'000});
  const auto now = typical_us(latencies, "report");
  INFO(now);
  CHECK(now >= 9900);
  CHECK(now <= 10'000);
}

TEST_CASE("Statements are kept apart, and a latency under 1 us counts as 1 us", "[unit][proxy][latency]") {
  PrimaryLatencies latencies;
  record_times(latencies, "fast", 4, microseconds{0});
  record_times(latencies, "slow", 4, microseconds{250'000});
  CHECK(typical_us(latencies, "fast") == 1);
  CHECK(typical_us(latencies, "slow") == 250'000);
  CHECK_FALSE(latencies.typical(""));
  CHECK_FALSE(latencies.typical("fas"));
}

TEST_CASE("A flood of one-off statements evicts the least recently recorded, not the busy ones",
          "[unit][proxy][latency]") {
  PrimaryLatencies latencies;
  record_times(latencies, "busy", 4, microseconds{800});
  record_times(latencies, "idle", 4, microseconds{900});
  // 25 one-off statements per set on average: every set turns over several times.
  for (int i = 0; i < 25 * static_cast<int>(PrimaryLatencies::kCapacity / PrimaryLatencies::kWays); ++i) {
    latencies.record("one-off " + std::to_string(i), microseconds{5000});
    if (i % 8 == 0) latencies.record("busy", microseconds{800});
  }
  CHECK(typical_us(latencies, "busy") == 800);
  CHECK_FALSE(latencies.typical("idle"));
}

TEST_CASE("Sessions record and read typical latencies from many threads at once", "[unit][proxy][latency]") {
  PrimaryLatencies latencies;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&latencies, t] {
      for (int i = 0; i < 20'000; ++i) {
        const auto fingerprint = "statement " + std::to_string(i % 64);
        latencies.record(fingerprint, microseconds{100 + 100 * (i % 64)});
        static_cast<void>(latencies.typical("statement " + std::to_string((i + t) % 64)));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(typical_us(latencies, "statement 0") == 100);
  CHECK(typical_us(latencies, "statement 63") == 6400);
}

}  // namespace pgdual::proxy
