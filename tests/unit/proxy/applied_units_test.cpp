#include "proxy/mirror/applied_units.h"

#include <chrono>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = AppliedUnits::Clock;

/// Runs `wait` to its end on a fresh io_context, as a session's thread would; returns what it
/// returned, and how long it took.
template <class Wait>
std::pair<bool, Clock::duration> run_wait(asio::io_context& io, Wait wait) {
  std::optional<bool> result;
  const auto started = Clock::now();
  asio::co_spawn(io, wait(), [&](std::exception_ptr error, bool applied) {
    if (error) std::rethrow_exception(error);
    result = applied;
  });
  io.run_for(10s);
  REQUIRE(result.has_value());
  return {*result, Clock::now() - started};
}

}  // namespace

TEST_CASE("A key applied before its session waits is found at once", "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  auto ticket = units.expect("01a2-key", io.get_executor());
  units.applied("01a2-key");
  CHECK(ticket.applied());
  const auto [applied, took] = run_wait(io, [&] { return ticket.wait(Clock::now() + 5s); });
  CHECK(applied);
  CHECK(took < 1s);
}

TEST_CASE("A session waiting for its key is woken when the apply, on another thread, applies it",
          "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  auto ticket = units.expect("01a2-key", io.get_executor());
  std::jthread apply{[&] {
    std::this_thread::sleep_for(50ms);
    units.applied("some-other-program's-transaction");
    units.applied("01a2-key");
  }};
  const auto [applied, took] = run_wait(io, [&] { return ticket.wait(Clock::now() + 5s); });
  CHECK(applied);
  CHECK(took < 4s);
}

TEST_CASE("A key not applied by the deadline is reported so, and the session goes on",
          "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  auto ticket = units.expect("01a2-key", io.get_executor());
  const auto [applied, took] = run_wait(io, [&] { return ticket.wait(Clock::now() + 100ms); });
  CHECK_FALSE(applied);
  CHECK(took >= 100ms);
  // Applied later, the ticket still learns it: the session's reads may then go to the mirror.
  units.applied("01a2-key");
  CHECK(ticket.applied());
}

TEST_CASE("A ticket's key is forgotten with the ticket, and moves with it", "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  {
    auto first = units.expect("a", io.get_executor());
    auto moved = std::move(first);
    auto second = units.expect("b", io.get_executor());
    CHECK(units.waiting() == 2);
    units.applied("a");
    CHECK(moved.applied());
    CHECK_FALSE(second.applied());
  }
  CHECK(units.waiting() == 0);
  units.applied("a");  // nobody expects it any more: ignored
  CHECK(units.waiting() == 0);
}

TEST_CASE("Giving a database up wakes every waiting session at once, unapplied, and later waits return at once",
          "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  auto waiting = units.expect("01a2-key", io.get_executor());
  CHECK_FALSE(units.given_up());
  std::jthread lag_monitor{[&] {
    std::this_thread::sleep_for(50ms);
    units.give_up();
  }};
  const auto [applied, took] = run_wait(io, [&] { return waiting.wait(Clock::now() + 30s); });
  CHECK_FALSE(applied);
  CHECK(took < 10s);
  CHECK(units.given_up());
  CHECK_FALSE(waiting.applied());

  io.restart();
  auto later = units.expect("01a3-key", io.get_executor());
  const auto [later_applied, later_took] = run_wait(io, [&] { return later.wait(Clock::now() + 30s); });
  CHECK_FALSE(later_applied);
  CHECK(later_took < 1s);
}

TEST_CASE("A session that waits only after the database was given up is not held", "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  auto ticket = units.expect("01a2-key", io.get_executor());
  units.give_up();  // its wake-up is posted before the wait begins
  const auto [applied, took] = run_wait(io, [&] { return ticket.wait(Clock::now() + 30s); });
  CHECK_FALSE(applied);
  CHECK(took < 1s);
}

TEST_CASE("While pgdual sync has not brought the mirror in sync, no session waits; once in sync they wait again",
          "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  auto waiting = units.expect("01a4-key", io.get_executor());
  std::jthread applier{[&] {
    std::this_thread::sleep_for(50ms);
    units.set_syncing(true);
  }};
  const auto [applied, took] = run_wait(io, [&] { return waiting.wait(Clock::now() + 30s); });
  CHECK_FALSE(applied);
  CHECK(took < 10s);
  CHECK(units.syncing());

  units.set_syncing(false);
  io.restart();
  auto later = units.expect("01a5-key", io.get_executor());
  const auto [later_applied, later_took] = run_wait(io, [&] { return later.wait(Clock::now() + 100ms); });
  CHECK_FALSE(later_applied);
  CHECK(later_took >= 100ms);  // waited for its deadline: in sync, sessions wait for the apply again
}

}  // namespace pgdual::proxy

namespace pgdual::proxy {

TEST_CASE("The keys sessions wait for are known until applied or forgotten", "[unit][proxy][applied]") {
  asio::io_context io;
  AppliedUnits units;
  CHECK(units.expected_keys().empty());
  std::optional<AppliedUnits::Ticket> first{units.expect("key-1", io.get_executor())};
  auto second = units.expect("key-2", io.get_executor());
  CHECK(units.expects("key-1"));
  CHECK_FALSE(units.expects("another-instance's-key"));
  units.applied("key-2");
  // Applied: nothing left to look up for it, though its session has not taken the answer yet.
  CHECK(units.expected_keys() == std::vector<std::string>{"key-1"});
  first.reset();
  CHECK_FALSE(units.expects("key-1"));
  CHECK(units.expected_keys().empty());
}

}  // namespace pgdual::proxy
