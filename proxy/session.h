#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "conflict/conflict_record.h"
#include "protocol/authentication.h"
#include "protocol/backend_messages.h"
#include "protocol/request_tracker.h"
#include "protocol/startup.h"
#include "proxy/asio.h"
#include "proxy/backend_connection.h"
#include "proxy/backend_tls.h"
#include "proxy/client_auth.h"
#include "proxy/mirror_leg.h"
#include "proxy/route/outcome_tap.h"
#include "proxy/route/read_brake.h"
#include "proxy/route/read_steering.h"
#include "proxy/route/statement_pins.h"
#include "proxy/route/unit_planner.h"
#include "proxy/wakeup.h"
#include "proxy/wire_io.h"

namespace pgdual::proxy {

class CancelRegistry;
class ConflictSink;
class LedgerPruner;
class ClientCredentials;
class LiveSettings;
class Metrics;
class SessionRegistry;

/// What every session shares: the configuration it started with, and the
/// server-wide registries.
struct SessionContext {
  std::shared_ptr<const config::ProxyConfig> config;
  CancelRegistry& cancels;
  SessionRegistry& sessions;
  std::shared_ptr<spdlog::logger> log;
  ConflictSink& conflicts;
  LedgerPruner& ledger_pruner;
  /// The key of the outcomes' rows digests (conflict/outcome.h), the same for every session.
  std::shared_ptr<const std::vector<std::byte>> rows_digest_key;
  ReadSteering& steering;
  ReadBrake& brake;
  LiveSettings& settings;
  Metrics& metrics;
  const ClientCredentials& credentials;
  /// The TLS context of each backend, for BackendConnection::open.
  const BackendTlsContexts& backend_tls;
};

/// What read rules (config::ReadRule) match a session on: its login and the client's address.
[[nodiscard]] SessionFacts steering_facts(const conflict::SessionInfo& session, const Stream& client);

/// A mirror connection being opened in the background, shared with the
/// coroutine that opens it so the session may end first.
struct MirrorReconnect {
  std::optional<BackendConnection> ready;
  bool connecting = false;
  std::chrono::steady_clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{0};
};

/// One client connection, from its startup packet to its last byte. Runs on
/// one worker thread's io_context; every member is touched only from there.
///
/// The client's messages are cut into units (a Query, or extended-protocol
/// messages up to Sync), each routed by UnitPlanner. The primary's answers
/// stream to the client as they arrive; the mirror's are read once the
/// primary is done, or when the mirror is next needed (PendingAnswer),
/// compared, and any difference becomes a conflict record.
class Session {
 public:
  Session(tcp::socket client, SessionContext context, std::uint64_t id);
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

  /// Client messages for the mirror, as they came, with the pins to apply to the mirror's copy.
  struct DeferredSegment {
    std::vector<std::byte> bytes{};
    StatementPins pins{};
  };

  /// The unit being relayed.
  struct Unit {
    bool open = false;
    UnitPlan plan;
    bool runs = false;  ///< the unit's messages so far execute something
    std::string key;  ///< idempotency key, for a unit that writes
    /// The mirror's copy of the unit (for a retry outside a transaction
    /// block, or, after_primary, to send once the primary has committed).
    std::vector<std::byte> mirror_copy;
    bool mirror_began = false;  ///< the mirror's BEGIN of a wrapped unit is sent
    std::optional<conflict::Reachability> mirror_lost;  ///< the mirror broke off during the unit
    std::vector<std::string> unpinned;  ///< nondeterministic values left as they were
    std::string session_statement;  ///< a SET or PREPARE to replay on a new mirror connection
    ReadBrake::Clock::time_point started{};  ///< when its first message went to the primary
    /// A write's segments, held back until the primary has answered them.
    std::vector<DeferredSegment> deferred;
  };

  /// A unit the mirror was sent, whose answer is read later (settle_pending), so that the client
  /// goes on meanwhile.
  struct PendingAnswer {
    /// What the mirror's answer is.
    enum class Of : std::uint8_t {
      /// A unit both run at once, inside a transaction that goes on: its outcome, to compare.
      unit,
      /// The client's COMMIT (after_primary), run after the primary's: its outcome, to compare.
      clients_commit,
      /// pgdual's own COMMIT of a wrapped unit, whose answer was compared already: only its
      /// failure is a conflict.
      own_commit,
    };
    conflict::ConflictRecord record;  ///< the unit's, should the answer differ; for a unit, nondeterministic holds its unpinned values
    Of of = Of::unit;
    sql::StatementKind kind = sql::StatementKind::write;  ///< the unit's, for the metrics
    bool writes = false;  ///< the unit changes data: a mirror that does not answer it misses a write
    std::uint64_t mark = 0;  ///< MirrorLeg::answers_queued() once the unit was queued
  };

  Awaitable<std::optional<protocol::StartupMessage>> negotiate_startup();
  /// Answers an SSLRequest: switches the client to TLS when tls.mode allows it.
  Awaitable<void> negotiate_tls();
  /// Refuses a plain-text client while tls.mode is require.
  void require_tls_if_configured() const;

  // The client's login (session_auth.cpp).
  /// Checks the client's proof by the first [[hba]] rule that matches it; throws SessionError,
  /// after a fixed pause, when it fails.
  Awaitable<void> authenticate_client();
  /// authenticate_client() within limits.startup_timeout.
  Awaitable<void> authenticate_in_time();
  Awaitable<std::optional<AuthFailure>> authenticate_scram();
  Awaitable<std::optional<AuthFailure>> authenticate_md5();
  Awaitable<void> send_authentication(const protocol::Authentication& request);
  Awaitable<protocol::Frame> read_password_message();

  /// Serves the admin console when the client asked for its database; false otherwise.
  Awaitable<bool> serve_admin_console_if_asked();
  /// Shows the session in SHOW SESSIONS as it is now.
  void publish_summary() const;
  /// Refuses what pgdual does not serve at all: no user name, replication.
  void check_startup(const protocol::StartupMessage& startup) const;
  /// The login towards the backends as the client asked for it, copied out of the packet.
  void prepare_logins(const protocol::StartupMessage& startup);
  /// Once the client proved who it is: each backend's password for its user.
  void choose_backend_passwords();
  Awaitable<void> greet_client(const BackendConnection& backend);
  Awaitable<void> relay(BackendConnection& backend);
  Awaitable<RelayEnd> pump_client_to_backend(Stream& backend);
  /// How long the client may stay silent now, between units: the configured idle timeout
  /// inside or outside a transaction; 0 for no limit.
  [[nodiscard]] std::chrono::milliseconds idle_limit() const;
  Awaitable<RelayEnd> pump_backend_to_client(Stream& backend, protocol::Bytes early);
  void on_primary_message_end();
  Awaitable<void> send_error(std::string_view severity, std::string_view sqlstate, std::string_view message);
  Awaitable<void> send_bytes(protocol::Bytes bytes);

  // Units (session_units.cpp).
  Awaitable<void> dispatch_segment(Stream& primary);
  [[nodiscard]] StatementPins open_unit(std::vector<protocol::Frame>& frames);
  [[nodiscard]] StatementPins pin_values(std::vector<protocol::Frame>& frames);
  void pin_query(std::vector<protocol::Frame>& frames, const sql::PinnedTimes& times);
  Awaitable<void> send_to_mirror(std::span<const protocol::Frame> frames, const StatementPins& pins);
  void queue_for_mirror(std::span<const protocol::Frame> frames, const StatementPins& pins, bool copy_data);
  /// Queues the unit's held-back writes for the mirror once the primary has answered them; drops
  /// them and returns false when the primary's error was one of chance (cancel, deadlock...): the
  /// mirror then has nothing to run, nor to compare.
  [[nodiscard]] bool release_deferred_writes(const conflict::Outcome& primary);
  [[nodiscard]] std::size_t deferred_bytes() const;
  /// Reads the answers the mirror owes before `bytes` more are sent to it, when they are many.
  Awaitable<void> make_room_for(std::size_t bytes);
  Awaitable<void> wait_for_primary();
  Awaitable<void> finish_unit();
  Awaitable<conflict::Outcome> finish_wrapped(const conflict::Outcome& primary);
  Awaitable<std::optional<conflict::Outcome>> finish_after_primary(const conflict::Outcome& primary);
  Awaitable<conflict::Outcome> mirror_answer(MirrorLeg::Clock::time_point deadline);
  /// The tables the open unit writes to; none for a unit that does not write.
  [[nodiscard]] const std::vector<std::string>& unit_tables() const;
  /// The open unit drew column defaults the session does not know yet: the mirror's catalog must be read.
  [[nodiscard]] bool needs_column_defaults(const conflict::Outcome& primary) const;
  /// Adds to `unpinned` the volatile column defaults (a serial key, DEFAULT now()) of `tables`
  /// when a write's command tag says it drew them, as far as the session knows them.
  void add_column_defaults(std::string_view command_tag, const std::vector<std::string>& tables,
                           std::vector<std::string>& unpinned) const;
  /// The open unit's volatile column defaults into its unpinned values, read from the mirror's catalog if need be.
  Awaitable<void> note_unit_defaults(const conflict::Outcome& primary);
  Awaitable<bool> read_column_defaults();
  void compare_and_record(const conflict::Outcome& primary, const conflict::Outcome& mirror);
  [[nodiscard]] conflict::ConflictRecord unit_record(conflict::ConflictKind kind, const conflict::Outcome& primary,
                                                    const conflict::Outcome& mirror) const;
  void record(conflict::ConflictKind kind, const conflict::Outcome& primary, const conflict::Outcome& mirror);
  void submit(conflict::ConflictRecord record, bool commit_in_flight);
  /// Whether the mirror's answer to the unit, which both ran at once, may be read later.
  [[nodiscard]] bool answer_may_wait(const conflict::Outcome& primary) const;
  Awaitable<void> answer_later(PendingAnswer pending);
  /// Reads the answers of the pending units, oldest first, and compares them, until `keep` are left.
  Awaitable<void> settle_pending(std::size_t keep = 0);
  void settle_pending_unit(PendingAnswer pending, const conflict::Outcome& mirror);
  void settle_pending_commit(PendingAnswer pending, const conflict::Outcome& mirror);
  void end_unit(const conflict::Outcome& primary);
  void record_primary_lost();

  // Reads the mirror serves in the primary's place (session_reads.cpp).
  /// Serves the unit in segment_, which ends with `last_tag`, from the mirror when it is an
  /// eligible read and the steering picks the mirror; false when the primary is to serve it.
  Awaitable<bool> serve_read_from_mirror(char last_tag);
  [[nodiscard]] bool read_may_go_to_mirror(char last_tag) const;
  [[nodiscard]] bool steering_picks_mirror() const;
  /// At a unit's start: a transaction that begins READ ONLY draws once for all its reads.
  void steer_transaction(protocol::TransactionStatus status_before);
  void keep_reads_on_primary(std::string_view why);
  void record_mirror_read(ReadBrake::Clock::time_point started, const MirrorLeg::ServedRead& served);
  /// Counts the primary's answer to the unit in the metrics, and in the read statistics when the
  /// unit ran reads only.
  void count_primary_answer();
  /// Counts the mirror's answer to a unit both ran.
  void count_mirror_answer(const conflict::Outcome& mirror, sql::StatementKind kind);
  Awaitable<void> end_interrupted_read();

  // The mirror connection (session_mirror.cpp).
  Awaitable<BackendConnection> connect_backends();
  Awaitable<void> adopt_mirror(BackendConnection connection);
  Awaitable<void> reconnect_mirror_when_due();
  void drop_mirror(const MirrorFailure& failure);
  /// Reads what the mirror owes for what it was sent, up to the mirror
  /// timeout; false, with the mirror dropped, when it broke off.
  Awaitable<bool> settle_mirror();
  Awaitable<void> resolve_unknown_commits();
  [[nodiscard]] MirrorLeg::Clock::time_point mirror_deadline() const;
  [[nodiscard]] std::optional<std::pair<config::BackendConfig, protocol::BackendKeyData>> mirror_cancel_target() const;
  /// Whether a cancel request of the client goes to the mirror too: only while it serves a read.
  void let_cancels_reach_mirror(bool reach);

  Stream client_;
  SessionContext context_;
  std::uint64_t id_;
  MessageReader client_reader_;
  protocol::RequestTracker tracker_;  ///< the primary's
  Stream* backend_stream_ = nullptr;
  std::optional<protocol::BackendKeyData> client_key_;
  bool shutdown_requested_ = false;
  bool waiting_for_client_ = false;

  BackendLogin login_;         ///< towards the primary
  BackendLogin mirror_login_;  ///< the same, with the mirror's password
  /// The primary's DateStyle, IntervalStyle and TimeZone, which every mirror connection is given.
  std::map<std::string, std::string> primary_settings_;
  conflict::SessionInfo session_info_;
  UnitPlanner planner_;
  OutcomeTap primary_tap_;
  OwnAnswerFilter own_answers_;  ///< takes the answers to pinned statement copies out of the primary's stream
  Wakeup primary_progress_;              ///< notified by the primary's pump; the client's pump waits on it
  bool primary_done_ = false;            ///< the primary has answered the open unit completely
  conflict::Outcome primary_outcome_;
  std::vector<std::byte> segment_;       ///< client messages collected, not yet sent
  Unit unit_;
  std::string transaction_key_;   ///< the idempotency key of the open client transaction
  bool transaction_writes_ = false;
  std::string transaction_time_;  ///< now() pinned for the open transaction
  std::vector<std::string> session_statements_;  ///< SET, PREPARE... replayed on a new mirror connection
  /// Tables whose column defaults draw a different value on each backend (a
  /// serial key, DEFAULT now()), by name, with those functions ("nextval,now").
  std::unordered_map<std::string, std::string> volatile_defaults_;
  bool volatile_defaults_known_ = false;
  /// Conflicts of units whose COMMIT the mirror may have applied before it
  /// broke off, by idempotency key: looked up on the next connection.
  std::vector<conflict::ConflictRecord> unknown_commits_;
  std::deque<PendingAnswer> pending_;

  std::optional<MirrorLeg> mirror_;
  std::shared_ptr<MirrorReconnect> reconnect_;

  SessionFacts steering_facts_;
  std::string connected_at_;
  /// Why the mirror serves none of this session's reads any more; empty while it may. Set when a
  /// conflict is recorded (the mirror may lack a write the session made: read-your-writes), when
  /// the mirror connection is lost (a new one lacks the session's temporary tables and cursors),
  /// and on LISTEN (notifications come from the primary, whose relay may write to the client at
  /// any time).
  std::string reads_on_primary_only_;
  /// The open transaction began READ ONLY and the steering picked the mirror for it: its reads
  /// go there, all of them, so that they share the mirror transaction's snapshot.
  bool transaction_reads_on_mirror_ = false;
};

}  // namespace pgdual::proxy
