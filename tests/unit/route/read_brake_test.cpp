#include "proxy/route/read_brake.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = ReadBrake::Clock;

// A fake clock's start, well clear of the epoch.
const Clock::time_point kStart = Clock::time_point{} + std::chrono::hours(1000);

constexpr microseconds kFast{2000};

void record_reads(ReadBrake& brake, Backend backend, Clock::time_point at, int count, ReadResult result,
                  microseconds latency = kFast) {
  for (int i = 0; i < count; ++i) brake.record(backend, at, latency, result);
}

void record_ratios(ReadBrake& brake, Clock::time_point at, int count, double ratio) {
  for (int i = 0; i < count; ++i) brake.record_relative(at, ratio);
}

// The brake with the absolute latency ceiling at 1 s, which is off by default.
config::BrakeConfig with_p99_ceiling() {
  config::BrakeConfig config;
  config.p99_latency = milliseconds{1000};
  return config;
}

// A latency distribution's true percentile next to the window's estimate.
void check_percentiles(const std::vector<std::int64_t>& latencies) {
  ReadWindow window(seconds{60});
  for (const auto latency : latencies) window.record(kStart, microseconds{latency}, false);
  std::vector<std::int64_t> sorted = latencies;
  std::ranges::sort(sorted);
  const auto at_rank = [&](double fraction) {
    const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return static_cast<double>(sorted[rank - 1]);
  };
  const auto snapshot = window.snapshot(kStart);
  INFO("p50 " << snapshot.p50.count() << " vs " << at_rank(0.5) << ", p99 " << snapshot.p99.count() << " vs "
              << at_rank(0.99));
  CHECK(std::abs(static_cast<double>(snapshot.p50.count()) - at_rank(0.5)) <= 0.1 * at_rank(0.5));
  CHECK(std::abs(static_cast<double>(snapshot.p99.count()) - at_rank(0.99)) <= 0.1 * at_rank(0.99));
}

}  // namespace

TEST_CASE("The brake trips when the mirror's error rate passes the threshold", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  record_reads(brake, Backend::mirror, kStart, 97, ReadResult::ok());
  record_reads(brake, Backend::mirror, kStart + seconds{1}, 2, ReadResult::connection_error());
  CHECK_FALSE(brake.check(kStart + seconds{2}));  // 2 of 99 reads: below min_reads

  record_reads(brake, Backend::mirror, kStart + seconds{2}, 1, ReadResult::sql_error("42P01"));
  const auto trip = brake.check(kStart + seconds{2});
  REQUIRE(trip);
  CHECK(trip->cause == BrakeTrip::Cause::error_rate);
  CHECK(trip->reason == "error rate 3.0% over 60 s > 2%");
  CHECK(brake.tripped());
}

TEST_CASE("An error rate exactly at the threshold does not trip the brake", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  record_reads(brake, Backend::mirror, kStart, 98, ReadResult::ok());
  record_reads(brake, Backend::mirror, kStart, 2, ReadResult::connection_error());
  CHECK_FALSE(brake.check(kStart));
  CHECK(brake.snapshot(Backend::mirror, kStart).error_rate_percent == 2.0);
}

TEST_CASE("The brake trips once, and after reset judges only newer reads", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  record_reads(brake, Backend::mirror, kStart, 100, ReadResult::connection_error());
  REQUIRE(brake.check(kStart));
  CHECK_FALSE(brake.check(kStart));
  record_reads(brake, Backend::mirror, kStart + seconds{1}, 100, ReadResult::connection_error());
  CHECK_FALSE(brake.check(kStart + seconds{1}));

  brake.reset();
  CHECK_FALSE(brake.tripped());
  CHECK(brake.snapshot(Backend::mirror, kStart + seconds{2}).reads == 0);
  CHECK_FALSE(brake.check(kStart + seconds{2}));
  record_reads(brake, Backend::mirror, kStart + seconds{2}, 100, ReadResult::connection_error());
  CHECK(brake.check(kStart + seconds{2}));
}

TEST_CASE("The brake does not judge a window holding fewer than min_reads reads", "[unit][proxy][brake]") {
  config::BrakeConfig config;
  config.min_reads = 10;
  ReadBrake brake(config);
  record_reads(brake, Backend::mirror, kStart, 9, ReadResult::connection_error(), microseconds{5'000'000});
  CHECK_FALSE(brake.check(kStart));
  record_reads(brake, Backend::mirror, kStart, 1, ReadResult::ok());
  CHECK(brake.check(kStart));
}

TEST_CASE("The brake trips when the mirror's p99 latency passes the threshold", "[unit][proxy][brake]") {
  ReadBrake brake(with_p99_ceiling());
  record_reads(brake, Backend::mirror, kStart, 98, ReadResult::ok(), microseconds{1'250'000});
  record_reads(brake, Backend::mirror, kStart, 2, ReadResult::ok());
  const auto trip = brake.check(kStart);
  REQUIRE(trip);
  CHECK(trip->cause == BrakeTrip::Cause::p99_latency);
  INFO(trip->reason);
  CHECK(trip->reason.starts_with("p99 latency 12"));
  CHECK(trip->reason.ends_with(" ms > 1000 ms"));
}

TEST_CASE("Only the slowest 1% being slow does not trip the latency check", "[unit][proxy][brake]") {
  ReadBrake brake(with_p99_ceiling());
  record_reads(brake, Backend::mirror, kStart, 990, ReadResult::ok());
  record_reads(brake, Backend::mirror, kStart, 10, ReadResult::ok(), microseconds{30'000'000});
  CHECK_FALSE(brake.check(kStart));
  record_reads(brake, Backend::mirror, kStart, 1, ReadResult::ok(), microseconds{30'000'000});
  CHECK(brake.check(kStart));
}

TEST_CASE("A p99_latency of 0, the default, turns the latency check off", "[unit][proxy][brake]") {
  CHECK(config::BrakeConfig{}.p99_latency == milliseconds{0});
  ReadBrake brake(config::BrakeConfig{});
  record_reads(brake, Backend::mirror, kStart, 1000, ReadResult::ok(), microseconds{50'000'000});
  CHECK_FALSE(brake.check(kStart));
}

TEST_CASE("The brake trips when the mirror is slower than the primary on the same reads by more than latency_ratio",
          "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});  // latency_ratio 10, min_reads 100
  record_ratios(brake, kStart, 98, 1.1);
  record_ratios(brake, kStart + seconds{1}, 1, 17.5);
  CHECK_FALSE(brake.check(kStart + seconds{1}));  // 99 ratios: below min_reads

  record_ratios(brake, kStart + seconds{1}, 1, 17.5);
  const auto trip = brake.check(kStart + seconds{1});
  REQUIRE(trip);
  CHECK(trip->cause == BrakeTrip::Cause::relative_latency);
  INFO(trip->reason);
  CHECK(trip->reason.starts_with("p99 of the mirror's latency over the primary's 17."));
  CHECK(trip->reason.ends_with("x > 10x"));
  CHECK(brake.tripped());
}

TEST_CASE("Ratios judge the mirror while it serves no read of its own", "[unit][proxy][brake]") {
  // Shadow reads at a ramp of 0%: the mirror's own window is empty.
  ReadBrake brake(config::BrakeConfig{});
  record_ratios(brake, kStart, 100, 12.0);
  CHECK(brake.snapshot(Backend::mirror, kStart).reads == 0);
  const auto trip = brake.check(kStart);
  REQUIRE(trip);
  CHECK(trip->cause == BrakeTrip::Cause::relative_latency);
}

TEST_CASE("A mirror at most latency_ratio times slower, or faster, does not trip the brake", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  record_ratios(brake, kStart, 500, 0.2);
  record_ratios(brake, kStart, 490, 3.5);
  record_ratios(brake, kStart, 10, 900.0);  // the slowest 1%: a lock wait on the mirror
  CHECK_FALSE(brake.check(kStart));
  record_ratios(brake, kStart, 1, 900.0);
  CHECK(brake.check(kStart));
}

TEST_CASE("A latency_ratio of 0 turns the relative check off", "[unit][proxy][brake]") {
  config::BrakeConfig config;
  config.latency_ratio = 0;
  ReadBrake brake(config);
  record_ratios(brake, kStart, 1000, 500.0);
  CHECK_FALSE(brake.check(kStart));
  CHECK(brake.relative_p99(kStart) > 450.0);
}

TEST_CASE("The error rate is judged before the relative latency, and that before the p99 ceiling",
          "[unit][proxy][brake]") {
  ReadBrake failing(with_p99_ceiling());
  record_reads(failing, Backend::mirror, kStart, 100, ReadResult::connection_error(), microseconds{5'000'000});
  record_ratios(failing, kStart, 100, 50.0);
  CHECK(failing.check(kStart)->cause == BrakeTrip::Cause::error_rate);

  ReadBrake slow(with_p99_ceiling());
  record_reads(slow, Backend::mirror, kStart, 100, ReadResult::ok(), microseconds{5'000'000});
  record_ratios(slow, kStart, 100, 50.0);
  CHECK(slow.check(kStart)->cause == BrakeTrip::Cause::relative_latency);

  ReadBrake slow_everywhere(with_p99_ceiling());
  record_reads(slow_everywhere, Backend::mirror, kStart, 100, ReadResult::ok(), microseconds{5'000'000});
  record_ratios(slow_everywhere, kStart, 100, 1.0);
  CHECK(slow_everywhere.check(kStart)->cause == BrakeTrip::Cause::p99_latency);
}

TEST_CASE("reset forgets the ratios, and ratios leave the window as reads do", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  record_ratios(brake, kStart, 100, 12.0);
  REQUIRE(brake.check(kStart));
  brake.reset();
  CHECK(brake.relative_p99(kStart) == 0.0);
  CHECK_FALSE(brake.check(kStart));

  record_ratios(brake, kStart + seconds{1}, 100, 10.0);
  CHECK(brake.relative_p99(kStart + seconds{60}) > 9.0);
  CHECK(brake.relative_p99(kStart + seconds{61}) == 0.0);
  CHECK_FALSE(brake.check(kStart + seconds{61}));
}

TEST_CASE("relative_p99 is the ratios' 99th percentile within 5%, 0 without ratios", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  CHECK(brake.relative_p99(kStart) == 0.0);
  record_ratios(brake, kStart, 990, 1.0);
  record_ratios(brake, kStart, 10, 2.5);
  CHECK(brake.relative_p99(kStart) == Approx(1.0).epsilon(0.05));
  record_ratios(brake, kStart, 10, 2.5);
  CHECK(brake.relative_p99(kStart) == Approx(2.5).epsilon(0.05));
}

TEST_CASE("A ratio window keeps ratios from 0.001 to 60000 and drops what no two latencies give",
          "[unit][proxy][brake]") {
  RatioWindow window(seconds{60});
  window.record(kStart, std::nan(""));
  window.record(kStart, -1.0);
  CHECK(window.snapshot(kStart).samples == 0);
  window.record(kStart, std::numeric_limits<double>::infinity());
  window.record(kStart, 1e12);
  CHECK(window.snapshot(kStart).samples == 2);
  CHECK(window.snapshot(kStart).p99 == Approx(60'000).epsilon(0.05));
  window.clear();
  window.record(kStart, 0.0);
  CHECK(window.snapshot(kStart).p99 <= 0.002);
  window.clear();
  window.record(kStart, 0.004);
  CHECK(window.snapshot(kStart).p99 == Approx(0.004).epsilon(0.05));
}

TEST_CASE("A sub-10 ms latency threshold is shown with a decimal", "[unit][proxy][brake]") {
  config::BrakeConfig config;
  config.p99_latency = milliseconds{1};
  ReadBrake brake(config);
  record_reads(brake, Backend::mirror, kStart, 100, ReadResult::ok(), microseconds{2000});
  const auto trip = brake.check(kStart);
  REQUIRE(trip);
  INFO(trip->reason);
  CHECK(trip->reason.starts_with("p99 latency 2."));
  CHECK(trip->reason.ends_with(" ms > 1.0 ms"));
}

TEST_CASE("The primary's errors never trip the brake", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  record_reads(brake, Backend::primary, kStart, 1000, ReadResult::connection_error(), microseconds{9'000'000});
  CHECK_FALSE(brake.check(kStart));
  const auto primary = brake.snapshot(Backend::primary, kStart);
  CHECK(primary.reads == 1000);
  CHECK(primary.errors == 1000);
  CHECK(primary.error_rate_percent == 100.0);
  CHECK(brake.snapshot(Backend::mirror, kStart).reads == 0);
}

TEST_CASE("Reads leave the window when it moves past their second", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  record_reads(brake, Backend::mirror, kStart + milliseconds{999}, 60, ReadResult::connection_error());
  record_reads(brake, Backend::mirror, kStart + seconds{30}, 40, ReadResult::ok());
  CHECK(brake.snapshot(Backend::mirror, kStart + seconds{59}).reads == 100);
  CHECK(brake.snapshot(Backend::mirror, kStart + seconds{59} + milliseconds{999}).errors == 60);
  const auto later = brake.snapshot(Backend::mirror, kStart + seconds{60});
  CHECK(later.reads == 40);
  CHECK(later.errors == 0);
  CHECK_FALSE(brake.check(kStart + seconds{60}));
  CHECK(brake.snapshot(Backend::mirror, kStart + seconds{90}).reads == 0);
}

TEST_CASE("After a pause longer than the window, nothing old remains", "[unit][proxy][brake]") {
  ReadWindow window(seconds{5});
  for (int second = 0; second < 5; ++second) window.record(kStart + seconds{second}, kFast, true);
  window.record(kStart + seconds{1000}, kFast, false);
  const auto snapshot = window.snapshot(kStart + seconds{1000});
  CHECK(snapshot.reads == 1);
  CHECK(snapshot.errors == 0);
}

TEST_CASE("A read reported with a time older than the window is dropped", "[unit][proxy][brake]") {
  ReadWindow window(seconds{5});
  window.record(kStart + seconds{10}, kFast, false);
  window.record(kStart + seconds{5}, kFast, true);  // left the window at second 10
  window.record(kStart + seconds{6}, kFast, true);  // still inside
  const auto snapshot = window.snapshot(kStart + seconds{10});
  CHECK(snapshot.reads == 2);
  CHECK(snapshot.errors == 1);
}

TEST_CASE("Errors that are the client's doing count as good reads", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  for (const std::string_view code : {"22012", "23505", "42601", "57014"}) {
    record_reads(brake, Backend::mirror, kStart, 100, ReadResult::sql_error(code));
  }
  CHECK_FALSE(brake.check(kStart));
  CHECK(brake.snapshot(Backend::mirror, kStart).errors == 0);
  CHECK(brake.snapshot(Backend::mirror, kStart).reads == 400);
}

TEST_CASE("A mirror fault counts as an error whatever its SQLSTATE's class", "[unit][proxy][brake]") {
  ReadBrake brake(config::BrakeConfig{});
  // A division by zero the primary did not raise: the mirror holds other data.
  record_reads(brake, Backend::mirror, kStart, 100, ReadResult::mirror_fault("22012"));
  CHECK(brake.snapshot(Backend::mirror, kStart).errors == 100);
  CHECK(brake.check(kStart));
}

TEST_CASE("An empty window reports zeros", "[unit][proxy][brake]") {
  ReadWindow window(seconds{60});
  const auto snapshot = window.snapshot(kStart);
  CHECK(snapshot.reads == 0);
  CHECK(snapshot.errors == 0);
  CHECK(snapshot.error_rate_percent == 0.0);
  CHECK(snapshot.p50 == microseconds{0});
  CHECK(snapshot.p99 == microseconds{0});
}

TEST_CASE("p50 and p99 come within 10% of the true percentiles", "[unit][proxy][brake]") {
  std::mt19937_64 random(424242);
  SECTION("uniform latencies from 1 ms to 100 ms") {
    std::uniform_int_distribution<std::int64_t> uniform(1000, 100'000);
    std::vector<std::int64_t> latencies(20'000);
    for (auto& latency : latencies) latency = uniform(random);
    check_percentiles(latencies);
  }
  SECTION("log-normal latencies around 3 ms with a long tail") {
    std::lognormal_distribution<double> lognormal(std::log(3000.0), 1.0);
    std::vector<std::int64_t> latencies(20'000);
    for (auto& latency : latencies) latency = std::max<std::int64_t>(1, std::llround(lognormal(random)));
    check_percentiles(latencies);
  }
  SECTION("microsecond latencies and latencies of several seconds") {
    std::vector<std::int64_t> latencies;
    for (std::int64_t i = 1; i <= 1000; ++i) latencies.push_back(i % 50 + 5);
    for (std::int64_t i = 1; i <= 30; ++i) latencies.push_back(5'000'000 + i * 100'000);
    check_percentiles(latencies);
  }
}

}  // namespace pgdual::proxy
