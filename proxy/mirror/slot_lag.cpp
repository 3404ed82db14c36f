#include "proxy/mirror/slot_lag.h"

#include <charconv>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include "conflict/sql_text.h"
#include "protocol/frontend_messages.h"
#include "protocol/writer.h"
#include "proxy/backend/simple_query.h"
#include "proxy/net/timeouts.h"

namespace pgdual::proxy {
namespace {

/// The monitor's own statement was refused, or answered in a shape it does not know.
class SlotLagError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Answers are one short row: anything near this is no answer to the monitor's statements.
constexpr std::uint32_t kMaxMessageBody = std::uint32_t{1} << 20;
/// How long ending the walsender that still reads a slot given up may take, in milliseconds: it
/// ends at its next wait for the network, at once for a walsender whose client has gone.
constexpr int kTerminateWaitMs = 5'000;

// The primary's WAL position is read once, so that both differences use the same one. A slot that
// is missing leaves the slot's columns NULL; `active` is never NULL for a slot that exists.
std::string reading_sql(const std::string& slot) {
  return "SELECT w.lsn, s.confirmed_flush_lsn, pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint, "
         "s.active, s.wal_status "
         "FROM (SELECT pg_catalog.pg_current_wal_lsn() AS lsn) AS w "
         "LEFT JOIN pg_catalog.pg_replication_slots AS s ON s.slot_name = " +
         conflict::quote_literal(slot);
}

protocol::XLogRecPtr lsn_of(const std::optional<std::string>& column) {
  if (!column) return 0;
  const auto lsn = protocol::parse_lsn(*column);
  if (!lsn) throw SlotLagError{"the primary answered an LSN that does not parse"};
  return *lsn;
}

std::uint64_t bytes_of(const std::optional<std::string>& column) {
  if (!column) return 0;
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(column->data(), column->data() + column->size(), value);
  if (error != std::errc{} || end != column->data() + column->size()) {
    throw SlotLagError{"the primary answered a WAL size that is no bigint"};
  }
  return value > 0 ? static_cast<std::uint64_t>(value) : 0;
}

}  // namespace

struct SlotLagMonitor::Reading {
  protocol::XLogRecPtr current = 0;  ///< pg_current_wal_lsn()
  protocol::XLogRecPtr confirmed = 0;
  std::uint64_t retained_bytes = 0;
  bool slot_exists = false;
  bool slot_active = false;
  std::string wal_status;
};

SlotLagMonitor::SlotLagMonitor(config::BackendConfig primary, std::shared_ptr<ssl::context> tls, Options options,
                               GiveUp give_up, std::shared_ptr<spdlog::logger> log)
    : primary_{std::move(primary)},
      tls_{std::move(tls)},
      options_{std::move(options)},
      give_up_{std::move(give_up)},
      log_{std::move(log)} {}

Awaitable<void> SlotLagMonitor::run() {
  bool dropped = false;
  while (!stop_.requested() && !dropped) {
    co_await stop_.pause(options_.interval);
    if (stop_.requested()) break;
    std::optional<std::string> failure;
    try {
      co_await tick();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    if (stop_.requested()) break;
    if (failure) {
      note_failure(*failure);
    } else {
      note_success();
    }
    dropped = lag().slot_dropped;
  }
  co_await say_goodbye(connection_);
}

void SlotLagMonitor::stop() noexcept {
  stop_.request();
}

SlotLag SlotLagMonitor::lag() const {
  const std::lock_guard lock{lag_mutex_};
  return lag_;
}

// Once given up, the figures stay as they were at that moment: nothing reads the slot any more.
Awaitable<void> SlotLagMonitor::tick() {
  co_await connect();
  if (!given_up_) {
    const auto reading = co_await read_slot();
    take(reading, LagHistory::Clock::now());
    const auto reason = give_up_reason(reading);
    if (!reason) co_return;
    give_up_slot(*reason);
  }
  co_await drop_slot();
}

Awaitable<void> SlotLagMonitor::connect() {
  if (connection_) co_return;
  auto connection = co_await BackendConnection::open(primary_, tls_, options_.primary_login, kMaxMessageBody);
  connection_.emplace(std::move(connection));
}

Awaitable<SlotLagMonitor::Reading> SlotLagMonitor::read_slot() {
  const auto answer = co_await with_timeout(run_simple_query(*connection_, reading_sql(options_.slot)),
                                            options_.answer_timeout);
  if (answer.refused) {
    throw SlotLagError{"the primary refused reading pg_replication_slots: " + answer.refused->sqlstate + " " +
                       answer.refused->message};
  }
  if (answer.rows.size() != 1 || answer.rows.front().columns.size() != 5 || !answer.rows.front().columns[0]) {
    throw SlotLagError{"the primary answered the slot's reading with rows of another shape"};
  }
  const auto& columns = answer.rows.front().columns;
  Reading reading;
  reading.current = lsn_of(columns[0]);
  reading.slot_exists = columns[3].has_value();
  if (!reading.slot_exists) co_return reading;
  reading.confirmed = lsn_of(columns[1]);
  reading.retained_bytes = bytes_of(columns[2]);
  reading.slot_active = *columns[3] == "t";
  reading.wal_status = columns[4].value_or("");
  co_return reading;
}

void SlotLagMonitor::take(const Reading& reading, LagHistory::Clock::time_point at) {
  // `at` is when the answer came, after the server read its WAL position: every change at or
  // below it was written by then, so the wait measured from it is never too long.
  if (reading.slot_exists) {
    history_.record(at, reading.current);
    history_.confirmed_up_to(reading.confirmed);
  }
  const std::lock_guard lock{lag_mutex_};
  lag_.slot_exists = reading.slot_exists;
  lag_.slot_active = reading.slot_active;
  lag_.wal_status = reading.wal_status;
  lag_.confirmed = reading.confirmed;
  lag_.retained_bytes = reading.retained_bytes;
  lag_.lag_bytes = reading.slot_exists && reading.current > reading.confirmed ? reading.current - reading.confirmed : 0;
  lag_.lag = reading.slot_exists ? std::chrono::duration_cast<std::chrono::milliseconds>(history_.oldest_wait(at))
                                  : std::chrono::milliseconds{0};
  lag_.read_at = at;
}

std::optional<std::string> SlotLagMonitor::give_up_reason(const Reading& reading) const {
  if (reading.wal_status == "lost") {
    return "the primary invalidated the slot " + options_.slot +
           " (wal_status lost): it needed WAL older than the primary's max_slot_wal_keep_size allows, which the "
           "primary has removed";
  }
  if (reading.retained_bytes <= options_.max_retained_bytes) return std::nullopt;
  return "the slot " + options_.slot + " holds " + std::to_string(reading.retained_bytes) +
         " bytes of WAL on the primary, more than mirror.max_lag_bytes (" +
         std::to_string(options_.max_retained_bytes) + ")";
}

void SlotLagMonitor::give_up_slot(const std::string& reason) {
  given_up_ = true;
  SlotLag figures;
  {
    const std::lock_guard lock{lag_mutex_};
    lag_.given_up = true;
    lag_.given_up_because = reason;
    figures = lag_;
  }
  log_->error("wal mirror of database {}: {}; pgdual gives the slot up so that the primary's disk cannot fill: the "
              "apply stops and the slot is dropped, and this database's writes reach the primary alone until "
              "pgdual restarts. The mirror must be rebuilt: with pgdual sync once it exists, for now by copying "
              "the database to the mirror again and then restarting pgdual",
              options_.database, reason);
  if (give_up_) give_up_(figures);
}

// The walsender is ended first: PostgreSQL refuses to drop a slot that one still reads. The
// applier was stopped by give_up, so nothing reads the slot again.
Awaitable<void> SlotLagMonitor::drop_slot() {
  const auto where =
      " FROM pg_catalog.pg_replication_slots WHERE slot_name = " + conflict::quote_literal(options_.slot);
  co_await run_statement("SELECT pg_catalog.pg_terminate_backend(active_pid, " + std::to_string(kTerminateWaitMs) +
                             ")" + where + " AND active_pid IS NOT NULL",
                         "ending the walsender of the slot given up");
  co_await run_statement("SELECT pg_catalog.pg_drop_replication_slot(slot_name)" + where, "dropping the slot given up");
  log_->info("wal mirror of database {}: the slot {} is dropped from the primary", options_.database, options_.slot);
  const std::lock_guard lock{lag_mutex_};
  lag_.slot_dropped = true;
  lag_.slot_exists = false;
  lag_.slot_active = false;
}

Awaitable<void> SlotLagMonitor::run_statement(const std::string& sql, std::string_view what) {
  const auto answer = co_await with_timeout(run_simple_query(*connection_, sql), options_.answer_timeout);
  if (answer.refused) {
    throw SlotLagError{std::string{what} + ": the primary refused it: " + answer.refused->sqlstate + " " +
                       answer.refused->message};
  }
}

// A lost primary fails every tick until it is back: one warning, not one a second.
void SlotLagMonitor::note_failure(const std::string& failure) {
  connection_.reset();
  const std::string_view doing = given_up_ ? "drop the slot given up" : "read the slot";
  if (failing_) {
    log_->debug("wal mirror of database {}: still could not {} {}: {}", options_.database, doing, options_.slot,
                failure);
  } else {
    log_->warn("wal mirror of database {}: could not {} {} on the primary: {}; tried again every interval, the "
               "figures shown meanwhile are the last read",
               options_.database, doing, options_.slot, failure);
    failing_ = true;
  }
  const std::lock_guard lock{lag_mutex_};
  lag_.stale = true;
  lag_.last_error = failure;
}

void SlotLagMonitor::note_success() {
  if (failing_) log_->info("wal mirror of database {}: the primary answers again", options_.database);
  failing_ = false;
  const std::lock_guard lock{lag_mutex_};
  lag_.stale = false;
  lag_.last_error.clear();
}

}  // namespace pgdual::proxy
