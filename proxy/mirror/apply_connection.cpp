#include "proxy/mirror/apply_connection.h"

#include <algorithm>
#include <array>
#include <utility>

#include "conflict/sha256.h"
#include "conflict/sql_text.h"
#include "conflict/wal_names.h"
#include "protocol/sqlstate.h"
#include "proxy/mirror/ddl_message.h"

namespace pgdual::proxy {
namespace {

namespace lr = protocol::logicalrep;

constexpr std::string_view kStatementPrefix = "pgdual_apply_";
constexpr std::string_view kSavepoint = "pgdual_change";
/// Bytes queued before they are sent even when the pipeline is not deep yet: a run of wide rows
/// must not pile up in memory.
constexpr std::size_t kMaxQueuedBytes = std::size_t{1} << 20;
/// Where the mirror's WAL stands: how far it is written (past any COMMIT answered before) and how
/// far it is durable.
constexpr std::string_view kWalPositionSql =
    "SELECT pg_catalog.pg_current_wal_insert_lsn()::text, pg_catalog.pg_current_wal_flush_lsn()::text";

ApplyParameter parameter_of(const lr::TupleColumn& column) {
  // Planning leaves unchanged-TOAST columns out, so a column here is null, text or binary.
  if (column.kind == lr::ColumnKind::null) return {};
  return ApplyParameter{.value = column.value, .binary = column.kind == lr::ColumnKind::binary};
}

std::string describe(const FailedChange& refusal) { return refusal.sqlstate + ": " + refusal.message; }

}  // namespace

ApplyConnection::ApplyConnection(ApplyPipeline pipeline, std::string source, ApplyOptions options)
    : pipeline_{std::move(pipeline)}, source_{std::move(source)}, options_{options} {}

Awaitable<ApplyConnection> ApplyConnection::open(BackendConnection connection, std::string source,
                                                 ApplyOptions options) {
  ApplyConnection apply{ApplyPipeline{std::move(connection), options.answer_timeout}, std::move(source), options};
  co_await apply.set_up();
  co_return apply;
}

Awaitable<void> ApplyConnection::set_up() {
  // The primary's triggers and foreign-key checks already ran; the rows arrive as their result.
  // Every name is qualified, so search_path only matters to what a mirror-side function or
  // default would resolve. COMMIT returns once visible, without waiting for the mirror's disk: a
  // client waits for its transaction to be applied, and only the slot waits for it to be durable
  // (mirror_lsn, mirror_flushed()), which the slot keeps until then.
  std::vector<std::string> settings{"session_replication_role = replica", "search_path = ''",
                                    "synchronous_commit = off"};
  // The text arrives as the primary stored it: read in any other encoding, its bytes would be
  // refused (22021) or stored as other characters.
  if (!options_.source_encoding.empty()) {
    settings.push_back("client_encoding = " + conflict::quote_literal(options_.source_encoding));
  }
  for (const auto& setting : settings) {
    pipeline_.command("SET " + setting, FailedChange{.kind = ChangeKind::begin});
    const auto refused = co_await run_batch();
    if (!refused) continue;
    std::string advice;
    if (refused->sqlstate == protocol::sqlstate::kInsufficientPrivilege) {
      advice = " (log the apply in as a superuser, or GRANT SET ON PARAMETER session_replication_role to its role)";
    }
    throw ApplyError{"the mirror refused SET " + setting + " for the WAL apply: " + describe(*refused) +
                     advice};
  }
  pipeline_.parse(kLedgerStatement, kRecordAppliedSql, FailedChange{.relation = "pgdual.applied"});
  pipeline_.parse(kNotifyStatement, kNotifyAppliedSql, FailedChange{.relation = "pgdual.applied"});
  const auto refused = co_await run_batch();
  if (refused) {
    throw ApplyError{"the mirror cannot record applied transactions in pgdual.applied (`pgdual init` creates it, "
                     "schema version 2): " + describe(*refused)};
  }
  applied_through_ = co_await last_applied(source_);
  // Past whatever an earlier connection committed: a transaction the ledger already holds is as
  // durable as this position.
  co_await refresh_wal_position();
}

void ApplyConnection::queue_wal_position() {
  pipeline_.command(kWalPositionSql, FailedChange{.kind = ChangeKind::commit});
  pipeline_.sync();
}

void ApplyConnection::take_wal_position() {
  if (const auto refusals = pipeline_.take_failures(); !refusals.empty()) {
    throw ApplyError{"the mirror did not tell where its WAL stands: " + describe(refusals.front())};
  }
  const auto& row = pipeline_.last_row();
  const auto lsn_at = [&row](std::size_t column) -> std::optional<protocol::XLogRecPtr> {
    if (row.size() != 2 || !row[column]) return std::nullopt;
    const auto lsn = protocol::parse_lsn(*row[column]);
    if (!lsn) return std::nullopt;
    return *lsn;
  };
  const auto position = lsn_at(0);
  const auto flushed = lsn_at(1);
  if (!position || !flushed) throw ApplyError{"the mirror told its WAL position in a form that is no LSN"};
  mirror_position_ = std::max(mirror_position_, *position);
  mirror_flushed_ = std::max(mirror_flushed_, *flushed);
}

Awaitable<void> ApplyConnection::refresh_wal_position() {
  queue_wal_position();
  co_await pipeline_.settle();
  take_wal_position();
}

Awaitable<protocol::XLogRecPtr> ApplyConnection::read_mirror_flushed() {
  if (!idle()) throw ApplyError{"the mirror's WAL position asked inside a transaction"};
  co_await refresh_wal_position();
  co_return mirror_flushed_;
}

std::vector<TransactionResult> ApplyConnection::stamped(std::vector<TransactionResult> results) const {
  for (auto& result : results) result.mirror_lsn = mirror_position_;
  return results;
}

Awaitable<std::optional<FailedChange>> ApplyConnection::run_batch() {
  pipeline_.sync();
  co_await pipeline_.settle();
  for (const auto& name : pipeline_.take_unparsed()) forget(name);
  auto refusals = pipeline_.take_failures();
  if (refusals.empty()) co_return std::nullopt;
  co_return std::move(refusals.front());
}

Awaitable<std::optional<protocol::XLogRecPtr>> ApplyConnection::last_applied(std::string_view source) {
  if (transaction_) throw ApplyError{"last_applied() asked inside a transaction"};
  const FailedChange reading{.relation = "pgdual.applied"};
  pipeline_.parse({}, kLastAppliedSql, reading);
  const std::array parameters{text_parameter(source)};
  pipeline_.fetch({}, parameters, reading);
  const auto refused = co_await run_batch();
  if (refused) throw ApplyError{"the mirror cannot read pgdual.applied: " + describe(*refused)};
  const auto rows = pipeline_.take_rows();
  if (rows.empty() || !rows.front()) co_return std::nullopt;
  const auto lsn = protocol::parse_lsn(*rows.front());
  if (!lsn) throw ApplyError{"pgdual.applied returned a commit_lsn that is no LSN"};
  co_return *lsn;
}

Awaitable<std::vector<TransactionResult>> ApplyConnection::feed(const lr::LogicalReplicationMessage& message,
                                                                bool more_follow) {
  auto results = co_await take(message, more_follow);
  co_return stamped(std::move(results));
}

Awaitable<std::vector<TransactionResult>> ApplyConnection::take(const lr::LogicalReplicationMessage& message,
                                                                bool more_follow) {
  if (const auto* begin = std::get_if<lr::Begin>(&message)) {
    begin_transaction(*begin);
  } else if (const auto* relation = std::get_if<lr::Relation>(&message)) {
    remember(*relation);
  } else if (const auto* insert = std::get_if<lr::Insert>(&message)) {
    note_ddl_origin(*insert);
    if (auto* entry = target(insert->relation_id)) {
      co_await apply_change(*entry, ChangeKind::insert, plan_insert(entry->relation, *insert));
    }
  } else if (const auto* update = std::get_if<lr::Update>(&message)) {
    if (auto* entry = target(update->relation_id)) {
      co_await read_mirror_columns(*entry, ChangeKind::update);
      co_await apply_change(*entry, ChangeKind::update, plan_update(entry->relation, entry->mirror, *update));
    }
  } else if (const auto* remove = std::get_if<lr::Delete>(&message)) {
    if (auto* entry = target(remove->relation_id)) {
      co_await read_mirror_columns(*entry, ChangeKind::delete_row);
      co_await apply_change(*entry, ChangeKind::delete_row, plan_delete(entry->relation, *remove));
    }
  } else if (const auto* truncate = std::get_if<lr::Truncate>(&message)) {
    co_await apply_truncate(*truncate);
  } else if (const auto* logical_message = std::get_if<lr::Message>(&message)) {
    if (logical_message->transactional) {
      co_await take_message(*logical_message);
    } else if (!transaction_) {
      co_return co_await take_outside_message(*logical_message, message_applied(logical_message->lsn));
    } else {
      defer(*logical_message);
    }
  } else if (const auto* commit = std::get_if<lr::Commit>(&message)) {
    auto results = co_await commit_transaction(*commit, more_follow);
    co_return co_await take_deferred(std::move(results));
  } else if (!std::holds_alternative<lr::Type>(message) && !std::holds_alternative<lr::Origin>(message)) {
    // Type needs nothing: each parameter takes the type of the mirror's column. Origin names
    // where a primary's transaction was replicated from; the mirror takes it all the same.
    throw ApplyError{"streamed and two-phase transactions are not applied: read the slot without the streaming "
                     "and two_phase options"};
  }
  co_return std::vector<TransactionResult>{};
}

void ApplyConnection::begin_transaction(const lr::Begin& begin) {
  if (transaction_) throw ApplyError{"Begin inside a transaction: pgoutput's messages are out of order"};
  auto& transaction = transaction_.emplace(Transaction{.begin = begin, .mode = mode_});
  // The slot resends from its confirmed position, which may lag the mirror's ledger.
  transaction.skipping = applied_through_ && begin.final_lsn <= *applied_through_;
  // Held transactions keep the mirror's transaction open: this one joins it.
  if (!transaction.skipping && held_.empty()) {
    pipeline_.command("BEGIN", FailedChange{.kind = ChangeKind::begin, .commit_lsn = begin.final_lsn});
  }
}

void ApplyConnection::remember(const lr::Relation& relation) {
  // The table's shape may have changed: statements prepared for the old one are wrong now.
  auto& entry = relations_[relation.relation_id];
  for (const auto& [shape, statement] : entry.statements) pipeline_.close_statement(statement);
  lr::OwnedRelation owned{relation};
  auto name = qualified_name(owned);
  entry = RelationEntry{.relation = std::move(owned), .name = std::move(name), .statements = {}};
}

ApplyConnection::RelationEntry* ApplyConnection::target(lr::Oid relation_id) {
  if (!transaction_) throw ApplyError{"a change outside a transaction: pgoutput's messages are out of order"};
  const auto found = relations_.find(relation_id);
  if (found == relations_.end()) {
    throw ApplyError{"a change of relation " + std::to_string(relation_id) + ", which no Relation message described"};
  }
  if (transaction_->skipping || transaction_->failure || is_pgdual_relation(found->second.relation)) return nullptr;
  return &found->second;
}

Awaitable<void> ApplyConnection::read_mirror_columns(RelationEntry& entry, ChangeKind kind) {
  if (!entry.mirror.empty()) co_return;
  const auto names = column_names_parameter(entry.relation);
  const std::array parameters{text_parameter(entry.name), text_parameter(names)};
  const FailedChange reading{.relation = entry.name, .kind = kind, .commit_lsn = transaction_->begin.final_lsn};
  pipeline_.parse({}, kMirrorColumnsSql, reading);
  pipeline_.fetch({}, parameters, reading);
  pipeline_.sync();
  co_await pipeline_.settle();
  collect();
  const auto rows = pipeline_.take_rows();
  if (rows.size() != entry.relation.columns.size()) co_return;
  for (const auto& row : rows) entry.mirror.push_back(parse_mirror_column(row));
}

Awaitable<void> ApplyConnection::apply_change(RelationEntry& entry, ChangeKind kind,
                                              const tl::expected<PlannedChange, PlanError>& planned) {
  const auto change = label(entry.name, kind);
  if (!planned) {
    auto refusal = change;
    refusal.sqlstate = protocol::sqlstate::kInternalError;
    refusal.message = planned.error();
    file(std::move(refusal));
    co_return;
  }
  open_change(change);
  auto& statement = entry.statements[planned->shape()];
  if (statement.empty()) {
    statement = std::string{kStatementPrefix} + std::to_string(++statements_prepared_);
    pipeline_.parse(statement, statement_sql(entry.relation, entry.mirror, *planned), change);
  }
  parameters_.clear();
  for (const auto& value : planned->values) parameters_.push_back(parameter_of(value));
  pipeline_.execute(statement, parameters_, change, kind != ChangeKind::insert);
  co_await close_change(change);
}

Awaitable<void> ApplyConnection::apply_truncate(const lr::Truncate& truncate) {
  std::vector<const lr::OwnedRelation*> relations;
  std::string names;
  for (const auto relation_id : truncate.relation_ids) {
    const auto* entry = target(relation_id);
    if (entry == nullptr) continue;
    relations.push_back(&entry->relation);
    names += (names.empty() ? "" : ", ") + entry->name;
  }
  if (relations.empty()) co_return;
  const auto change = label(std::move(names), ChangeKind::truncate);
  open_change(change);
  pipeline_.command(truncate_sql(relations, truncate.cascade, truncate.restart_identity), change);
  co_await close_change(change);
}

Awaitable<void> ApplyConnection::take_message(const lr::Message& message) {
  if (!transaction_ || transaction_->skipping) co_return;
  const auto content = protocol::as_text(message.content);
  if (message.prefix == conflict::kSchemaChangeMessagePrefix) {
    if (!transaction_->failure) co_await apply_ddl(content);
    co_return;
  }
  // Other prefixes belong to other applications and change nothing on the mirror. pgdual writes
  // its key itself; anything else under its prefix is no key and is not recorded.
  if (message.prefix == conflict::kUnitKeyMessagePrefix && is_unit_key(content)) {
    transaction_->unit_key = std::string{content};
  }
}

// pgdual.emit_ddl's insert into pgdual.ddl_proof (is_ddl_origin), which only it may write, just before its message.
void ApplyConnection::note_ddl_origin(const lr::Insert& insert) {
  if (!transaction_ || transaction_->skipping) return;
  const auto found = relations_.find(insert.relation_id);
  if (found == relations_.end() || !is_ddl_origin(found->second.relation)) return;
  const auto& columns = found->second.relation.columns;
  const auto digest = std::ranges::find(columns, std::string_view{kDdlOriginDigest}, &lr::OwnedRelation::Column::name);
  const auto index = static_cast<std::size_t>(digest - columns.begin());
  std::size_t n = 0;
  for (const auto& value : insert.new_tuple) {
    if (n++ == index && value.kind == lr::ColumnKind::text) transaction_->ddl_origins.emplace_back(value.text());
  }
}

// A message without its origin was written by some other hand than pgdual.emit_ddl: run as the role
// it names, it could do anything on the mirror. Refused and recorded, never run.
bool ApplyConnection::take_ddl_origin(std::string_view content) {
  const auto digest = conflict::to_hex(conflict::sha256(protocol::as_bytes(content)));
  auto& origins = transaction_->ddl_origins;
  const auto found = std::ranges::find(origins, digest);
  if (found == origins.end()) return false;
  origins.erase(found);
  return true;
}

Awaitable<void> ApplyConnection::apply_ddl(std::string_view content) {
  auto change = label({}, ChangeKind::ddl);
  if (!take_ddl_origin(content)) {
    change.sqlstate = protocol::sqlstate::kInsufficientPrivilege;
    change.message = "a pgdual.ddl message that pgdual.emit_ddl did not write (no origin in its transaction); not run";
    file(std::move(change));
    co_return;
  }
  const auto ddl = decode_ddl_message(content);
  if (!ddl) {
    change.sqlstate = protocol::sqlstate::kInvalidParameterValue;
    change.message = "a pgdual.ddl message that is malformed: " + ddl.error();
    file(std::move(change));
    co_return;
  }
  change.statement = ddl_summary(ddl->statement);
  open_change(change);
  const std::array context{text_parameter(ddl->role), text_parameter(ddl->search_path)};
  pipeline_.parse({}, kDdlContextSql, change);
  pipeline_.execute({}, context, change, false);
  co_await pipeline_.query(ddl->statement, change);
  pipeline_.command(kEmptyTablesCreatedSql, change);
  pipeline_.command(kDdlRestoreSql, change);
  // A refusal rolls the settings back with the rest: the transaction, or in careful mode the savepoint.
  co_await close_change(change);
}

Awaitable<std::vector<TransactionResult>> ApplyConnection::commit_transaction(const lr::Commit& commit,
                                                                             bool more_follow) {
  if (!transaction_) throw ApplyError{"Commit without Begin: pgoutput's messages are out of order"};
  TransactionResult result{.status = TransactionResult::Status::applied,
                           .commit_lsn = commit.commit_lsn,
                           .end_lsn = commit.end_lsn,
                           .xid = transaction_->begin.xid};
  // Transactions the ledger knows come before any applied one: never while others are held.
  if (transaction_->skipping) {
    transaction_.reset();
    result.status = TransactionResult::Status::already_applied;
    co_return std::vector{std::move(result)};
  }
  if (!transaction_->failure) {
    const auto lsn = protocol::format_lsn(commit.commit_lsn);
    const auto xid = std::to_string(transaction_->begin.xid);
    const auto& key = transaction_->unit_key;
    const std::array parameters{text_parameter(source_), text_parameter(lsn), text_parameter(xid),
                                key ? text_parameter(*key) : ApplyParameter{}};
    pipeline_.execute(
        kLedgerStatement, parameters,
        FailedChange{.relation = "pgdual.applied", .kind = ChangeKind::commit, .commit_lsn = commit.commit_lsn}, false);
    if (key && options_.others_may_wait && options_.others_may_wait(*key)) {
      const std::array notified{text_parameter(*key)};
      pipeline_.execute(
          kNotifyStatement, notified,
          FailedChange{.relation = "pgdual.applied", .kind = ChangeKind::commit, .commit_lsn = commit.commit_lsn},
          false);
    }
  }
  const bool hold = !transaction_->failure && transaction_->mode == ApplyMode::fast && more_follow &&
                    held_.size() + 1 < options_.max_batch;
  auto failure = std::move(transaction_->failure);
  result.unit_key = std::move(transaction_->unit_key);
  result.skipped = std::move(transaction_->skipped);
  transaction_.reset();
  held_.push_back(std::move(result));
  if (hold) co_return std::vector<TransactionResult>{};
  co_return co_await commit_held(std::move(failure));
}

Awaitable<std::vector<TransactionResult>> ApplyConnection::flush() {
  if (transaction_) throw ApplyError{"a flush inside a transaction"};
  if (held_.empty()) co_return std::vector<TransactionResult>{};
  auto results = co_await commit_held(std::nullopt);
  co_return stamped(std::move(results));
}

Awaitable<std::vector<TransactionResult>> ApplyConnection::commit_held(std::optional<FailedChange> failure) {
  const auto last_lsn = held_.back().commit_lsn;
  const auto committing =
      FailedChange{.relation = "pgdual.applied", .kind = ChangeKind::commit, .commit_lsn = last_lsn};
  // An earlier transaction's refusal came back after this one's began: it is the first.
  if (held_failure_) failure = std::move(held_failure_);
  // COMMIT goes with the changes, in one round trip: after a refusal the mirror skips it (up to the
  // Sync), and the transaction, aborted, is rolled back below. A change that found no row refuses
  // nothing: it was filed as skipped (file()), and the rest commits, as careful mode would have it.
  pipeline_.command(failure ? "ROLLBACK" : "COMMIT", committing);
  pipeline_.sync();
  // The WAL's position after the COMMIT rides in the same round trip: the COMMIT's answers are
  // read first, for its tag.
  const auto after_commit = pipeline_.in_flight();
  queue_wal_position();
  co_await pipeline_.drain_to(pipeline_.in_flight() - after_commit);
  collect();
  const bool committed = pipeline_.last_command_tag() == "COMMIT";
  co_await pipeline_.settle();
  if (failure || held_failure_) {
    // The batch fails. After a refusal the mirror skipped up to the COMMIT's (or ROLLBACK's) Sync,
    // leaving its transaction open and aborted, which refused the position's read too: nothing of
    // the batch stays, and nothing waits for the WAL.
    static_cast<void>(pipeline_.take_failures());
  } else {
    take_wal_position();
  }
  if (held_failure_ && !failure) {
    // A refusal among the answers: the mirror skipped the COMMIT, and its transaction is aborted.
    failure = std::move(held_failure_);
    pipeline_.command("ROLLBACK", committing);
    pipeline_.sync();
    co_await pipeline_.settle();
    collect();
  } else if (!failure && !committed) {
    // COMMIT of a transaction in error answers ROLLBACK: a careful-mode savepoint went wrong.
    failure = committing;
    failure->sqlstate = protocol::sqlstate::kInternalError;
    failure->message = "the mirror rolled the transaction back";
  }
  auto held = std::exchange(held_, {});
  held_failure_.reset();
  if (!failure) {
    applied_through_ = last_lsn;
    co_return held;
  }
  const auto failed = std::ranges::find(held, failure->commit_lsn, &TransactionResult::commit_lsn);
  TransactionResult result = failed != held.end() ? std::move(*failed) : std::move(held.back());
  result.status = TransactionResult::Status::failed;
  result.failure = std::move(failure);
  result.skipped.clear();
  co_return std::vector{std::move(result)};
}

void ApplyConnection::open_change(const FailedChange& change) {
  if (transaction_->mode == ApplyMode::careful) pipeline_.command("SAVEPOINT " + std::string{kSavepoint}, change);
}

Awaitable<void> ApplyConnection::close_change(const FailedChange& change) {
  if (transaction_->mode == ApplyMode::fast) {
    if (pipeline_.in_flight() > options_.pipeline_depth || pipeline_.queued_bytes() > kMaxQueuedBytes) {
      co_await pipeline_.drain_to(options_.pipeline_depth / 2);
      collect();
    }
    co_return;
  }
  pipeline_.sync();
  co_await pipeline_.settle();
  // Sent ahead of the next change: the savepoint's end needs no round trip of its own.
  if (collect()) pipeline_.command("ROLLBACK TO SAVEPOINT " + std::string{kSavepoint}, change);
  pipeline_.command("RELEASE SAVEPOINT " + std::string{kSavepoint}, change);
}

bool ApplyConnection::collect() {
  for (const auto& name : pipeline_.take_unparsed()) forget(name);
  auto refusals = pipeline_.take_failures();
  for (auto& refusal : refusals) file(std::move(refusal));
  return !refusals.empty();
}

void ApplyConnection::file(FailedChange refusal) {
  if (refusal.sqlstate == protocol::sqlstate::kNoData && skip(refusal)) return;
  if (!transaction_ || refusal.commit_lsn != transaction_->begin.final_lsn) {
    if (!held_failure_) held_failure_ = std::move(refusal);
    return;
  }
  auto& transaction = *transaction_;
  if (transaction.mode == ApplyMode::careful && refusal.change_number > 0) {
    transaction.skipped.push_back(std::move(refusal));
  } else if (!transaction.failure) {
    transaction.failure = std::move(refusal);
  }
}

// The mirror lacks the row the primary changed: the change is left out and recorded, and the rest
// of its transaction applies, in fast mode as in careful mode.
bool ApplyConnection::skip(FailedChange& refusal) {
  if (transaction_ && refusal.commit_lsn == transaction_->begin.final_lsn) {
    transaction_->skipped.push_back(std::move(refusal));
    return true;
  }
  const auto held = std::ranges::find(held_, refusal.commit_lsn, &TransactionResult::commit_lsn);
  if (held == held_.end()) return false;
  held->skipped.push_back(std::move(refusal));
  return true;
}

void ApplyConnection::forget(const std::string& statement) {
  for (auto& [relation_id, entry] : relations_) {
    std::erase_if(entry.statements, [&](const auto& item) { return item.second == statement; });
  }
}

FailedChange ApplyConnection::label(std::string relation, ChangeKind kind) {
  return FailedChange{.change_number = ++transaction_->changes,
                      .relation = std::move(relation),
                      .kind = kind,
                      .commit_lsn = transaction_->begin.final_lsn};
}

}  // namespace pgdual::proxy
