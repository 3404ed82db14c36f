#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/pgoutput.h"
#include "protocol/replication.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/mirror/apply_pipeline.h"
#include "proxy/mirror/apply_statements.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// The apply cannot go on as asked: the mirror refused the session's settings (a role that may
/// not set session_replication_role), pgdual.applied is missing, or the messages fed break
/// pgoutput's order (a change of a relation never described, a Commit without Begin, a streamed
/// or two-phase transaction, which the slot reader must not ask for).
class ApplyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ApplyOptions {
  /// How long the mirror may take to answer one message before the connection is given up.
  std::chrono::milliseconds answer_timeout{30'000};
  /// Changes sent ahead of their answers before the apply waits for some: deep enough to keep
  /// the mirror busy, shallow enough that the answers never fill the socket buffers.
  std::size_t pipeline_depth = 512;
  /// Primary transactions that may share one mirror transaction, when they follow each other in
  /// the stream without a wait: one COMMIT, and one flush of the mirror's WAL, for all of them.
  /// 1 commits each on its own.
  std::size_t max_batch = 64;
  /// The encoding of the text the stream carries (SlotStream::server_encoding(), the primary
  /// database's): the apply's client_encoding, so that the mirror reads the bytes as the primary
  /// stored them, converting them when its own database's encoding differs. Empty: the mirror's
  /// default.
  std::string source_encoding{};
  /// Whether another pgdual instance's session may wait for the unit key a transaction carries
  /// (docs/deployment.md): its apply then sends the key on channel kAppliedChannel, which the
  /// mirror delivers once it commits. Unset: none may.
  std::function<bool(std::string_view)> others_may_wait{};
};

/// The channel on which the mirror tells every pgdual instance listening there the unit keys the
/// apply committed (InstanceLink).
inline constexpr std::string_view kAppliedChannel = "pgdual_applied";

/// How a transaction is applied.
enum class ApplyMode : std::uint8_t {
  /// Every change pipelined, COMMIT included; the first change the mirror refuses fails the whole
  /// transaction. One that finds no row refuses nothing: it is skipped and reported, as below.
  fast,
  /// A SAVEPOINT around each change, one round trip each: a refused change is rolled back to
  /// its savepoint, skipped and reported, and the rest commits. For re-applying a transaction
  /// that failed in fast mode, so that the stream goes on past it with every skip on record.
  careful,
};

/// What became of one primary transaction, given at its Commit.
struct TransactionResult {
  enum class Status : std::uint8_t {
    applied,          ///< committed on the mirror, with its row in pgdual.applied
    already_applied,  ///< its commit LSN is at or below the source's last applied one: skipped whole
    failed,           ///< rolled back on the mirror: nothing of it stayed; `failure` says why
    /// No transaction: a non-transactional pgdual message, taken once every transaction before it
    /// was committed on the mirror. Its key (unit_key) may be announced; the statement it carried
    /// ran outside any transaction, or is in `skipped` when the mirror refused it. commit_lsn and
    /// end_lsn are the message's LSN.
    outside_transaction,
  };
  Status status = Status::applied;
  protocol::XLogRecPtr commit_lsn = 0;
  protocol::XLogRecPtr end_lsn = 0;  ///< where the slot may be confirmed to once the status is not failed
  protocol::TransactionId xid = 0;
  std::optional<std::string> unit_key{};  ///< pgdual's key, when the transaction came through pgdual
  /// The mirror's WAL insert position once this result stood there (its COMMIT in): the slot may be
  /// confirmed to end_lsn once the mirror has flushed its WAL this far (ApplyConnection::mirror_flushed()).
  protocol::XLogRecPtr mirror_lsn = 0;
  std::optional<FailedChange> failure{};  ///< failed: the change (or BEGIN, ledger row, COMMIT) refused
  std::vector<FailedChange> skipped{};    ///< careful mode: the changes rolled back and left out
};

/// One connection to the mirror that applies the primary's transactions, decoded from its
/// `pgoutput` slot, one at a time and in commit order: each as one mirror transaction that also
/// writes its row in pgdual.applied (DESIGN.md, "The mirror: row images from the primary's WAL").
/// The caller reads the slot and feeds every message; nothing of a transaction is held beyond the
/// requests in flight. Once feed() returns a result whose status is not failed, the caller may
/// confirm the slot up to its end_lsn; after a failure it feeds the same transaction again (in
/// careful mode, say), from the slot.
///
/// Tables are mapped by schema-qualified name, never by OID. The session replays rows as the
/// primary committed them: session_replication_role = replica, so that the mirror's triggers and
/// foreign-key checks do not fire a second time. DDL that pgdual ran on the primary arrives as a
/// pgdual.ddl message (proxy/mirror/ddl_message.h) and runs where it stands among the changes; a
/// statement that must run alone comes in a non-transactional one and runs between transactions.
///
/// Any I/O failure or silence past answer_timeout throws MirrorFailure (proxy/backend/mirror_leg.h);
/// the connection is unusable then, and the mirror rolls back the open transaction. Open a new
/// one: last_applied() tells where to go on.
class ApplyConnection {
 public:
  /// Sets the session up (replica role, empty search_path, synchronous_commit = off, client_encoding
  /// ApplyOptions::source_encoding), prepares the
  /// ledger insert and reads the last commit LSN applied from `source` (source_name()).
  /// Throws ApplyError when the mirror refuses a setting (the message says which, and that
  /// session_replication_role needs a superuser or GRANT SET ON PARAMETER) or has no pgdual.applied
  /// (`pgdual init` installs it), MirrorFailure as above.
  static Awaitable<ApplyConnection> open(BackendConnection connection, std::string source, ApplyOptions options = {});

  /// The highest commit LSN pgdual.applied records for `source`; std::nullopt when none.
  /// Precondition: no transaction is open (between a Begin and its Commit). Throws ApplyError or
  /// MirrorFailure.
  Awaitable<std::optional<protocol::XLogRecPtr>> last_applied(std::string_view source);

  /// The highest commit LSN the mirror's ledger held for the source when the connection opened
  /// (or recorded since); std::nullopt when none.
  [[nodiscard]] std::optional<protocol::XLogRecPtr> applied_through() const noexcept { return applied_through_; }

  /// How the transactions whose Begin comes next are applied.
  void set_mode(ApplyMode mode) noexcept { mode_ = mode; }

  /// Applies one message. At a Commit, returns the results of the transactions the mirror has now
  /// committed or rolled back, in commit order; nothing for every other message. With
  /// `more_follow` (the next transaction is at hand), a fast-mode transaction's COMMIT may wait for
  /// the ones after it, up to ApplyOptions::max_batch; its result comes with theirs. When such a
  /// batch fails, one result says so: the transaction whose change the mirror refused; none of the
  /// batch stayed. `message` and the bytes it borrows must stay alive until this returns.
  /// Throws ApplyError (messages out of order, streamed or two-phase ones) or MirrorFailure.
  Awaitable<std::vector<TransactionResult>> feed(const protocol::logicalrep::LogicalReplicationMessage& message,
                                                 bool more_follow = false);

  /// Commits the transactions held for a shared COMMIT now, rather than with the next one's: the
  /// apply is to stand still after them (ApplyHold). Their results, as feed() gives them at a
  /// Commit; nothing when none is held. Precondition: no transaction is open. Throws as feed().
  Awaitable<std::vector<TransactionResult>> flush();

  /// Between a Begin and its Commit.
  [[nodiscard]] bool in_transaction() const noexcept { return transaction_.has_value(); }
  /// No transaction is open, and none is held for a shared COMMIT.
  [[nodiscard]] bool idle() const noexcept { return !transaction_ && held_.empty(); }

  /// How far the mirror's WAL is durable, as last read: every result whose mirror_lsn is at or
  /// below it survives a crash of the mirror. Read again with each COMMIT's answers.
  [[nodiscard]] protocol::XLogRecPtr mirror_flushed() const noexcept { return mirror_flushed_; }
  /// Asks the mirror how far its WAL is durable now (one round trip), for a quiet stream whose
  /// last transactions wait for the mirror's WAL writer. Precondition: idle(). Throws as feed().
  Awaitable<protocol::XLogRecPtr> read_mirror_flushed();

  [[nodiscard]] const std::string& source() const noexcept { return source_; }

  /// Says goodbye to the mirror; errors are ignored.
  Awaitable<void> terminate() { return pipeline_.terminate(); }

 private:
  /// The prepared insert of a row into pgdual.applied.
  static constexpr std::string_view kLedgerStatement = "pgdual_apply_ledger";
  /// The prepared NOTIFY of a unit key another instance's session may wait for.
  static constexpr std::string_view kNotifyStatement = "pgdual_apply_notify";

  struct RelationEntry {
    protocol::logicalrep::OwnedRelation relation;
    std::string name;  ///< qualified_name(relation)
    std::unordered_map<std::string, std::string> statements;  ///< prepared statement by PlannedChange::shape()
    MirrorColumns mirror{};  ///< read from the mirror before the first Update or Delete (empty until then)
  };
  /// A non-transactional message that came between a Begin and its Commit, taken after the Commit.
  /// pgoutput sends none there without streaming (a transaction is sent whole at its commit, a
  /// non-transactional message as it is decoded), but the order of the two is the walsender's.
  struct DeferredMessage {
    protocol::logicalrep::Message message;  ///< its prefix and content view the two strings below
    std::string prefix;
    std::string content;
    bool applied = false;  ///< message_applied() when it came: the Commit after it moves the ledger on
  };
  /// The transaction between Begin and Commit.
  struct Transaction {
    protocol::logicalrep::Begin begin;
    ApplyMode mode = ApplyMode::fast;
    bool skipping = false;  ///< already applied
    std::size_t changes = 0;
    std::optional<std::string> unit_key{};
    std::optional<FailedChange> failure{};
    std::vector<FailedChange> skipped{};
    std::vector<std::string> ddl_origins{};  ///< digests pgdual.emit_ddl wrote, not yet matched by their message
  };

  ApplyConnection(ApplyPipeline pipeline, std::string source, ApplyOptions options);

  Awaitable<void> set_up();
  /// feed() without the results' mirror_lsn.
  Awaitable<std::vector<TransactionResult>> take(const protocol::logicalrep::LogicalReplicationMessage& message,
                                                 bool more_follow);
  /// Gives each result the mirror's WAL position now known, which is past every COMMIT run for it.
  [[nodiscard]] std::vector<TransactionResult> stamped(std::vector<TransactionResult> results) const;
  /// Queues the read of the mirror's WAL insert and flush positions, and a Sync. Queued after a
  /// COMMIT and its Sync, the insert position read is past the commit record.
  void queue_wal_position();
  /// Takes the positions queue_wal_position() read, once its answers are in.
  void take_wal_position();
  /// queue_wal_position(), then its answers.
  Awaitable<void> refresh_wal_position();
  void begin_transaction(const protocol::logicalrep::Begin& begin);
  void remember(const protocol::logicalrep::Relation& relation);
  /// The relation a change goes to, or nullptr when the change is not applied (already applied,
  /// failed before, or pgdual's own). Throws ApplyError for a relation never described.
  RelationEntry* target(protocol::logicalrep::Oid relation_id);
  /// Reads entry.mirror from the mirror's catalog unless it was read since the Relation message: one
  /// round trip, inside the transaction. Nothing is read when the mirror is skipping to a Sync after
  /// a refusal; the next change tries again.
  Awaitable<void> read_mirror_columns(RelationEntry& entry, ChangeKind kind);
  Awaitable<void> apply_change(RelationEntry& entry, ChangeKind kind,
                               const tl::expected<PlannedChange, PlanError>& planned);
  Awaitable<void> apply_truncate(const protocol::logicalrep::Truncate& truncate);
  Awaitable<void> take_message(const protocol::logicalrep::Message& message);
  /// A non-transactional message, outside any transaction: what is held is committed first.
  /// `applied`: message_applied() when it came.
  Awaitable<std::vector<TransactionResult>> take_outside_message(const protocol::logicalrep::Message& message,
                                                                 bool applied);
  /// Tells the other instances (ApplyOptions::others_may_wait) of an announced key, in a NOTIFY
  /// of its own: no transaction carries it. A refusal only makes their session wait its timeout.
  Awaitable<void> notify_others(const std::string& key);
  /// Runs the statement of a non-transactional pgdual.ddl message outside any transaction block,
  /// as the primary's role with its search_path, then records the message in pgdual.applied.
  Awaitable<void> run_alone(std::string_view content, TransactionResult& result);
  /// Whether the ledger holds the non-transactional message at `lsn` already, or a later transaction.
  [[nodiscard]] bool message_applied(protocol::XLogRecPtr lsn) const noexcept;
  /// Keeps a non-transactional message that came inside a transaction for after its Commit.
  void defer(const protocol::logicalrep::Message& message);
  /// After a transaction's Commit, the non-transactional messages that came inside it.
  Awaitable<std::vector<TransactionResult>> take_deferred(std::vector<TransactionResult> results);
  /// Runs the statement of a pgdual.ddl message at this point of the transaction, as the primary's
  /// role with its search_path, then the apply's own again. Malformed content is a refused change.
  Awaitable<void> apply_ddl(std::string_view content);
  void note_ddl_origin(const protocol::logicalrep::Insert& insert);
  /// Whether pgdual.emit_ddl wrote `content` in this transaction; each origin serves one message.
  bool take_ddl_origin(std::string_view content);
  Awaitable<std::vector<TransactionResult>> commit_transaction(const protocol::logicalrep::Commit& commit,
                                                               bool more_follow);
  /// COMMIT of the transactions held, or ROLLBACK when `failure` or a held one's failure says so.
  Awaitable<std::vector<TransactionResult>> commit_held(std::optional<FailedChange> failure);
  /// Careful mode: opens the change's savepoint. Queued before the change's own Parse.
  void open_change(const FailedChange& change);
  /// Fast mode: waits for answers once the pipeline is deep. Careful mode: runs the change and
  /// queues the end of its savepoint (rolled back to when the mirror refused the change).
  Awaitable<void> close_change(const FailedChange& change);
  /// Runs the queued requests (ending them with Sync) and returns the first refusal; outside transactions.
  Awaitable<std::optional<FailedChange>> run_batch();
  /// Files the mirror's refusals read so far in the transaction; true when there was one.
  bool collect();
  /// A refusal fails the transaction, except a change's in careful mode, or one that found no row,
  /// which are skipped.
  void file(FailedChange refusal);
  /// Files a change that found no row as skipped by its transaction, open or held; false when the
  /// transaction is neither.
  bool skip(FailedChange& refusal);
  /// Drops a prepared statement that does not exist on the mirror (its Parse failed or was skipped).
  void forget(const std::string& statement);
  /// The next change of the transaction, for reports.
  [[nodiscard]] FailedChange label(std::string relation, ChangeKind kind);

  ApplyPipeline pipeline_;
  std::string source_;
  ApplyOptions options_;
  ApplyMode mode_ = ApplyMode::fast;
  std::optional<protocol::XLogRecPtr> applied_through_;
  protocol::XLogRecPtr mirror_position_ = 0;  ///< the mirror's WAL insert position, as last read
  protocol::XLogRecPtr mirror_flushed_ = 0;   ///< the mirror's WAL flush position, as last read
  std::unordered_map<protocol::logicalrep::Oid, RelationEntry> relations_;
  std::uint64_t statements_prepared_ = 0;
  std::optional<Transaction> transaction_;
  /// Transactions applied inside the open mirror transaction, whose COMMIT waits for more.
  std::vector<TransactionResult> held_;
  /// The first change refused outside the transaction being fed: one of held_'s, or the current
  /// one's found once it was over. It fails the whole mirror transaction.
  std::optional<FailedChange> held_failure_;
  std::vector<ApplyParameter> parameters_;  ///< reused for every change
  std::vector<std::unique_ptr<DeferredMessage>> deferred_;
};

}  // namespace pgdual::proxy
