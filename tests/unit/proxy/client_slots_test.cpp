#include <catch2/catch.hpp>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>

#include "proxy/admin/metrics.h"
#include "proxy/client_slots.h"

namespace pgdual::proxy {
namespace {

/// ClientSlots with its log in memory; evictions run when the test polls io.
struct Slots {
  explicit Slots(ClientSlots::Caps caps)
      : slots{caps, metrics,
              std::make_shared<spdlog::logger>("client-slots-test",
                                               std::make_shared<spdlog::sinks::ostream_sink_st>(log_text))} {}

  /// A login for connection `id`, whose eviction adds `id` to evicted.
  ClientSlots::Slot begin(std::uint64_t id) {
    return slots.begin_login(id, "127.0.0.1:" + std::to_string(40000 + id), io.get_executor(),
                             [this, id] { evicted.push_back(id); });
  }

  /// Runs the evictions posted so far.
  void run_evictions() {
    io.restart();
    io.poll();
  }

  [[nodiscard]] std::string evicted_total() const {
    const auto text = metrics.render({});
    const std::string name = "\npgdual_logins_evicted_total ";
    const auto at = text.find(name) + name.size();
    return text.substr(at, text.find('\n', at) - at);
  }

  asio::io_context io;
  Metrics metrics{"onprem", "cloud"};
  std::vector<std::uint64_t> evicted;
  std::ostringstream log_text;
  ClientSlots slots;
};

}  // namespace

TEST_CASE("A login beyond max_logins_in_progress ends the oldest login in progress", "[unit][proxy][limits]") {
  Slots test{{.logins = 2, .sessions = 10}};
  auto first = test.begin(1);
  auto second = test.begin(2);
  auto third = test.begin(3);
  auto fourth = test.begin(4);
  test.run_evictions();
  CHECK(test.evicted == std::vector<std::uint64_t>{1, 2});
  CHECK(test.slots.logins_in_progress() == 2);
  CHECK(test.evicted_total() == "2");
  // One line for a flood, saying where the login it ended came from, and nothing else of it.
  CHECK(test.log_text.str().find("ended 1 login(s) in progress") != std::string::npos);
  CHECK(test.log_text.str().find("127.0.0.1:40001") != std::string::npos);
  CHECK(test.log_text.str().find("127.0.0.1:40002") == std::string::npos);
}

TEST_CASE("A login that succeeds or ends before its eviction runs is left alone", "[unit][proxy][limits]") {
  Slots test{{.logins = 1, .sessions = 10}};
  auto succeeding = test.begin(1);
  std::optional<ClientSlots::Slot> ending{test.begin(2)};
  auto newest = test.begin(3);
  CHECK(succeeding.enter_session());
  ending.reset();
  test.run_evictions();
  CHECK(test.evicted.empty());
  CHECK(test.slots.logins_in_progress() == 1);
  CHECK(test.evicted_total() == "2");
}

TEST_CASE("Sessions count apart from logins, up to max_client_connections", "[unit][proxy][limits]") {
  Slots test{{.logins = 2, .sessions = 1}};
  std::optional<ClientSlots::Slot> first{test.begin(1)};
  auto second = test.begin(2);
  REQUIRE(first->enter_session());
  CHECK(test.slots.logins_in_progress() == 1);
  CHECK_FALSE(second.enter_session());
  CHECK(test.slots.logins_in_progress() == 1);

  // Logins beside a full house of sessions are not evicted for them.
  auto third = test.begin(3);
  test.run_evictions();
  CHECK(test.evicted.empty());

  first.reset();
  CHECK(second.enter_session());
  CHECK(test.slots.logins_in_progress() == 1);
}

}  // namespace pgdual::proxy
