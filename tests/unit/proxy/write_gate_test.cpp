#include "proxy/cutover/write_gate.h"

#include <chrono>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/unit/proxy/run_until.h"

namespace pgdual::proxy {
namespace {

using test::run_until;

using namespace std::chrono_literals;
using PauseResult = Expected<WriteGate::Paused, WriteGate::PauseFailure>;

/// A session of `session` waiting at `gate` on `io`, as a session's thread would: `pass` is set once
/// it is let through.
void spawn_writer(asio::io_context& io, WriteGate& gate, std::uint64_t session,
                  std::optional<WriteGate::Pass>& pass) {
  asio::co_spawn(io, gate.enter(session), [&pass](std::exception_ptr error, WriteGate::Pass given) {
    if (error) std::rethrow_exception(error);
    pass = std::move(given);
  });
}

void spawn_pause(asio::io_context& io, WriteGate& gate, std::chrono::milliseconds timeout,
                 std::optional<PauseResult>& result) {
  asio::co_spawn(io, gate.pause(timeout, "admin@test"), [&result](std::exception_ptr error, PauseResult outcome) {
    if (error) std::rethrow_exception(error);
    result = std::move(outcome);
  });
}

}  // namespace

TEST_CASE("An open gate lets a write through at once and counts it until it ends", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  std::optional<WriteGate::Pass> pass;
  spawn_writer(io, gate, 7, pass);
  run_until(io, [&] { return pass.has_value(); });
  CHECK(gate.snapshot().in_flight == 1);
  pass->release();
  CHECK(gate.snapshot().in_flight == 0);
  CHECK(gate.snapshot().state == WriteGate::State::open);
}

TEST_CASE("A pause with no write running holds new writes until RESUME", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 1s, paused);
  run_until(io, [&] { return paused.has_value(); });
  REQUIRE(paused->has_value());
  CHECK((*paused)->were_running == 0);
  CHECK(gate.snapshot().state == WriteGate::State::paused);
  CHECK(gate.snapshot().paused_by == "admin@test");

  std::optional<WriteGate::Pass> pass;
  spawn_writer(io, gate, 7, pass);
  io.restart();
  io.run_for(50ms);
  CHECK_FALSE(pass.has_value());
  CHECK(gate.snapshot().waiting == 1);

  const auto resumed = gate.resume("admin@test");
  REQUIRE(resumed.has_value());
  CHECK(resumed->released == 1);
  run_until(io, [&] { return pass.has_value(); });
  CHECK(gate.snapshot().state == WriteGate::State::open);
  CHECK(gate.snapshot().waiting == 0);
  CHECK(gate.snapshot().in_flight == 1);
}

TEST_CASE("A pause waits for the running writes, which another thread ends", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  auto running = gate.join(3);
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 5s, paused);
  io.run_for(20ms);
  CHECK_FALSE(paused.has_value());
  CHECK(gate.snapshot().state == WriteGate::State::pausing);
  std::jthread session{[&] {
    std::this_thread::sleep_for(50ms);
    running.release();
  }};
  run_until(io, [&] { return paused.has_value(); });
  REQUIRE(paused->has_value());
  CHECK((*paused)->were_running == 1);
  CHECK((*paused)->drained_in >= 40ms);
  CHECK(gate.snapshot().state == WriteGate::State::paused);
}

TEST_CASE("A pause that cannot drain opens the gate again and names who held it", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  auto running = gate.join(11);
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 100ms, paused);
  std::optional<WriteGate::Pass> held;
  spawn_writer(io, gate, 12, held);
  run_until(io, [&] { return paused.has_value() && held.has_value(); });
  REQUIRE_FALSE(paused->has_value());
  CHECK(paused->error().reason == WriteGate::PauseFailure::Reason::timed_out);
  REQUIRE(paused->error().still_running.size() == 1);
  CHECK(paused->error().still_running.front().session == 11);
  CHECK(paused->error().still_running.front().held_for >= 90ms);
  CHECK(gate.snapshot().state == WriteGate::State::open);
  CHECK(gate.snapshot().in_flight == 2);
}

TEST_CASE("A held session withdrawn (KILL) ends its wait without a pass; the others stay held",
          "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 1s, paused);
  run_until(io, [&] { return paused.has_value(); });
  std::optional<WriteGate::Pass> killed;
  std::optional<WriteGate::Pass> other;
  spawn_writer(io, gate, 21, killed);
  spawn_writer(io, gate, 22, other);
  io.restart();
  io.run_for(20ms);
  REQUIRE(gate.snapshot().waiting == 2);
  gate.withdraw(21);
  run_until(io, [&] { return killed.has_value(); });
  CHECK_FALSE(killed->held());
  CHECK_FALSE(other.has_value());
  CHECK(gate.snapshot().waiting == 1);
  CHECK(gate.snapshot().in_flight == 0);
  REQUIRE(gate.resume("admin@test").has_value());
  run_until(io, [&] { return other.has_value(); });
  CHECK(other->held());
}

TEST_CASE("A transaction already running is never held", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 1s, paused);
  run_until(io, [&] { return paused.has_value(); });
  auto joined = gate.join(4);
  CHECK(joined.held());
  CHECK(gate.snapshot().in_flight == 1);
}

TEST_CASE("A second PAUSE is refused, and RESUME of an open gate does nothing", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  CHECK_FALSE(gate.resume("admin@test").has_value());
  std::optional<PauseResult> first;
  std::optional<PauseResult> second;
  spawn_pause(io, gate, 1s, first);
  run_until(io, [&] { return first.has_value(); });
  spawn_pause(io, gate, 1s, second);
  run_until(io, [&] { return second.has_value(); });
  REQUIRE_FALSE(second->has_value());
  CHECK(second->error().reason == WriteGate::PauseFailure::Reason::already_paused);
  CHECK(second->error().by == "admin@test");
}

TEST_CASE("RESUME during the drain ends the pause, which says who resumed", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  auto running = gate.join(5);
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 5s, paused);
  io.run_for(20ms);
  REQUIRE(gate.resume("other@test").has_value());
  run_until(io, [&] { return paused.has_value(); });
  REQUIRE_FALSE(paused->has_value());
  CHECK(paused->error().reason == WriteGate::PauseFailure::Reason::resumed);
  CHECK(paused->error().by == "other@test");
  CHECK(gate.snapshot().state == WriteGate::State::open);
}

TEST_CASE("Shutting down lets held writes go and refuses later pauses", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 1s, paused);
  run_until(io, [&] { return paused.has_value(); });
  std::optional<WriteGate::Pass> pass;
  spawn_writer(io, gate, 8, pass);
  io.restart();
  io.run_for(20ms);
  gate.shut_down();
  run_until(io, [&] { return pass.has_value(); });
  std::optional<PauseResult> later;
  spawn_pause(io, gate, 1s, later);
  run_until(io, [&] { return later.has_value(); });
  REQUIRE_FALSE(later->has_value());
  CHECK(later->error().reason == WriteGate::PauseFailure::Reason::shut_down);
}

TEST_CASE("A pause abandoned by its caller opens the gate", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  auto running = gate.join(6);
  asio::cancellation_signal cancel;
  bool ended = false;
  asio::co_spawn(io, gate.pause(5s, "admin@test"),
                 asio::bind_cancellation_slot(cancel.slot(), [&ended](std::exception_ptr, PauseResult) { ended = true; }));
  io.run_for(20ms);
  CHECK(gate.snapshot().state == WriteGate::State::pausing);
  cancel.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return ended; });
  CHECK(gate.snapshot().state == WriteGate::State::open);
  CHECK(gate.snapshot().last_event.find("abandoned") != std::string::npos);
}

TEST_CASE("A swap needs writes paused, and while it runs nothing opens the gate: neither RESUME nor shutdown",
          "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  CHECK_FALSE(gate.begin_swap("ops@test"));  // open
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 1s, paused);
  run_until(io, [&] { return paused.has_value(); });
  REQUIRE(gate.begin_swap("ops@test"));
  CHECK_FALSE(gate.begin_swap("other@test"));
  CHECK(gate.snapshot().swapping_by == "ops@test");
  const auto refused = gate.resume("other@test");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == "SWAP ROLES by ops@test is under way: writes stay paused until it has answered");
  std::optional<WriteGate::Pass> writer;
  spawn_writer(io, gate, 31, writer);
  gate.shut_down();
  io.restart();
  io.run_for(20ms);
  CHECK_FALSE(writer.has_value());
  CHECK(gate.snapshot().state == WriteGate::State::paused);

  gate.end_swap("SWAP ROLES by ops@test: cloud is the primary");
  run_until(io, [&] { return writer.has_value(); });  // shut down meanwhile: the gate opens once the swap is over
  CHECK(writer->held());
  CHECK(gate.snapshot().swapping_by.empty());
  CHECK(gate.snapshot().last_event == "pgdual shut down: writes go on");
}

TEST_CASE("After a swap writes stay paused until RESUME WRITES", "[unit][proxy][write_gate]") {
  asio::io_context io;
  WriteGate gate;
  std::optional<PauseResult> paused;
  spawn_pause(io, gate, 1s, paused);
  run_until(io, [&] { return paused.has_value(); });
  REQUIRE(gate.begin_swap("ops@test"));
  gate.end_swap("SWAP ROLES by ops@test: cloud is the primary (40 ms)");
  CHECK(gate.snapshot().state == WriteGate::State::paused);
  CHECK(gate.snapshot().last_event == "SWAP ROLES by ops@test: cloud is the primary (40 ms)");
  CHECK(gate.resume("ops@test").has_value());
  CHECK(gate.snapshot().state == WriteGate::State::open);
}

}  // namespace pgdual::proxy
