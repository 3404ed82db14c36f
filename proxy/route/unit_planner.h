#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/frame.h"
#include "protocol/sql/classification.h"
#include "protocol/sql/classifier.h"

namespace pgdual::proxy {

/// How the mirror takes part in a unit (../shared/DESIGN.md, "Routing rules").
enum class MirrorMode : std::uint8_t {
  none,      ///< the primary alone: reads, LISTEN, and text libpg_query cannot parse
  /// Both run it as it is: statements inside a client transaction,
  /// transaction control, session state. One that writes goes to the
  /// mirror once the primary has answered it (docs/dual-write.md).
  parallel,
  /// An autocommit write: the mirror runs it inside a transaction of its own
  /// that commits only once the primary has succeeded.
  wrapped,
  /// A COMMIT: the mirror commits only after the primary has committed.
  after_primary,
};

[[nodiscard]] std::string_view to_string(MirrorMode mode) noexcept;

/// Where one unit goes: a Query, or the extended-protocol messages up to Sync.
struct UnitPlan {
  MirrorMode mirror = MirrorMode::none;
  /// The unit changes data on the mirror: it needs an idempotency key, and a
  /// mirror that cannot take it is a conflict.
  bool writes = false;
  /// Text libpg_query could not parse went to the primary alone; if the
  /// primary accepts it, that is a conflict of kind unclassified.
  bool unclassified = false;
};

/// What the statements a unit executes add up to.
struct UnitSummary {
  sql::StatementKind kind = sql::StatementKind::read;  ///< the strongest
  bool executes = false;            ///< a Query, Execute or FunctionCall
  bool unparsable = false;          ///< some text is no SQL libpg_query can parse
  bool transaction_control = false;  ///< some statement is BEGIN, COMMIT, SAVEPOINT...
  /// Some transaction control other than a text starting with BEGIN READ ONLY: the unit may open a
  /// transaction that writes (proxy/route/write_pass.h).
  bool may_begin_writes = false;
  bool commits = false;             ///< the unit is one COMMIT (or COMMIT PREPARED, PREPARE TRANSACTION)
  bool plain_commit = false;        ///< the unit is one COMMIT or END: the open transaction ends here
  bool commit_prepared = false;     ///< the unit is one COMMIT PREPARED
  bool prepares_transaction = false;  ///< some statement is PREPARE TRANSACTION
  std::size_t statements = 0;       ///< statements executed, a FunctionCall counting as one
  bool alone_in_transaction = false;  ///< some statement must have its transaction to itself (Classification)
  /// The unit's first statements that change the schema, as written (Classification); empty
  /// when its first statement does not.
  std::string schema_change_text;
  /// A statement that changes the schema comes after one that does not, in the unit.
  bool schema_change_late = false;
  /// Some statement or fast-path FunctionCall creates, writes or removes a large object; a
  /// FunctionCall of lo_open with INV_WRITE counts too.
  bool writes_large_objects = false;
  bool creates_unlogged_table = false;  ///< some statement creates an unlogged table or makes one unlogged
  bool fills_new_column = false;  ///< some statement adds a column filled as it runs (sql::Classification)
  /// Of the unit's Execute messages, counted from 0, the first whose portal writes large objects,
  /// and the first whose portal creates an unlogged table: where the server would fail, were it
  /// to refuse them (proxy/route/uncarried_writes.h).
  std::optional<std::uint32_t> large_objects_execute;
  std::optional<std::uint32_t> unlogged_table_execute;
  /// Of the unit's Execute messages, the first whose portal may write (sql::StatementKind copy_in
  /// or write, or a portal pgdual does not know): where the server would fail, were writes refused.
  std::optional<std::uint32_t> write_execute;
  /// Of the unit's Execute messages, how many at its start run statements that only open or set up
  /// the transaction (sql::Classification::transaction_setup_statements): where a statement of
  /// pgdual's own that joins the transaction goes.
  std::uint32_t setup_executes = 0;
  bool primary_only = false;        ///< some statement's answer is specific to one server (Classification)
  bool parses_named = false;        ///< the unit prepares a named statement
  bool parses_unnamed = false;      ///< the unit prepares the unnamed statement
  bool closes_statement = false;    ///< the unit closes a prepared statement
  bool listens = false;             ///< some statement is LISTEN or UNLISTEN
  /// The first statement that changes something, else the first one: what a
  /// conflict record names. Null for a FunctionCall.
  std::shared_ptr<const sql::Classification> representative;
};

/// Follows the statements a session prepares and the portals it binds, so an
/// extended-protocol batch is routed by what it executes, and the mirror is
/// given a prepared statement just before it first needs it.
///
/// Pure: frames in, plans and bytes out.
class UnitPlanner {
 public:
  explicit UnitPlanner(sql::Classifier& classifier) : classifier_{classifier} {}

  [[nodiscard]] sql::Classifier& classifier() noexcept { return classifier_; }

  /// Notes one client message of the unit being collected. Messages that do
  /// not parse are noted as unknown writes: PostgreSQL rejects them itself.
  void observe(const protocol::Frame& frame);

  [[nodiscard]] const UnitSummary& summary() const noexcept { return summary_; }
  /// Where the unit observed so far goes, given the primary's transaction status.
  [[nodiscard]] UnitPlan plan(protocol::TransactionStatus primary_status) const;
  /// The unit observed so far may be answered by the mirror instead of the primary, outside a
  /// transaction: it executes reads whose answers do not depend on the server, and it leaves
  /// the primary's prepared statements as they are, but for the unnamed one (see
  /// served_by_mirror()).
  [[nodiscard]] bool may_read_from_mirror() const noexcept;
  /// The unit, copied for the mirror (copy_for_mirror()), was answered by the mirror alone.
  /// The primary did not see its Parse of the unnamed statement, if any: the next unit that uses
  /// the unnamed statement without preparing it gives it to the primary (unnamed_parse_for_primary()).
  void served_by_mirror() noexcept;
  /// The Parse, header included, that a unit of `frames` going to the primary must be preceded by
  /// when it uses the unnamed statement before preparing it while the primary holds an older
  /// version of it, because the mirror served the unit that prepared it; empty otherwise.
  [[nodiscard]] std::vector<std::byte> unnamed_parse_for_primary(std::span<const protocol::Frame> frames);
  /// The body of the Parse message that prepared `statement` last, as the primary holds it.
  [[nodiscard]] std::optional<protocol::Bytes> parse_body(std::string_view statement) const;

  /// Starts the summary of the next unit.
  void start_unit() {
    summary_ = {};
    executes_in_unit_ = 0;
  }

  /// The mirror's copy of `frames`, which were observed before: a statement
  /// the mirror lacks (or holds in an older version) is given to it, by its
  /// Parse, just before a Bind or Describe refers to it; a Parse replacing a
  /// named statement the mirror holds is preceded by its Close. Appends to `out`.
  void copy_for_mirror(std::span<const protocol::Frame> frames, std::vector<std::byte>& out);
  /// `frames`, observed before, went to the primary alone.
  void sent_to_primary_only(std::span<const protocol::Frame> frames);
  /// A new mirror connection holds no prepared statement.
  void forget_mirror_statements();
  /// Every statement the primary holds, as the Parse messages that prepared them (headers
  /// included): what a new primary connection is given when the session follows SWAP ROLES.
  [[nodiscard]] std::vector<std::byte> parses_held() const;
  /// The names of the statements copy_for_mirror() gave the mirror (a Parse it sent) since the
  /// last call: what the mirror holds only if its answer to them had no error.
  [[nodiscard]] std::vector<std::string> take_given_to_mirror();
  /// The mirror answered a unit that gave it `statements` with an error, so its Parse may have
  /// failed and the statement may not exist there: the next use closes and prepares it again
  /// (Close of a missing statement is no error), instead of binding what may not be there.
  void mirror_may_lack(std::span<const std::string> statements);

 private:
  /// One Parse of a statement: what the primary holds from then on.
  struct Version {
    std::vector<std::byte> parse_message;  ///< the whole Parse message, header included
    std::shared_ptr<const sql::Classification> verdict;
  };
  using VersionPtr = std::shared_ptr<const Version>;

  void note_executed(const std::shared_ptr<const sql::Classification>& verdict);
  void note_unknown_write();
  void observe_query(protocol::Bytes body);
  void observe_parse(const protocol::Frame& frame);
  void observe_bind(protocol::Bytes body);
  void observe_describe(protocol::Bytes body);
  void observe_execute(protocol::Bytes body);
  void observe_close(protocol::Bytes body);
  void observe_function_call(protocol::Bytes body);
  [[nodiscard]] VersionPtr current(std::string_view name) const;
  /// The version the next routed Parse, Bind or Describe of a statement refers to.
  [[nodiscard]] VersionPtr next_in_flight();
  void give_mirror(const std::string& name, const VersionPtr& version, std::vector<std::byte>& out);

  sql::Classifier& classifier_;
  std::unordered_map<std::string, VersionPtr> statements_;  ///< as the primary holds them; "" is unnamed
  std::unordered_map<std::string, VersionPtr> on_mirror_;   ///< as the mirror holds them
  /// For each Parse, Bind and statement Describe observed and not routed yet,
  /// in order: the version it refers to (null when unknown).
  std::deque<VersionPtr> in_flight_;
  std::vector<std::string> closed_on_primary_only_;  ///< still on the mirror, to close there
  std::vector<std::string> given_to_mirror_;  ///< Parses copy_for_mirror() sent, for take_given_to_mirror()
  std::unordered_map<std::string, std::shared_ptr<const sql::Classification>> portals_;
  UnitSummary summary_;
  std::uint32_t executes_in_unit_ = 0;  ///< Execute messages observed since start_unit()
  bool unnamed_stale_on_primary_ = false;
};

}  // namespace pgdual::proxy
