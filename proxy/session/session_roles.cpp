// Session, continued: the state a session's connections hold, and following SWAP ROLES to another
// primary (docs/cutover.md, "Open sessions").

#include <utility>

#include "protocol/frontend_messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/backend/simple_query.h"
#include "proxy/cancel_registry.h"
#include "proxy/cutover/running_roles.h"
#include "proxy/route/read_eligibility.h"
#include "proxy/session/session.h"

namespace pgdual::proxy {

// The mirror's connection must hold the session's state for the reads it serves. Statement mode
// sends it every unit that changes that state. wal mode sends it nothing of the client's: a lone
// SET, RESET, PREPARE or DEALLOCATE the primary took outside a transaction is passed on, to run
// before the mirror's next read; any other change (a temporary table, whose rows the WAL does not
// carry; a cursor; a setting changed inside a transaction) keeps the session's reads on the primary.
void Session::follow_session_state() {
  if (context_.wal_mirrors == nullptr) {
    if (!unit_.session_statement.empty()) mirror_.remember_session_statement(std::move(unit_.session_statement));
    return;
  }
  const auto& summary = planner_.summary();
  if (summary.kind != sql::StatementKind::session_state) return;
  if (summary.statements == 1 && summary.representative && resets_session(*summary.representative)) {
    mirror_.pass_on_session_reset("DISCARD ALL");
    reads_.session_reset();
    unmovable_.clear();
    publish_summary();
    return;
  }
  if (!unit_.session_statement.empty() && summary.representative &&
      passes_to_mirror(*summary.representative)) {
    mirror_.pass_on_session_statement(std::move(unit_.session_statement));
    return;
  }
  if (unmovable_.empty()) {
    unmovable_ = "a temporary table, a cursor, or a setting changed inside a transaction";
    publish_summary();
  }
  reads_.keep_on_primary("the session holds state its mirror connection lacks (a temporary table, a cursor, or a "
                         "setting changed inside a transaction)");
}

// Only between transactions: a transaction open on the old primary ends there (SWAP ROLES runs
// while writes are paused, so it is a read-only one), and so does a READ ONLY one the mirror
// serves. A session that logged in after the swap has the running roles already; one that saw two
// swaps in a row stays where it is.
Awaitable<void> Session::follow_roles() {
  if (unit_.open || primary_tap_.transaction_status() != protocol::TransactionStatus::idle) co_return;
  if (mirror_.connected() && mirror_.leg().transaction_status() != protocol::TransactionStatus::idle) co_return;
  const auto swaps = context_.roles.swaps();
  if (swaps == roles_seen_) co_return;
  roles_seen_ = swaps;
  auto running = context_.roles.config();
  if (running->primary == context_.config->primary) co_return;
  if (!unmovable_.empty()) {
    context_.log->warn("session={} ends: the roles were swapped, and it holds {}", id_, unmovable_);
    throw SessionError{protocol::sqlstate::kAdminShutdown,
                       "terminating connection: the roles were swapped (" + running->primary_backend().name +
                           " is the primary now), and this session holds state that cannot move there: " +
                           unmovable_};
  }
  co_await move_to(std::move(running));
}

// The new connection is ready before the old one is touched: a primary that refuses the login
// ends the session with the old connection still idle, nothing of the client's sent anywhere.
Awaitable<void> Session::move_to(std::shared_ptr<const config::ProxyConfig> running) {
  const auto& backend = running->primary_backend();
  auto logins = logins_;
  std::swap(logins.primary, logins.mirror);
  auto connection = co_await BackendConnection::open(backend, context_.backend_tls.for_backend(backend),
                                                     logins.primary, running->limits.max_message_bytes);
  co_await give_state(connection);
  co_await shadow_.leg_free();  // the mirror connection, now to the new primary, is about to close
  primary_switching_ = true;
  backend_stream_->lowest_layer().cancel();
  while (!primary_parked_) co_await primary_progress_.async_wait(asio::as_tuple(use_awaitable));
  std::vector<std::byte> terminate;
  protocol::Writer out{terminate};
  protocol::encode(protocol::Terminate{}, out);
  co_await asio::async_write(*backend_stream_, asio::buffer(terminate), asio::as_tuple(use_awaitable));
  primary_.emplace(std::move(connection));
  backend_stream_ = &primary_->stream();
  context_.config = std::move(running);
  logins_ = std::move(logins);
  if (client_key_) context_.cancels.set_primary(*client_key_, backend, primary_->key());
  mirror_.follow_swap(logins_.mirror);
  planner_.forget_mirror_statements();
  primary_switching_ = false;
  primary_switched_.notify();
  context_.log->info("session={} follows SWAP ROLES: {} is its primary now", id_, backend.name);
  publish_summary();
}

Awaitable<void> Session::give_state(BackendConnection& connection) {
  for (const auto& statement : mirror_.session_state_for(connection)) {
    const auto answer = co_await run_simple_query(connection, statement);
    if (!answer.refused) continue;
    throw SessionError{protocol::sqlstate::kAdminShutdown,
                       "terminating connection: the roles were swapped, and the new primary refused a setting of "
                       "this session (" + answer.refused->sqlstate + ")"};
  }
  auto parses = planner_.parses_held();
  if (parses.empty()) co_return;
  protocol::Writer out{parses};
  protocol::encode(protocol::Sync{}, out);
  const auto answer = co_await run_until_ready(connection, parses);
  if (!answer.refused) co_return;
  throw SessionError{protocol::sqlstate::kAdminShutdown,
                     "terminating connection: the roles were swapped, and the new primary refused a statement this "
                     "session had prepared (" + answer.refused->sqlstate + ")"};
}

Awaitable<void> Session::stand_aside() {
  primary_parked_ = true;
  primary_progress_.notify();
  while (primary_switching_) co_await primary_switched_.async_wait(asio::as_tuple(use_awaitable));
  primary_parked_ = false;
}

}  // namespace pgdual::proxy
