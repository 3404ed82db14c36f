#include "proxy/mirror/apply_hold.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>

namespace pgdual::proxy {
namespace {

namespace lr = protocol::logicalrep;

using Held = Expected<protocol::XLogRecPtr, std::string>;

/// Runs `task` on `io` in the background; its answer lands in `into`.
void spawn(asio::io_context& io, Awaitable<Held> task, std::optional<Held>& into) {
  asio::co_spawn(io, std::move(task), [&into](const std::exception_ptr&, Held held) { into = std::move(held); });
}

/// The applier's side: stands before `unit` while the hold says so; `ended` once it goes on.
Awaitable<void> stand(ApplyHold& hold, protocol::XLogRecPtr unit, std::optional<bool>& ended) {
  ended = co_await hold.stop_at(unit);
}

}  // namespace

TEST_CASE("A unit of the apply starts at a Begin, or at a non-transactional message between transactions",
          "[unit][wal_hold]") {
  CHECK(unit_position(lr::Begin{.final_lsn = 0x500, .commit_time = 0, .xid = 7}, false) == 0x500);
  const lr::Message outside{.xid = std::nullopt, .transactional = false, .lsn = 0x600, .prefix = "pgdual.ddl",
                            .content = {}};
  CHECK(unit_position(outside, false) == 0x600);
  // Taken after the Commit of the transaction it came in: part of that unit.
  CHECK_FALSE(unit_position(outside, true));
  auto inside = outside;
  inside.transactional = true;
  CHECK_FALSE(unit_position(inside, true));
  CHECK_FALSE(unit_position(lr::Commit{}, true));
}

TEST_CASE("A hold at a point the apply fed already is refused; the next unit can always be had",
          "[unit][wal_hold]") {
  CHECK_FALSE(hold_refusal(0, 0x900));
  CHECK_FALSE(hold_refusal(0x901, 0x900));
  CHECK(hold_refusal(0x900, 0x900) ==
        "the mirror apply is already past 0/900 (it applied the transaction committed at 0/900)");
  CHECK(hold_refusal(0x100, 0x900).has_value());
}

TEST_CASE("The apply stands before the first unit at the target, moves on to a later one, and goes on once released",
          "[unit][wal_hold]") {
  asio::io_context io;
  ApplyHold hold;
  std::optional<Held> answer;
  spawn(io, hold.hold(1, 0), answer);
  io.poll();
  CHECK_FALSE(answer);  // no unit yet
  CHECK(hold.stops_before(0x100));

  std::optional<bool> ended;
  asio::co_spawn(io, stand(hold, 0x100, ended), asio::detached);
  io.poll();
  REQUIRE(answer);
  CHECK(answer->value() == 0x100);
  CHECK_FALSE(ended);  // standing

  // Another session cannot take it; moved on, the apply passes 0x100 and stands at 0x300.
  std::optional<Held> other;
  spawn(io, hold.hold(2, 0), other);
  io.poll();
  CHECK(other->error() == "the apply is held by another admin console session");
  answer.reset();
  spawn(io, hold.hold(1, 0x200), answer);
  io.poll();
  CHECK(ended == false);
  CHECK_FALSE(answer);
  hold.fed(0x100);
  CHECK_FALSE(hold.stops_before(0x180));
  ended.reset();
  asio::co_spawn(io, stand(hold, 0x300, ended), asio::detached);
  io.poll();
  CHECK(answer->value() == 0x300);

  CHECK_FALSE(hold.release(2));
  const auto times = hold.release(1);
  REQUIRE(times);
  CHECK(times->commits_waited <= times->stood_still);
  io.poll();
  CHECK(ended == false);
  CHECK_FALSE(hold.stops_before(0x300));
  CHECK_FALSE(hold.release(1));
}

TEST_CASE("COMMITs wait for an apply held at a position, not for one held before its next unit",
          "[unit][wal_hold]") {
  asio::io_context io;
  ApplyHold hold;
  std::optional<Held> answer;
  spawn(io, hold.hold(1, 0), answer);
  io.poll();
  CHECK(hold.at_next_unit());
  std::optional<bool> ended;
  asio::co_spawn(io, stand(hold, 0x100, ended), asio::detached);
  io.poll();
  REQUIRE(answer);
  const auto times = hold.release(1);
  REQUIRE(times);
  CHECK(times->commits_waited.count() == 0);
  io.poll();
  CHECK(ended == false);

  answer.reset();
  spawn(io, hold.hold(1, 0x200), answer);
  io.restart();  // it ran out of work
  io.poll();
  CHECK(hold.stops_before(0x200));
  CHECK_FALSE(hold.at_next_unit());
}

TEST_CASE("A hold nobody releases ends by itself", "[unit][wal_hold]") {
  asio::io_context io;
  ApplyHold hold{std::chrono::milliseconds{50}};
  std::optional<Held> answer;
  spawn(io, hold.hold(1, 0), answer);
  std::optional<bool> ended;
  asio::co_spawn(io, stand(hold, 0x100, ended), asio::detached);
  io.run_for(std::chrono::seconds{5});
  CHECK(answer->value() == 0x100);
  CHECK(ended == true);
  CHECK_FALSE(hold.stops_before(0x100));
}

TEST_CASE("A hold the apply does not reach in time is refused, and lifted", "[unit][wal_hold]") {
  asio::io_context io;
  ApplyHold hold{std::chrono::milliseconds{50}};
  std::optional<Held> answer;
  spawn(io, hold.hold(1, 0x500), answer);
  io.run_for(std::chrono::seconds{5});
  REQUIRE(answer);
  CHECK(answer->error() == "the apply did not reach 0/500 within 50 ms (is the mirror failing or far behind?)");
  CHECK_FALSE(hold.stops_before(0x500));
}

}  // namespace pgdual::proxy
