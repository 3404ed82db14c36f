// ApplyConnection, continued: the non-transactional messages pgdual's sessions emit after what no
// marker may join (docs/wal-mirror.md, "Statements no marker may join"): a key to announce once
// everything before it is on the mirror, and a statement to run there outside any transaction.

#include <algorithm>
#include <array>
#include <utility>

#include "conflict/wal_names.h"
#include "protocol/sqlstate.h"
#include "proxy/mirror/apply_connection.h"
#include "proxy/mirror/ddl_message.h"

namespace pgdual::proxy {
namespace {

namespace lr = protocol::logicalrep;

bool is_pgdual_prefix(std::string_view prefix) {
  return prefix == conflict::kUnitKeyMessagePrefix || prefix == conflict::kSchemaChangeMessagePrefix;
}

}  // namespace

// The ledger records a non-transactional message at its last byte, lsn - 1 (its LSN is where its
// record ends): a transaction whose commit record follows it at once starts at lsn, and must not
// look applied.
bool ApplyConnection::message_applied(protocol::XLogRecPtr lsn) const noexcept {
  return applied_through_ && lsn - 1 <= *applied_through_;
}

Awaitable<std::vector<TransactionResult>> ApplyConnection::take_outside_message(const lr::Message& message,
                                                                                bool applied) {
  if (!is_pgdual_prefix(message.prefix)) co_return std::vector<TransactionResult>{};
  std::vector<TransactionResult> results;
  // Every transaction before the message first: its key promises them, its statement follows them.
  if (!held_.empty()) {
    results = co_await commit_held(std::nullopt);
    // Nothing of the batch stayed: the slot sends it again, and this message after it.
    if (results.front().status == TransactionResult::Status::failed) co_return results;
  }
  TransactionResult result{.status = TransactionResult::Status::outside_transaction,
                           .commit_lsn = message.lsn,
                           .end_lsn = message.lsn,
                           .xid = 0};
  const auto content = protocol::as_text(message.content);
  if (message.prefix == conflict::kUnitKeyMessagePrefix) {
    // Announced even when sent again: whatever came before it is on the mirror either way.
    if (is_unit_key(content)) {
      result.unit_key = std::string{content};
      co_await notify_others(*result.unit_key);
    }
  } else if (applied) {
    result.status = TransactionResult::Status::already_applied;
  } else {
    co_await run_alone(content, result);
  }
  results.push_back(std::move(result));
  co_return results;
}

// A refusal is the statement's: reported in result.skipped, as careful mode reports a change it
// left out, and recorded in the ledger all the same, so that it is not run again after a restart.
Awaitable<void> ApplyConnection::run_alone(std::string_view content, TransactionResult& result) {
  FailedChange change{.change_number = 1, .kind = ChangeKind::ddl, .commit_lsn = result.commit_lsn};
  const auto ddl = decode_ddl_message(content);
  std::optional<FailedChange> refused;
  if (!ddl) {
    refused = change;
    refused->message = "a pgdual.ddl message that is malformed: " + ddl.error();
  } else if (change.statement = ddl_summary(ddl->statement); !runs_alone(ddl->statement)) {
    refused = change;
    refused->message =
        "a non-transactional pgdual.ddl message with a statement that may run in a transaction, "
        "which pgdual sends inside it: not run";
  }
  if (refused) {
    refused->sqlstate = protocol::sqlstate::kInvalidParameterValue;
  } else {
    const std::array context{text_parameter(ddl->role), text_parameter(ddl->search_path)};
    pipeline_.parse({}, kAloneContextSql, change);
    pipeline_.execute({}, context, change, false);
    refused = co_await run_batch();
    if (!refused) {
      co_await pipeline_.query(ddl->statement, change);
      refused = co_await run_batch();  // the statement's own refusal, reported by the Sync after it
    }
    pipeline_.command(kDdlRestoreSql, change);
    if (auto restore_refused = co_await run_batch(); !refused) refused = std::move(restore_refused);
  }
  if (refused) result.skipped.push_back(std::move(*refused));
  const auto ledger_lsn = protocol::format_lsn(result.commit_lsn - 1);
  const std::array parameters{text_parameter(source_), text_parameter(ledger_lsn), text_parameter("0"),
                              ApplyParameter{}};
  pipeline_.execute(kLedgerStatement, parameters,
                    FailedChange{.relation = "pgdual.applied", .kind = ChangeKind::commit}, false);
  if (const auto ledger_refused = co_await run_batch()) {
    throw ApplyError{"the mirror cannot record a statement run alone in pgdual.applied: " + ledger_refused->sqlstate +
                     ": " + ledger_refused->message};
  }
  applied_through_ = std::max(applied_through_.value_or(0), result.commit_lsn - 1);
  co_await refresh_wal_position();  // past the ledger row's commit, for the result's mirror_lsn
}

Awaitable<void> ApplyConnection::notify_others(const std::string& key) {
  if (!options_.others_may_wait || !options_.others_may_wait(key)) co_return;
  const std::array notified{text_parameter(key)};
  pipeline_.execute(kNotifyStatement, notified, FailedChange{.relation = "pgdual.applied", .kind = ChangeKind::commit},
                    false);
  static_cast<void>(co_await run_batch());
}

void ApplyConnection::defer(const lr::Message& message) {
  auto deferred = std::make_unique<DeferredMessage>();
  deferred->prefix = std::string{message.prefix};
  deferred->content = std::string{protocol::as_text(message.content)};
  deferred->message = message;
  deferred->message.prefix = deferred->prefix;
  deferred->message.content = protocol::as_bytes(deferred->content);
  deferred->applied = message_applied(message.lsn);
  deferred_.push_back(std::move(deferred));
}

Awaitable<std::vector<TransactionResult>> ApplyConnection::take_deferred(std::vector<TransactionResult> results) {
  auto deferred = std::exchange(deferred_, {});
  for (const auto& item : deferred) {
    const bool failed = std::ranges::any_of(
        results, [](const TransactionResult& result) { return result.status == TransactionResult::Status::failed; });
    // The slot sends the transaction again, and the messages inside it with it.
    if (failed) break;
    auto more = co_await take_outside_message(item->message, item->applied);
    std::ranges::move(more, std::back_inserter(results));
  }
  co_return results;
}

}  // namespace pgdual::proxy
