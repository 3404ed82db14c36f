#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "conflict/wal_names.h"
#include "protocol/pgoutput.h"
#include "protocol/replication.h"
#include "proxy/net/asio.h"
#include "proxy/net/stream.h"

namespace pgdual::proxy {

/// The primary refused a replication command or ended the stream, the connection broke, or what
/// came over it made no sense. The stream is unusable after it; the caller opens a new one, which
/// resumes from the slot.
class SlotStreamError : public std::runtime_error {
 public:
  /// `sqlstate` is the server's, empty when the server said nothing (a broken connection, a
  /// malformed message, silence past the receive timeout).
  SlotStreamError(std::string sqlstate, const std::string& message)
      : std::runtime_error{message}, sqlstate_{std::move(sqlstate)} {}
  [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  std::string sqlstate_;
};

using conflict::slot_name_for;

/// What a SlotStream reads, and from where.
struct SlotStreamOptions {
  std::string user;  ///< needs the REPLICATION attribute; creating a FOR ALL TABLES publication needs a superuser
  std::string password;
  std::string database;
  std::string slot;         ///< created (pgoutput) when missing; slot_name_for(database) in pgdual
  std::string publication;  ///< created FOR ALL TABLES when missing
  /// A standby status update goes out at least this often, however slowly the caller reads:
  /// keep it well under the primary's wal_sender_timeout (60 s by default).
  std::chrono::milliseconds status_interval{10'000};
  /// Silence from the primary for this long ends the stream (SlotStreamError). After half of it,
  /// the status updates ask the server to answer, so a live server is never silent that long.
  std::chrono::milliseconds receive_timeout{60'000};
  /// Bounds each setup command and close().
  std::chrono::milliseconds command_timeout{30'000};
  std::uint32_t max_message_length = protocol::kDefaultMaxMessageBody;
};

/// One logical replication message, with the start LSN of the XLogData that carried it. Its views
/// borrow from the stream's buffer: valid until the next call of next().
///
/// wal_start is the WAL position of the change (a Begin: of the transaction's first change; a
/// Commit: its end_lsn), and 0 for a Relation, which the walsender sends outside the WAL. Across
/// interleaved transactions it does not rise: confirm with Commit::end_lsn, never with wal_start.
struct SlotItem {
  protocol::XLogRecPtr wal_start = 0;
  protocol::logicalrep::LogicalReplicationMessage message;
};

/// A logical replication connection to the primary (replication=database) that reads pgdual's
/// slot with pgoutput, protocol version 1 without streaming or two-phase: each transaction
/// arrives whole at its commit, in commit order (a prepared one at COMMIT PREPARED), so the
/// caller can apply as it reads, in constant memory.
///
/// The stream tells the server how far the caller is: received (write) and confirmed (flush and
/// apply) in a standby status update at least every status_interval, at once when a keepalive asks
/// or confirm() moves, from a coroutine of its own, so that a slow apply does not let
/// wal_sender_timeout end the stream. While every transaction handed out is confirmed, it reports
/// all it received as flushed, as PostgreSQL's own subscriber does: otherwise WAL written for
/// other databases, or for tables outside the publication, would pin the slot.
///
/// Single-threaded: every call from the thread that runs the executor open() ran on. Movable;
/// destroying it drops the connection (the slot keeps the confirmed position).
class SlotStream {
 public:
  /// Logs in to `primary` as `options` say, creates the publication and the slot when they are
  /// missing, and starts replication where the slot's confirmed position is. Throws
  /// BackendUnavailable or BackendRefused (login), SlotStreamError (the commands).
  static Awaitable<SlotStream> open(const config::BackendConfig& primary, std::shared_ptr<ssl::context> tls,
                                    const SlotStreamOptions& options);

  SlotStream(SlotStream&&) noexcept;
  SlotStream& operator=(SlotStream&&) noexcept;
  ~SlotStream();

  /// The next logical replication message, decoded. Keepalives are answered inside. Throws
  /// SlotStreamError: the server's ErrorResponse, its end of the stream, a broken or silent
  /// connection, a malformed message.
  Awaitable<SlotItem> next();
  /// next(), or std::nullopt when no message arrives within `limit` (keepalives taken meanwhile).
  /// Nothing is lost by giving up: the wait reads no byte of a message it does not hand out.
  Awaitable<std::optional<SlotItem>> next_within(std::chrono::milliseconds limit);

  /// Everything up to `lsn` (a Commit's end_lsn) is durable on the mirror: the slot may advance
  /// there. Sent at once, by the status-update coroutine. A lower LSN than before changes nothing.
  void confirm(protocol::XLogRecPtr lsn) noexcept;

  /// The next message is already read from the connection, and is a change (XLogData) rather than
  /// a keepalive: next() will not wait for it. Tells the apply that a transaction follows at once.
  [[nodiscard]] bool change_buffered() const noexcept;
  /// The highest WAL position the server has sent (XLogData or keepalive).
  [[nodiscard]] protocol::XLogRecPtr received() const noexcept;
  /// What the caller confirmed, or the slot's confirmed position at open().
  [[nodiscard]] protocol::XLogRecPtr confirmed() const noexcept;
  /// The position of the walsender from its last keepalive: how far it has read the WAL (its
  /// "sent" position, not the WAL's insert position); 0 before the first keepalive.
  [[nodiscard]] protocol::XLogRecPtr server_wal_end() const noexcept;
  /// The primary's system identifier (IDENTIFY_SYSTEM), which with the slot names the stream's
  /// source in the mirror's ledger.
  [[nodiscard]] const std::string& system_identifier() const noexcept;
  /// The primary database's encoding (server_encoding), which the rows' text is in: the stream
  /// asks for it unconverted. Empty when the server did not say. The apply reads the text in it
  /// (ApplyOptions::source_encoding).
  [[nodiscard]] const std::string& server_encoding() const noexcept;

  /// Reports the confirmed position a last time, ends the copy (CopyDone), waits for the server to
  /// end it too, and says goodbye (Terminate). Errors are ignored: the slot keeps what the server
  /// received. The stream is unusable afterwards.
  Awaitable<void> close();

 private:
  struct State;
  explicit SlotStream(std::shared_ptr<State> state) noexcept;
  /// The coroutine that sends the status updates: the only writer while the stream runs.
  static Awaitable<void> send_status_updates(std::shared_ptr<State> state);
  static Awaitable<void> end_replication(State& state);
  /// next(), giving up at `idle_deadline` (when set) while no byte of a message has arrived.
  Awaitable<std::optional<SlotItem>> next_item(std::optional<std::chrono::steady_clock::time_point> idle_deadline);
  /// Ends the status-update coroutine at its next wake-up.
  void stop() noexcept;

  std::shared_ptr<State> state_;  ///< shared with the status-update coroutine
};

}  // namespace pgdual::proxy
