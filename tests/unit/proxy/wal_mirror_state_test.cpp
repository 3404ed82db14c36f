#include "proxy/mirror/wal_mirror_state.h"

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using namespace std::chrono_literals;

/// A slot read just now, active, in step.
SlotLag in_step() {
  SlotLag lag;
  lag.read_at = std::chrono::steady_clock::now();
  lag.slot_exists = true;
  lag.slot_active = true;
  lag.wal_status = "reserved";
  return lag;
}

SlotLag unread_and_failing() {
  SlotLag lag;
  lag.stale = true;
  lag.last_error = "Connection refused";
  return lag;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("A database's WAL mirror is judged by its slot and its apply", "[unit][proxy][lag]") {
  ApplierProgress applier;
  applier.last_error = "connection to the mirror lost";
  struct Case {
    std::string_view what;
    SlotLag lag;
    WalMirrorState state;
    std::string_view problem;  ///< a part of it; empty: no problem
  };
  const auto with = [](auto change) {
    auto lag = in_step();
    change(lag);
    return lag;
  };
  const Case cases[] = {
      {"in step", in_step(), WalMirrorState::streaming, ""},
      {"a little behind", with([](SlotLag& l) { l.lag = 14s; l.lag_bytes = 4096; }), WalMirrorState::streaming, ""},
      {"behind", with([](SlotLag& l) { l.lag = kCatchingUpAfter; }), WalMirrorState::catching_up, ""},
      {"not read yet", SlotLag{}, WalMirrorState::catching_up, ""},
      {"never read: the primary unreachable", unread_and_failing(),
       WalMirrorState::failing, "cannot be read on the primary: Connection refused"},
      {"primary unreadable", with([](SlotLag& l) { l.stale = true; l.last_error = "no route"; }),
       WalMirrorState::failing, "cannot be read on the primary: no route"},
      {"slot missing", with([](SlotLag& l) { l.slot_exists = false; }), WalMirrorState::failing,
       "does not exist on the primary; the apply's last failure: connection to the mirror lost"},
      {"nobody reads the slot", with([](SlotLag& l) { l.slot_active = false; }), WalMirrorState::failing,
       "no walsender reads the slot; the apply's last failure"},
      {"slot invalidated", with([](SlotLag& l) { l.wal_status = "lost"; }), WalMirrorState::failing,
       "wal_status lost"},
      {"given up and dropped", with([](SlotLag& l) { l.given_up = true; l.slot_dropped = true; l.retained_bytes = 99; }),
       WalMirrorState::given_up, "the slot held 99 bytes of WAL on the primary, more than mirror.max_lag_bytes"},
      {"given up, not dropped yet",
       with([](SlotLag& l) { l.given_up = true; l.stale = true; l.last_error = "primary down"; }),
       WalMirrorState::given_up, "not dropped yet: primary down"},
  };
  for (const auto& [what, lag, state, problem] : cases) {
    INFO(what);
    const auto status = assess(lag, applier);
    CHECK(to_string(status.state) == to_string(state));
    if (problem.empty()) {
      CHECK(status.problem.empty());
    } else {
      CHECK(contains(status.problem, problem));
    }
  }
}

TEST_CASE("While pgdual sync copies the database, nothing reads the slot on purpose: copying, no problem",
          "[unit][proxy][lag]") {
  ApplierProgress applier;
  applier.sync.state = SyncState::copying;
  auto idle = in_step();
  idle.slot_active = false;
  const auto status = assess(idle, applier);
  CHECK(to_string(status.state) == "copying");
  CHECK(status.problem.empty());
  applier.sync.state = SyncState::waiting;
  CHECK(to_string(assess(idle, applier).state) == "copying");
  applier.sync.state = SyncState::catching_up;
  CHECK(to_string(assess(in_step(), applier).state) == "streaming");
}

TEST_CASE("pgdual sync's record is read from its row; a row it cannot read is none", "[unit][proxy][lag]") {
  protocol::OwnedDataRow row;
  row.columns = {"catching up", "0/3000060", "12", "3", "1000", "2000", "9000"};
  const auto record = sync_record_of(row);
  CHECK(record.state == SyncState::catching_up);
  CHECK(record.catch_up_to == 0x3000060);
  CHECK(record.tables_total == 12);
  CHECK(record.tables_done == 3);
  CHECK(record.rows_copied == 1000);
  CHECK(record.bytes_copied == 2000);
  CHECK(record.bytes_total == 9000);
  CHECK(record.syncing());
  row.columns = {"in sync", std::nullopt, "0", "0", "0", "0", "0"};
  CHECK(sync_record_of(row).state == SyncState::in_sync);
  CHECK_FALSE(sync_record_of(row).syncing());
  row.columns = {"waiting", std::nullopt, "0", "0", "0", "0", "0"};
  CHECK(sync_record_of(row).stands_still());
  CHECK(sync_record_of(row).syncing());
  row.columns = {"copying"};
  CHECK(sync_record_of(row).state == SyncState::none);
  CHECK(to_string(SyncState::catching_up) == "catching up");
  CHECK(to_string(SyncState::none).empty());
}

TEST_CASE("A mirror in step has no apply error to show, even if an old round failed", "[unit][proxy][lag]") {
  ApplierProgress applier;
  applier.last_error = "an old failure";
  CHECK(assess(in_step(), applier).problem.empty());
}

}  // namespace pgdual::proxy
