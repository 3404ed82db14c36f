#include "proxy/mirror/slot_stream.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "conflict/sql_text.h"
#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/net/timeouts.h"

namespace pgdual::proxy {

namespace logicalrep = protocol::logicalrep;
using protocol::XLogRecPtr;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int32_t kProtocol30 = 196608;

}  // namespace


namespace {

using conflict::quote_identifier;
using conflict::quote_literal;

/// The server's ErrorResponse, SQLSTATE and message, as the error to throw.
SlotStreamError server_error(const protocol::Frame& frame, std::string_view during) {
  auto error = protocol::decode_error_response(frame.body);
  if (!error) return SlotStreamError{"", std::string{during} + ": malformed ErrorResponse from the primary"};
  std::string sqlstate{error->sqlstate()};
  return SlotStreamError{sqlstate, std::string{during} + ": the primary answered " + sqlstate + " " +
                                       std::string{error->message()}};
}

[[noreturn]] void throw_violation(std::string_view what) {
  throw SlotStreamError{"", "replication protocol violation by the primary: " + std::string{what}};
}

/// The value the server's greeting gave the run-time parameter `name`; empty when it gave none.
std::string parameter_status(protocol::Bytes greeting, std::string_view name) {
  for (const auto& frame : protocol::split_frames(greeting)) {
    if (frame.tag != protocol::backend_tag::kParameterStatus) continue;
    const auto status = protocol::decode_parameter_status(frame.body);
    if (status && status->name == name) return std::string{status->value};
  }
  return {};
}

/// Runs one simple Query and returns its rows; an ErrorResponse is thrown once ReadyForQuery has
/// come, so that the connection can run the next command.
Awaitable<std::vector<protocol::OwnedDataRow>> run_command(BackendConnection& connection, std::string_view sql) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Query{sql}, out);
  co_await send_all(connection.stream(), bytes);
  std::vector<protocol::OwnedDataRow> rows;
  std::optional<SlotStreamError> failure;
  for (;;) {
    auto frame = co_await connection.reader().next_frame(connection.stream());
    switch (frame.tag) {
      case protocol::backend_tag::kDataRow: {
        auto row = protocol::decode_data_row(frame.body);
        if (!row) throw_violation("malformed DataRow");
        rows.emplace_back(*row);
        break;
      }
      case protocol::backend_tag::kErrorResponse: failure = server_error(frame, "setting up replication"); break;
      case protocol::backend_tag::kReadyForQuery:
        if (failure) throw *failure;
        co_return rows;
      default: break;  // RowDescription, CommandComplete, notices
    }
  }
}

/// The row's only column as an LSN; 0 for NULL (a physical slot: START_REPLICATION says why it
/// cannot be read).
XLogRecPtr lsn_column(const protocol::OwnedDataRow& row, std::size_t column) {
  if (row.columns.size() <= column) throw_violation("a row without the LSN column");
  if (!row.columns[column]) return 0;
  auto lsn = protocol::parse_lsn(*row.columns[column]);
  if (!lsn) throw_violation("an LSN that does not parse: " + *row.columns[column]);
  return *lsn;
}

Awaitable<void> ensure_publication(BackendConnection& connection, const std::string& publication) {
  const auto exists_sql = "SELECT 1 FROM pg_publication WHERE pubname = " + quote_literal(publication);
  auto found = co_await run_command(connection, exists_sql);
  if (!found.empty()) co_return;
  const auto create_sql = "CREATE PUBLICATION " + quote_identifier(publication) + " FOR ALL TABLES";
  std::exception_ptr create_failure;
  try {
    co_await run_command(connection, create_sql);
    co_return;
  } catch (const SlotStreamError&) {
    create_failure = std::current_exception();
  }
  // Another pgdual may have created it since we looked; only then is the failure harmless.
  found = co_await run_command(connection, exists_sql);
  if (found.empty()) std::rethrow_exception(create_failure);
}

/// Creates the slot when missing; returns its confirmed position.
Awaitable<XLogRecPtr> ensure_slot(BackendConnection& connection, const std::string& slot) {
  const auto position_sql =
      "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = " + quote_literal(slot);
  auto found = co_await run_command(connection, position_sql);
  if (!found.empty()) co_return lsn_column(found.front(), 0);
  // No snapshot: pgdual copies the existing rows by other means (pgdual sync); the slot only has
  // to hold every change that commits after it exists.
  const auto create_sql =
      "CREATE_REPLICATION_SLOT " + quote_identifier(slot) + " LOGICAL pgoutput (SNAPSHOT 'nothing')";
  std::exception_ptr create_failure;
  try {
    auto created = co_await run_command(connection, create_sql);
    // slot_name, consistent_point, snapshot_name, output_plugin
    if (created.size() != 1) throw_violation("CREATE_REPLICATION_SLOT answered without its row");
    co_return lsn_column(created.front(), 1);
  } catch (const SlotStreamError&) {
    create_failure = std::current_exception();
  }
  // Another pgdual may have created it since we looked.
  found = co_await run_command(connection, position_sql);
  if (found.empty()) std::rethrow_exception(create_failure);
  co_return lsn_column(found.front(), 0);
}

/// START_REPLICATION, up to the server's CopyBothResponse.
Awaitable<void> start_replication(BackendConnection& connection, const SlotStreamOptions& options) {
  // Protocol version 1 without streaming or two_phase: whole transactions at commit, in commit
  // order. publication_names is a list of identifiers inside a string literal.
  const auto sql = "START_REPLICATION SLOT " + quote_identifier(options.slot) + " LOGICAL 0/0 (proto_version '1', " +
                   "publication_names " + quote_literal(quote_identifier(options.publication)) +
                   ", messages 'true')";
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Query{sql}, out);
  co_await send_all(connection.stream(), bytes);
  for (;;) {
    auto frame = co_await connection.reader().next_frame(connection.stream());
    switch (frame.tag) {
      case protocol::backend_tag::kCopyBothResponse:
        if (!protocol::decode_copy_both_response(frame.body)) throw_violation("malformed CopyBothResponse");
        co_return;
      case protocol::backend_tag::kErrorResponse: throw server_error(frame, "START_REPLICATION");
      case protocol::backend_tag::kNoticeResponse:
      case protocol::backend_tag::kParameterStatus: break;
      default: throw_violation("expected CopyBothResponse after START_REPLICATION");
    }
  }
}

/// Where replication starts, and from which server.
struct ReplicationStart {
  XLogRecPtr confirmed = 0;
  std::string system_identifier;
};

/// The primary's system identifier (IDENTIFY_SYSTEM), which names the stream's source: a server
/// made from another's backup shares its WAL positions, never its identifier.
Awaitable<std::string> identify_system(BackendConnection& connection) {
  const auto rows = co_await run_command(connection, "IDENTIFY_SYSTEM");
  if (rows.size() != 1 || rows.front().columns.empty() || !rows.front().columns.front()) {
    throw_violation("IDENTIFY_SYSTEM answered without a system identifier");
  }
  co_return *rows.front().columns.front();
}

Awaitable<ReplicationStart> set_up_replication(BackendConnection& connection, const SlotStreamOptions& options) {
  ReplicationStart start;
  start.system_identifier = co_await identify_system(connection);
  co_await ensure_publication(connection, options.publication);
  start.confirmed = co_await ensure_slot(connection, options.slot);
  co_await start_replication(connection, options);
  co_return start;
}

protocol::TimestampTz now_since_2000() {
  using namespace std::chrono;
  constexpr auto kUnixTo2000 = seconds{946'684'800};
  return duration_cast<microseconds>(system_clock::now().time_since_epoch() - kUnixTo2000).count();
}

/// I/O failures and the reader's own errors, as the one error type callers handle.
[[noreturn]] void rethrow_as_stream_error(std::string_view during) {
  try {
    throw;
  } catch (const SlotStreamError&) {
    throw;
  } catch (const boost::system::system_error& error) {
    const auto reason = error.code() == asio::error::timed_out ? std::string{"no answer in time"}
                                                                : error.code().message();
    throw SlotStreamError{"", std::string{during} + ": " + reason};
  } catch (const SessionError& error) {
    throw SlotStreamError{"", std::string{during} + ": " + error.what()};
  }
}

}  // namespace

struct SlotStream::State {
  State(BackendConnection open_connection, const SlotStreamOptions& stream_options, XLogRecPtr slot_position)
      : connection{std::move(open_connection)},
        options{stream_options},
        update_timer{connection.stream().get_executor()},
        status_sender_finished{connection.stream().get_executor(), Clock::time_point::max()},
        received{slot_position},
        confirmed{slot_position} {}

  /// What the server may take as flushed: see the class comment.
  [[nodiscard]] XLogRecPtr flushed() const noexcept {
    return confirmed >= settled_at ? std::max(confirmed, received) : confirmed;
  }

  /// The status-update coroutine sends one now.
  void want_status_update() {
    status_update_wanted = true;
    update_timer.cancel();
  }

  /// Follows what the caller is handed: the flush position may pass `received` only once the
  /// caller has confirmed the last transaction it was given.
  void hand_out(const protocol::XLogData& xlog, const logicalrep::LogicalReplicationMessage& message) {
    received = std::max({received, xlog.wal_start, xlog.wal_end});
    decode_state = logicalrep::next_state(decode_state, message);
    const auto* logical_message = std::get_if<logicalrep::Message>(&message);
    if (const auto* commit = std::get_if<logicalrep::Commit>(&message)) {
      settled_at = commit->end_lsn;
    } else if (logical_message != nullptr && !logical_message->transactional) {
      // Decoded at its own LSN, outside any transaction: the caller confirms it there.
      settled_at = logical_message->lsn;
    } else {
      // Only a Commit's end can be confirmed, so anything else keeps the flush at confirmed.
      settled_at = std::numeric_limits<XLogRecPtr>::max();
    }
  }

  void take(const protocol::PrimaryKeepalive& keepalive) {
    received = std::max(received, keepalive.wal_end);
    server_wal_end = keepalive.wal_end;
    if (keepalive.reply_requested) want_status_update();
  }

  void encode_status_update(std::vector<std::byte>& bytes) const {
    const bool long_silence = Clock::now() - last_received > options.receive_timeout / 2;
    const protocol::StandbyStatusUpdate update{.written = received,
                                               .flushed = flushed(),
                                               .applied = flushed(),
                                               .send_time = now_since_2000(),
                                               .reply_requested = long_silence};
    std::vector<std::byte> payload;
    protocol::Writer payload_out{payload};
    protocol::encode(update, payload_out);
    protocol::Writer out{bytes};
    protocol::encode(protocol::CopyData{payload}, out);
  }

  BackendConnection connection;
  SlotStreamOptions options;
  asio::steady_timer update_timer;            ///< the wait between status updates; cancelled to send one now
  asio::steady_timer status_sender_finished;  ///< never expires: cancelled when the status-update coroutine ends
  bool status_update_wanted = false;
  bool status_sender_running = false;
  bool stopping = false;
  std::optional<std::string> write_failure;  ///< why a status update could not be sent
  Clock::time_point last_received = Clock::now();
  XLogRecPtr received = 0;
  XLogRecPtr confirmed = 0;
  XLogRecPtr server_wal_end = 0;
  XLogRecPtr settled_at = 0;  ///< confirmed at or past this, the caller has applied all it was handed
  logicalrep::DecodeState decode_state;
  std::string system_identifier;
  std::string server_encoding;
};

// The only writer while the stream runs, so that its writes never interleave with another's.
Awaitable<void> SlotStream::send_status_updates(std::shared_ptr<State> state) {
  std::vector<std::byte> bytes;
  for (;;) {
    if (!state->status_update_wanted) {
      state->update_timer.expires_after(state->options.status_interval);
      // Expiry and cancel() both mean "send one now".
      co_await state->update_timer.async_wait(asio::as_tuple(use_awaitable));
    }
    if (state->stopping) co_return;
    state->status_update_wanted = false;
    bytes.clear();
    state->encode_status_update(bytes);
    try {
      co_await send_all(state->connection.stream(), bytes);
    } catch (const boost::system::system_error& error) {
      state->write_failure = error.code().message();
      co_return;
    }
  }
}

SlotStream::SlotStream(std::shared_ptr<State> state) noexcept : state_{std::move(state)} {}
SlotStream::SlotStream(SlotStream&&) noexcept = default;
SlotStream& SlotStream::operator=(SlotStream&& other) noexcept {
  if (this != &other) {
    stop();
    state_ = std::move(other.state_);
  }
  return *this;
}

SlotStream::~SlotStream() { stop(); }

void SlotStream::stop() noexcept {
  if (!state_) return;
  // The status-update coroutine holds the state (and the connection) until it sees this.
  state_->stopping = true;
  state_->update_timer.cancel();
}

Awaitable<SlotStream> SlotStream::open(const config::BackendConfig& primary, std::shared_ptr<ssl::context> tls,
                                       const SlotStreamOptions& options) {
  // A logical walsender that also runs SQL: the publication and the slot are looked up with it.
  const BackendLogin login{.user = options.user,
                           .password = options.password,
                           .protocol_version = kProtocol30,
                           .parameters = {{"user", options.user},
                                          {"database", options.database},
                                          {"replication", "database"},
                                          {"application_name", "pgdual_slot_stream"},
                                          // Values in text forms any server reads back the same, as
                                          // PostgreSQL's own walreceiver asks for them.
                                          {"datestyle", "ISO"},
                                          {"intervalstyle", "postgres"},
                                          {"extra_float_digits", "3"},
                                          // Text as the primary stored it: a SQL_ASCII client
                                          // gets the server's bytes unconverted, whatever a role
                                          // or database setting would choose; the apply reads
                                          // them in server_encoding().
                                          {"client_encoding", "SQL_ASCII"}}};
  auto connection = co_await BackendConnection::open(primary, std::move(tls), login, options.max_message_length);
  ReplicationStart start;
  try {
    start = co_await with_timeout(set_up_replication(connection, options), options.command_timeout);
  } catch (...) {
    rethrow_as_stream_error("starting replication from slot " + quote_identifier(options.slot));
  }
  auto state = std::make_shared<State>(std::move(connection), options, start.confirmed);
  state->system_identifier = std::move(start.system_identifier);
  state->server_encoding = parameter_status(state->connection.greeting(), "server_encoding");
  state->status_sender_running = true;
  asio::co_spawn(state->connection.stream().get_executor(), send_status_updates(state),
                 [state](std::exception_ptr) {
                   state->status_sender_running = false;
                   state->status_sender_finished.cancel();
                 });
  co_return SlotStream{std::move(state)};
}

Awaitable<SlotItem> SlotStream::next() {
  auto item = co_await next_item(std::nullopt);
  co_return std::move(*item);
}

Awaitable<std::optional<SlotItem>> SlotStream::next_within(std::chrono::milliseconds limit) {
  return next_item(Clock::now() + limit);
}

Awaitable<std::optional<SlotItem>> SlotStream::next_item(std::optional<Clock::time_point> idle_deadline) {
  auto& state = *state_;
  auto& connection = state.connection;
  for (;;) {
    if (state.write_failure) throw SlotStreamError{"", "sending a status update failed: " + *state.write_failure};
    protocol::Frame frame{};
    try {
      // A message already buffered needs no deadline (nor the timer a deadline costs).
      if (protocol::peek_frame(connection.unread(), state.options.max_message_length)) {
        frame = co_await connection.reader().next_frame(connection.stream());
      } else {
        if (idle_deadline) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*idle_deadline - Clock::now());
          if (left.count() <= 0) co_return std::nullopt;
          const bool readable = co_await connection.stream().readable_within(left);
          if (!readable) co_return std::nullopt;
        }
        const auto limit = state.options.receive_timeout;
        frame = co_await with_timeout(connection.reader().next_frame(connection.stream()), limit);
      }
    } catch (...) {
      rethrow_as_stream_error("reading the replication stream");
    }
    state.last_received = Clock::now();
    switch (frame.tag) {
      case protocol::backend_tag::kCopyData: break;
      case protocol::backend_tag::kErrorResponse: throw server_error(frame, "replication stream");
      case protocol::backend_tag::kCopyDone: throw SlotStreamError{"", "the primary ended the replication stream"};
      case protocol::backend_tag::kNoticeResponse:
      case protocol::backend_tag::kParameterStatus: continue;
      default: throw_violation("unexpected message during replication");
    }
    auto message = protocol::decode_replication_message(frame.body);
    if (!message) throw_violation("malformed replication message: " + message.error().message());
    if (const auto* keepalive = std::get_if<protocol::PrimaryKeepalive>(&*message)) {
      state.take(*keepalive);
      continue;
    }
    const auto& xlog = std::get<protocol::XLogData>(*message);
    auto decoded = logicalrep::decode(xlog.data, state.decode_state);
    if (!decoded) throw_violation("malformed pgoutput message: " + decoded.error().message());
    state.hand_out(xlog, *decoded);
    co_return SlotItem{xlog.wal_start, std::move(*decoded)};
  }
}

bool SlotStream::change_buffered() const noexcept {
  const auto& connection = state_->connection;
  const auto frame = protocol::peek_frame(connection.unread(), state_->options.max_message_length);
  return frame && frame->tag == protocol::backend_tag::kCopyData && !frame->body.empty() &&
         static_cast<char>(frame->body.front()) == protocol::replication_tag::kXLogData;
}

void SlotStream::confirm(XLogRecPtr lsn) noexcept {
  if (lsn <= state_->confirmed) return;
  state_->confirmed = lsn;
  state_->want_status_update();
}

XLogRecPtr SlotStream::received() const noexcept { return state_->received; }
XLogRecPtr SlotStream::confirmed() const noexcept { return state_->confirmed; }
XLogRecPtr SlotStream::server_wal_end() const noexcept { return state_->server_wal_end; }

const std::string& SlotStream::system_identifier() const noexcept { return state_->system_identifier; }

const std::string& SlotStream::server_encoding() const noexcept { return state_->server_encoding; }

/// The last status update and CopyDone in one write, then the server's side of the ending, then
/// Terminate. https://www.postgresql.org/docs/15/protocol-replication.html (START_REPLICATION)
Awaitable<void> SlotStream::end_replication(State& state) {
  std::vector<std::byte> bytes;
  state.encode_status_update(bytes);
  protocol::Writer out{bytes};
  protocol::encode(protocol::CopyDone{}, out);
  auto& connection = state.connection;
  co_await send_all(connection.stream(), bytes);
  // The walsender may still send what it had decoded before CopyDone; then CopyDone,
  // CommandComplete and ReadyForQuery.
  for (;;) {
    auto frame = co_await connection.reader().next_frame(connection.stream());
    if (frame.tag == protocol::backend_tag::kReadyForQuery) break;
    if (frame.tag == protocol::backend_tag::kErrorResponse) break;
  }
  bytes.clear();
  protocol::encode(protocol::Terminate{}, out);
  co_await send_all(connection.stream(), bytes);
}

Awaitable<void> SlotStream::close() {
  if (!state_) co_return;
  auto state = state_;
  stop();
  // Its write in flight, if any, must end before ours starts.
  if (state->status_sender_running) {
    co_await state->status_sender_finished.async_wait(asio::as_tuple(use_awaitable));
  }
  if (!state->write_failure) {
    try {
      co_await with_timeout(end_replication(*state), state->options.command_timeout);
    } catch (const std::exception&) {
      // The connection ends either way; the slot keeps what the server received.
    }
  }
  co_await state->connection.stream().close_gracefully();
}

}  // namespace pgdual::proxy
