#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conflict/conflict_record.h"
#include "protocol/backend_messages.h"
#include "protocol/request_tracker.h"
#include "protocol/startup.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/client_slots.h"
#include "proxy/cutover/write_gate.h"
#include "proxy/mirror/database_setup.h"
#include "proxy/net/asio.h"
#include "proxy/net/wakeup.h"
#include "proxy/net/wire_io.h"
#include "proxy/route/error_positions.h"
#include "proxy/route/outcome_tap.h"
#include "proxy/route/own_statement_filter.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/statement_pins.h"
#include "proxy/route/unit_planner.h"
#include "proxy/route/write_pass.h"
#include "proxy/session/client_login.h"
#include "proxy/session/conflict_recorder.h"
#include "proxy/session/mirror_link.h"
#include "proxy/session/mirror_reads.h"
#include "proxy/session/session_context.h"
#include "proxy/session/shadow_reads.h"
#include "proxy/session/write_mirror.h"

namespace pgdual::proxy {

/// One client connection, from its startup packet to its last byte. Runs on
/// one worker thread's io_context; every member is touched only from there.
///
/// The session reads the client's startup, has ClientLogin check who it is,
/// opens the backends (MirrorLink) and relays. The client's messages are cut
/// into units (a Query, or extended-protocol messages up to Sync), each
/// routed by UnitPlanner: an eligible read may be served by the mirror
/// (MirrorReads); everything else goes to the primary, whose answers stream
/// to the client as they arrive, while the mirror mode (WriteMirror) gives
/// the mirror its part.
class Session {
 public:
  /// Takes a login slot of `slots` at once: the connection counts as logging in from now on.
  Session(tcp::socket client, SessionContext context, std::uint64_t id, ClientSlots& slots);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  Awaitable<void> run();

  /// Finish the running statement, then say goodbye (57P01) and close.
  void request_shutdown();
  /// Close every connection now: the shutdown grace period is over.
  void close_now();

 private:
  enum class RelayEnd { client_closed, backend_closed, shutdown, idle_timeout, idle_in_transaction_timeout };
  /// What a client message is to a COPY FROM STDIN under way (Session::client_copy_step).
  enum class ClientCopyStep {
    none,       ///< no COPY data expected: an ordinary message
    data,       ///< COPY data, as the primary takes it
    end,        ///< CopyDone or CopyFail: the last of the data
    abandoned,  ///< the primary failed the COPY, and the client goes on without ending its data
  };

  /// The unit being relayed, as the relay loop sees it.
  struct Unit {
    bool open = false;
    UnitPlan plan;
    bool runs = false;  ///< the unit's messages so far execute something
    std::string session_statement;  ///< a SET or PREPARE to replay on a new mirror connection
    ReadBrake::Clock::time_point started{};  ///< when its first message went to the primary
    /// The primary asked the client for COPY data (CopyInResponse), and the client has not ended
    /// it yet: the unit stays open until it has, whenever the primary answers.
    bool client_copying = false;
  };

  // Startup and login (session.cpp).
  Awaitable<std::optional<protocol::StartupMessage>> negotiate_startup();
  /// Answers an SSLRequest: switches the client to TLS when tls.mode allows it.
  Awaitable<void> negotiate_tls();
  /// Refuses a plain-text client while tls.mode is require, and what pgdual does not serve at
  /// all: no user name, replication.
  void check_startup(const protocol::StartupMessage& startup) const;
  /// Ends the login for a newcomer (ClientSlots): every read from the client from now on ends
  /// as if it had closed, while pgdual can still tell it why.
  void evict_login();
  /// Once the client proved who it is: counts it as a session, or refuses it with 53300.
  void enter_session();
  /// Serves the admin console when the client asked for its database; false otherwise.
  Awaitable<bool> serve_admin_console_if_asked();
  Awaitable<BackendConnection> connect_backends();
  /// Takes a new mirror connection into use: the session's state replayed, old commits looked up.
  Awaitable<void> adopt_mirror(BackendConnection connection);
  /// Whether the session may write: its database set up for mirroring (DatabaseSetup).
  Awaitable<DatabaseSetup::Verdict> database_set_up();
  [[nodiscard]] std::unique_ptr<WriteMirror> make_write_mirror(const DatabaseSetup::Verdict& setup);
  /// wal mode: refuses the session (57P03) when its database's slot is not there within mirror.timeout_ms.
  Awaitable<void> wait_for_wal_slot();
  Awaitable<void> greet_client(const BackendConnection& backend);
  /// Shows the session in SHOW SESSIONS as it is now.
  void publish_summary() const;
  Awaitable<void> send_error(std::string_view severity, std::string_view sqlstate, std::string_view message);
  Awaitable<void> send_bytes(protocol::Bytes bytes);

  // The relay (session_relay.cpp).
  Awaitable<void> relay(BackendConnection& backend);
  /// The relay between the client and the primary, until either leaves (or pgdual shuts down).
  Awaitable<void> relay_client(BackendConnection& backend);
  Awaitable<RelayEnd> pump_client_to_backend();
  Awaitable<RelayEnd> pump_backend_to_client(protocol::Bytes early);
  /// Buffers the primary's pump reuses for what it rewrites before the client sees it.
  struct RelayScratch {
    std::vector<std::byte> filtered;  ///< less pgdual's own answers
    std::vector<std::byte> shifted;   ///< with error positions moved
  };
  /// Sends the client `chunk` of the primary's stream, less pgdual's own answers, with error
  /// positions as the client's text has them.
  Awaitable<void> relay_to_client(protocol::Bytes chunk, RelayScratch& scratch);
  /// How long the client may stay silent now, between units: the configured idle timeout
  /// inside or outside a transaction; 0 for no limit.
  [[nodiscard]] std::chrono::milliseconds idle_limit() const;
  void on_primary_message_end();
  /// Serves the unit in segment_, which ends with `last_tag`, from the mirror when it is an
  /// eligible read and the steering picks the mirror; false when the primary is to serve it.
  Awaitable<bool> serve_read_from_mirror(char last_tag);
  /// The mirror's part of serve_read_from_mirror(), once the connection is the session's alone.
  Awaitable<bool> serve_on_mirror(protocol::TransactionStatus status);
  [[nodiscard]] bool read_may_go_to_mirror(char last_tag) const;
  /// Sends segment_ to the primary (and the mirror mode its part). False when the session was asked
  /// to end while its unit waited at the write gate: nothing was sent.
  Awaitable<bool> dispatch_segment();
  /// Before a unit opens: the write gate's pass it needs (proxy/route/write_pass.h), taken at
  /// once when it joins a running transaction. WritePass::enter: wait_at_write_gate() is to take it.
  [[nodiscard]] WritePass take_write_pass();
  /// Waits at the write gate while writes are paused, for the pass of a transaction that may write.
  /// False when the session was asked to end meanwhile (KILL).
  Awaitable<bool> wait_at_write_gate();
  /// Whether the client's message tagged `tag` belongs to its COPY data (unit_.client_copying),
  /// and whether that data ends with it.
  [[nodiscard]] ClientCopyStep client_copy_step(char tag) const;
  /// The client went on without ending its COPY data, after the primary failed the COPY (the
  /// protocol allows it): what it sent of it goes on, the mirror's copy of the COPY fails, and the
  /// unit ends before the message that went on.
  Awaitable<void> end_abandoned_copy();
  [[nodiscard]] UnitPrefix open_unit(std::vector<protocol::Frame>& frames);
  Awaitable<void> wait_for_primary();
  /// Runs `sql`, a Query of pgdual's own, on the primary after the unit, while the client's answer
  /// is held (answer_held_); its answers never reach the client. Returns what the primary made of it.
  Awaitable<conflict::Outcome> run_own_statement(std::string sql);
  Awaitable<void> finish_unit();
  /// Counts the primary's answer to the unit in the metrics, and in the read statistics when the
  /// unit ran reads only; judges the mirror by it when the unit is a read the mirror failed.
  void count_primary_answer(const conflict::Outcome& primary);
  void end_unit(const conflict::Outcome& primary);
  /// After a unit the primary ran without error: what the mirror's connection needs of the session's state.
  void follow_session_state();

  // Following SWAP ROLES (session_roles.cpp).
  /// Between transactions, before the next unit opens: when SWAP ROLES has made the other backend
  /// the primary since the session last looked, moves the session there. Throws SessionError
  /// (57P01) when the session holds state that cannot move (unmovable_), or the new primary
  /// refuses what the session had set up on the old one.
  Awaitable<void> follow_roles();
  /// Opens the session's connection to `running`'s primary, gives it the session's state, and
  /// puts it in the place of the old one, which is closed; the mirror connection follows.
  Awaitable<void> move_to(std::shared_ptr<const config::ProxyConfig> running);
  /// Gives `connection` what the old primary's held of the session: its value settings, the
  /// SET and PREPARE statements the client ran, and the statements it prepared by Parse.
  Awaitable<void> give_state(BackendConnection& connection);
  /// In the primary's pump: stands still while move_to() replaces the primary's connection.
  Awaitable<void> stand_aside();

  Stream client_;
  SessionContext context_;
  std::uint64_t id_;
  ClientSlots::Slot slot_;
  bool login_evicted_ = false;
  MessageReader client_reader_;
  protocol::RequestTracker tracker_;  ///< the primary's
  Stream* backend_stream_ = nullptr;
  std::optional<protocol::BackendKeyData> client_key_;
  bool shutdown_requested_ = false;
  bool waiting_for_client_ = false;

  BackendLogins logins_;
  conflict::SessionInfo session_info_;
  std::string connected_at_;
  UnitPlanner planner_;
  OutcomeTap primary_tap_;
  OwnAnswerFilter own_answers_;  ///< takes the answers to pgdual's own statements out of the primary's stream
  ErrorPositionShift positions_;  ///< moves error positions back past pgdual's prefix in a Query's text
  /// The open unit's final ReadyForQuery waits for WriteMirror::finish_unit(): set at dispatch,
  /// cleared when the client may have the answer (answer_released_ then wakes the primary's pump).
  bool answer_held_ = false;
  Wakeup answer_released_;  ///< also wakes the primary's pump for the answers of run_own_statement()
  bool own_statement_running_ = false;  ///< run_own_statement() waits for its ReadyForQuery
  conflict::Outcome own_statement_outcome_;
  OwnStatementFilter own_statement_answers_;
  Wakeup primary_progress_;              ///< notified by the primary's pump; the client's pump waits on it
  /// The primary's connection; replaced when the session follows SWAP ROLES.
  std::optional<BackendConnection> primary_;
  std::uint64_t roles_seen_ = 0;    ///< RunningRoles::swaps() when the session last looked
  /// Why the session could not move to another primary: state of its connection the WAL does not
  /// carry (a temporary table, a cursor, LISTEN); empty while it can. DISCARD ALL clears it.
  std::string unmovable_;
  bool primary_switching_ = false;  ///< move_to() is replacing the primary's connection
  bool primary_parked_ = false;     ///< the primary's pump stands still meanwhile
  Wakeup primary_switched_;         ///< wakes the primary's pump once the new connection is in place
  bool primary_done_ = false;            ///< the primary has answered the open unit completely
  conflict::Outcome primary_outcome_;
  std::vector<std::byte> segment_;       ///< client messages collected, not yet sent
  /// The unit going to the primary is a read the mirror could have served: the steering drew the
  /// primary, or the mirror failed it. Counted among the steered reads once the primary answers.
  bool eligible_read_ = false;
  /// The unit going to the primary runs on the mirror too, as a shadow read (ShadowReads).
  bool shadow_unit_ = false;
  Unit unit_;
  /// Held from the start of a transaction that may write until the primary is idle again.
  WriteGate::Pass write_pass_;
  bool held_at_gate_ = false;  ///< waiting in WriteGate::enter()

  ClientLogin login_;
  MirrorLink mirror_;
  MirrorReads reads_;
  ConflictRecorder recorder_;
  ShadowReads shadow_;
  std::unique_ptr<WriteMirror> writes_;
};

}  // namespace pgdual::proxy
