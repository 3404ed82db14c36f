#include "proxy/mirror/instance_link.h"

#include <charconv>
#include <optional>
#include <stdexcept>
#include <utility>
#include <variant>

#include "conflict/sql_text.h"
#include "protocol/error_response.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"
#include "proxy/backend/simple_query.h"
#include "proxy/mirror/apply_connection.h"
#include "proxy/net/timeouts.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::backend_tag;

/// Rows of instances silent this long are deleted: they stopped, or were replaced by a restart.
constexpr std::string_view kForgetAfter = "1 minute";
/// Beat intervals a beat may wait for its answer before the connection is taken for dead.
constexpr int kUnansweredBeats = 10;
/// Reconnects at least every second: the applying instance's row goes silent while its link is down,
/// and a standby takes over past mirror.lease_timeout_ms (1 s at the least) of silence.
constexpr std::chrono::milliseconds kRetryMin{250};
constexpr std::chrono::milliseconds kRetryMax{1'000};

std::string instances_sql() {
  return "SELECT i.instance::text, i.listen, i.host, i.pid, i.started_at::text, "
         "(extract(epoch FROM clock_timestamp() - i.seen_at) * 1000)::bigint, "
         "EXISTS (SELECT FROM pg_catalog.pg_locks AS l WHERE l.pid = i.apply_pid AND " +
         std::string{kLeaseLockFilter} + ") FROM pgdual.instances AS i ORDER BY i.started_at, i.instance";
}

/// The Query each beat sends: the row written, the forgotten deleted, everyone's read.
std::string beat_sql(const InstanceIdentity& self) {
  return instance_row_sql(self, false) + "; DELETE FROM pgdual.instances WHERE seen_at < clock_timestamp() - interval " +
         conflict::quote_literal(kForgetAfter) + "; " + instances_sql();
}

std::string waiting_keys_sql(const std::vector<std::string>& keys) {
  std::string list;
  for (const auto& key : keys) list += (list.empty() ? "" : ", ") + conflict::quote_literal(key);
  return "SELECT unit_key::text FROM pgdual.applied WHERE unit_key = ANY (ARRAY[" + list + "]::uuid[])";
}

std::vector<std::byte> query_bytes(std::string_view sql) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Query{sql}, out);
  return bytes;
}

}  // namespace

std::optional<InstanceRow> instance_row_of(const protocol::OwnedDataRow& row) {
  const auto& columns = row.columns;
  if (columns.size() != 7 || !columns[0]) return std::nullopt;
  return InstanceRow{.instance = *columns[0],
                     .listen = columns[1].value_or(""),
                     .host = columns[2].value_or(""),
                     .pid = static_cast<int>(number_in(columns[3])),
                     .started_at = columns[4].value_or(""),
                     .silent = std::chrono::milliseconds{number_in(columns[5])},
                     .applies = columns[6] == "t"};
}

InstanceLink::InstanceLink(config::BackendConfig mirror, std::shared_ptr<ssl::context> tls, Options options,
                           AppliedUnits& units, std::shared_ptr<spdlog::logger> log)
    : mirror_{std::move(mirror)},
      tls_{std::move(tls)},
      options_{std::move(options)},
      units_{units},
      log_{std::move(log)},
      beat_sql_{beat_sql(options_.self)} {}

Awaitable<void> InstanceLink::run() {
  auto delay = kRetryMin;
  std::string last_failure;
  while (!stop_.requested()) {
    std::string failure;
    try {
      co_await round();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    if (stop_.requested()) break;
    if (failure != last_failure) {
      log_->warn("instance link of {}: {}; connecting again", database(), failure);
      last_failure = failure;
    }
    co_await stop_.pause(delay);
    delay = std::min(delay * 2, kRetryMax);
  }
}

std::string_view InstanceLink::database() const {
  for (const auto& [name, value] : options_.mirror_login.parameters) {
    if (name == "database") return value;
  }
  return {};
}

std::vector<InstanceRow> InstanceLink::instances() const {
  const std::lock_guard lock{mutex_};
  return instances_;
}

Awaitable<void> InstanceLink::round() {
  auto mirror = co_await BackendConnection::open(mirror_, tls_, options_.mirror_login, options_.max_message_length);
  const auto listening = co_await run_simple_query(mirror, "LISTEN " + std::string{kAppliedChannel});
  if (listening.refused) throw std::runtime_error{"the mirror refused LISTEN: " + listening.refused->sqlstate};
  // Listening from here on: what was applied before is in the ledger.
  const auto keys = units_.expected_keys();
  if (!keys.empty()) {
    const auto found = co_await run_simple_query(mirror, waiting_keys_sql(keys));
    if (found.refused) throw std::runtime_error{"the mirror refused reading pgdual.applied: " + found.refused->sqlstate};
    for (const auto& row : found.rows) {
      if (!row.columns.empty() && row.columns[0]) heard(*row.columns[0]);
    }
    for (const auto& key : found.notifications) heard(key);
  }
  for (const auto& key : listening.notifications) heard(key);
  unanswered_ = 0;
  auto ended = co_await (settle(hear(mirror)) || settle(beat(mirror)));
  std::visit([](auto settled) { std::move(settled).get(); }, std::move(ended));
}

Awaitable<void> InstanceLink::hear(BackendConnection& mirror) {
  std::vector<InstanceRow> reading;
  for (;;) {
    const auto frame = co_await mirror.reader().next_frame(mirror.stream());
    if (frame.tag == tags::kNotificationResponse) {
      heard(notification_payload(frame));
    } else if (frame.tag == tags::kDataRow) {
      const auto row = protocol::decode_data_row(frame.body);
      if (!row) throw std::runtime_error{"malformed DataRow"};
      if (auto instance = instance_row_of(protocol::OwnedDataRow{*row})) reading.push_back(std::move(*instance));
    } else if (frame.tag == tags::kErrorResponse) {
      const auto error = protocol::decode_error_response(frame.body);
      throw std::runtime_error{"the mirror refused writing or reading pgdual.instances (`pgdual init` creates it, "
                               "schema version 8): " + std::string{error ? error->sqlstate() : "?"}};
    } else if (frame.tag == tags::kReadyForQuery) {
      --unanswered_;
      const std::lock_guard lock{mutex_};
      instances_ = std::exchange(reading, {});
    }
  }
}

Awaitable<void> InstanceLink::beat(BackendConnection& mirror) {
  const auto bytes = query_bytes(beat_sql_);
  int waited = 0;
  while (!stop_.requested()) {
    if (unanswered_ == 0) {
      waited = 0;
      ++unanswered_;
      co_await send_all(mirror.stream(), bytes);
    } else if (++waited >= kUnansweredBeats) {
      throw std::runtime_error{"the mirror has not answered for " + std::to_string(kUnansweredBeats) + " beats"};
    }
    co_await stop_.pause(options_.interval);
  }
}

// Every instance hears every key another instance's sessions wait for: only its own count.
void InstanceLink::heard(const std::string& key) {
  if (units_.applied(key)) ++keys_heard_;
}

}  // namespace pgdual::proxy
