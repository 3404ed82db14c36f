#include "proxy/mirror/lag_history.h"

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = LagHistory::Clock;

const Clock::time_point kStart{};

Clock::time_point at(std::chrono::milliseconds offset) { return kStart + offset; }

}  // namespace

TEST_CASE("A slot that has confirmed every position sampled is not behind", "[unit][proxy][lag]") {
  LagHistory history;
  CHECK(history.oldest_wait(at(5s)) == 0s);
  history.record(at(0s), 100);
  history.record(at(1s), 200);
  history.confirmed_up_to(200);
  CHECK(history.oldest_wait(at(9s)) == 0s);
  CHECK(history.size() == 0);
}

TEST_CASE("The wait is counted from the first sample above the confirmed position", "[unit][proxy][lag]") {
  LagHistory history;
  history.record(at(0s), 100);
  history.record(at(1s), 200);
  history.record(at(2s), 300);
  history.confirmed_up_to(150);  // the change at 150..200 was written between 0 s and 1 s
  CHECK(history.oldest_wait(at(5s)) == 4s);
  history.confirmed_up_to(200);
  CHECK(history.oldest_wait(at(5s)) == 3s);
  history.confirmed_up_to(299);
  CHECK(history.oldest_wait(at(5s)) == 3s);
  history.confirmed_up_to(100);  // never backwards
  CHECK(history.oldest_wait(at(5s)) == 3s);
}

TEST_CASE("A mirror that confirms nothing falls behind by the time passing", "[unit][proxy][lag]") {
  LagHistory history;
  for (int second = 0; second <= 60; ++second) {
    history.record(at(std::chrono::seconds{second}), 1000 + static_cast<protocol::XLogRecPtr>(second) * 10);
    history.confirmed_up_to(999);
  }
  CHECK(history.oldest_wait(at(60s)) == 60s);
  CHECK(history.oldest_wait(at(61500ms)) == 61500ms);
}

TEST_CASE("An idle primary keeps one sample: positions that repeat are not kept", "[unit][proxy][lag]") {
  LagHistory history;
  history.record(at(0s), 100);
  for (int second = 1; second < 100; ++second) history.record(at(std::chrono::seconds{second}), 100);
  CHECK(history.size() == 1);
  history.confirmed_up_to(50);
  CHECK(history.oldest_wait(at(100s)) == 100s);
}

TEST_CASE("Past its capacity the history keeps every other sample, the oldest exactly", "[unit][proxy][lag]") {
  LagHistory history{4};
  for (int second = 0; second < 5; ++second) {
    history.record(at(std::chrono::seconds{second}), 100 + static_cast<protocol::XLogRecPtr>(second));
  }
  CHECK(history.size() == 3);  // 0, 2 and 4 s
  CHECK(history.oldest_wait(at(10s)) == 10s);
  history.confirmed_up_to(100);  // the change written by 1 s is confirmed: the next kept is from 2 s
  CHECK(history.oldest_wait(at(10s)) == 8s);
}

TEST_CASE("A clock that reads before the sample gives no negative wait", "[unit][proxy][lag]") {
  LagHistory history;
  history.record(at(5s), 100);
  CHECK(history.oldest_wait(at(4s)) == 0s);
}

}  // namespace pgdual::proxy
