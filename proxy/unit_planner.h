#pragma once

#include <cstdint>
#include <memory>
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
  /// Both run it as it is, concurrently: statements inside a client
  /// transaction, transaction control, session state.
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
  bool commits = false;             ///< the unit is one COMMIT (or COMMIT PREPARED, PREPARE TRANSACTION)
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

  /// Notes one client message of the unit being collected. Messages that do
  /// not parse are noted as unknown writes: PostgreSQL rejects them itself.
  void observe(const protocol::Frame& frame);

  [[nodiscard]] const UnitSummary& summary() const noexcept { return summary_; }
  /// Where the unit observed so far goes, given the primary's transaction status.
  [[nodiscard]] UnitPlan plan(protocol::TransactionStatus primary_status) const;
  /// Starts the summary of the next unit.
  void start_unit() { summary_ = {}; }

  /// The mirror's copy of `frames`: each Bind of a statement the mirror has
  /// not been given is preceded by that statement's Close and Parse. Marks
  /// what the mirror then holds. Appends to `out`.
  void copy_for_mirror(std::span<const protocol::Frame> frames, std::vector<std::byte>& out);
  /// `frames` went to the primary alone: the statements they parse are not on the mirror.
  void sent_to_primary_only(std::span<const protocol::Frame> frames);
  /// A new mirror connection holds no prepared statement.
  void forget_mirror_statements();

 private:
  struct Statement {
    std::vector<std::byte> parse_message;  ///< the whole Parse message, header included
    std::shared_ptr<const sql::Classification> verdict;
    bool on_mirror = false;
  };

  void note_executed(const std::shared_ptr<const sql::Classification>& verdict);
  void note_unknown_write();
  void observe_query(protocol::Bytes body);
  void observe_parse(const protocol::Frame& frame);
  void observe_bind(protocol::Bytes body);
  void observe_execute(protocol::Bytes body);
  void observe_close(protocol::Bytes body);

  sql::Classifier& classifier_;
  std::unordered_map<std::string, Statement> statements_;  ///< "" is the unnamed statement
  std::unordered_map<std::string, std::shared_ptr<const sql::Classification>> portals_;
  UnitSummary summary_;
};

}  // namespace pgdual::proxy
