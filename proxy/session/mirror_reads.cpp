#include "proxy/session/mirror_reads.h"

#include <random>
#include <vector>

#include "protocol/error_response.h"
#include "protocol/frame.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/admin/metrics.h"
#include "proxy/idempotency_key.h"
#include "proxy/route/read_failover.h"
#include "proxy/route/statement_latencies.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {
namespace {

ReadResult read_result(const MirrorLeg::ServedRead& served) {
  if (served.failure) return ReadResult::connection_error();
  if (!served.error_sqlstate.empty()) return ReadResult::sql_error(served.error_sqlstate);
  return ReadResult::ok();
}

}  // namespace

std::uint64_t random_draw() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator();
}

SessionFacts steering_facts(const conflict::SessionInfo& session, const Stream& client) {
  SessionFacts facts{.user = session.user, .database = session.database,
                     .application_name = session.application_name, .client_address = std::nullopt};
  boost::system::error_code error;
  const auto endpoint = client.lowest_layer().remote_endpoint(error);
  if (error) return facts;
  const auto address = endpoint.address();
  facts.client_address = address.is_v4() ? ClientAddress::v4(address.to_v4().to_bytes())
                                         : ClientAddress::v6(address.to_v6().to_bytes());
  return facts;
}

bool MirrorReads::picks_mirror(bool in_transaction) const {
  if (in_transaction) return transaction_on_mirror_;
  return steering_picks_mirror();
}

void MirrorReads::steer_transaction(protocol::TransactionStatus status_before) {
  const auto& first = planner_.summary().representative;
  if (status_before != protocol::TransactionStatus::idle || !first ||
      first->transaction != sql::TransactionControl::begin_read_only) {
    return;
  }
  transaction_on_mirror_ = primary_only_.empty() && steering_picks_mirror();
}

bool MirrorReads::steering_picks_mirror() const {
  const auto percent = context_.steering.percent_for(facts_);
  if (context_.steering.stickiness() == config::ReadStickiness::session) return to_mirror_for_session(id_, percent);
  return to_mirror_for_draw(random_draw(), percent);
}

Awaitable<bool> MirrorReads::serve(protocol::Bytes unit, protocol::TransactionStatus status) {
  failed_over_.reset();
  if (!link_.connected()) {
    // The mirror is down or being reconnected: a read steered to it that it cannot serve. A
    // session's first connection, opened in the background at its start, is no failure yet.
    if (link_.opening()) co_return false;
    context_.brake.record(Backend::mirror, ReadBrake::Clock::now(), {}, ReadResult::connection_error());
    context_.metrics.count_read_failover();
    co_return false;
  }
  std::vector<std::byte> copy;
  planner_.copy_for_mirror(protocol::split_frames(unit), copy);
  link_.leg().queue_client(copy);
  const auto started = ReadBrake::Clock::now();
  // Only an autocommit read's answer is held back: one inside a transaction is never run again
  // on the primary (read_failover.h), so holding it would only delay it.
  const std::size_t hold = status == protocol::TransactionStatus::idle ? kHeldMirrorAnswerBytes : 0;
  link_.let_cancels_reach(true);
  auto served = co_await link_.leg().serve(client_, hold);
  link_.let_cancels_reach(false);
  // A read the mirror failed may have failed the Parse it was given with it.
  const auto given = planner_.take_given_to_mirror();
  if (!served.error_sqlstate.empty()) planner_.mirror_may_lack(given);
  const MirrorReadEnd end{.reached_client = served.answered,
                          .connection_lost = served.failure.has_value(),
                          .error_sqlstate = served.error_sqlstate,
                          .status_before = status,
                          .mirror_status_after = link_.leg().transaction_status()};
  const bool to_primary = primary_answers_instead(end);
  if (to_primary && !served.failure) {
    await_primary_answer(started, served);
  } else {
    record_mirror_read(started, served);
  }
  if (served.failure) link_.drop(*served.failure);
  if (to_primary) co_return false;
  if (served.failure) {
    co_await end_interrupted_read(status);
  } else if (!served.held.empty()) {
    co_await send_all(client_, served.held);
  }
  planner_.served_by_mirror();
  co_return true;
}

void MirrorReads::record_mirror_read(ReadBrake::Clock::time_point started, const MirrorLeg::ServedRead& served) {
  const auto now = ReadBrake::Clock::now();
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - started);
  context_.brake.record(Backend::mirror, now, latency, read_result(served));
  const auto& statement = planner_.summary().representative;
  const bool warm = link_.connected() && link_.read_answered_warm();
  if (!served.failure && served.error_sqlstate.empty() && statement && warm) {
    if (const auto primary = context_.primary_latencies.typical(statement->fingerprint)) {
      context_.brake.record_relative(now, latency_ratio(latency, *primary));
    }
  }
  if (served.failure && !served.answered) {
    context_.metrics.count_read_failover();
  } else {
    context_.metrics.count_query(Backend::mirror, planner_.summary().kind);
    context_.metrics.observe_latency(Backend::mirror, latency);
    context_.metrics.count_steered_read(true);
    if (!served.error_sqlstate.empty()) context_.metrics.count_error(Backend::mirror, served.error_sqlstate);
  }
  context_.log->debug("session={} read served by the mirror in {} us{}", id_, latency.count(),
                      served.failure ? ", which broke off" : "");
}

// The brake hears of the read only once the primary has answered it: the same error there is the
// client's doing, and must not count against the mirror.
void MirrorReads::await_primary_answer(ReadBrake::Clock::time_point started, MirrorLeg::ServedRead& served) {
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(ReadBrake::Clock::now() - started);
  failed_over_ = FailedOverRead{.mirror_sqlstate = served.error_sqlstate,
                                .mirror = link_.leg().outcome_of(served.held),
                                .latency = latency};
  context_.metrics.count_read_failover();
  context_.metrics.count_error(Backend::mirror, served.error_sqlstate);
  context_.log->debug("session={} read failed by the mirror with {} in {} us; the primary answers it", id_,
                      served.error_sqlstate, latency.count());
}

std::optional<conflict::ConflictRecord> MirrorReads::judge_failover(const conflict::Outcome& primary,
                                                                    std::string_view primary_sqlstate) {
  auto read = std::exchange(failed_over_, std::nullopt);
  if (!read) return std::nullopt;
  const auto kind = judge_failed_over_read(read->mirror_sqlstate, primary_sqlstate);
  if (!kind) return std::nullopt;
  context_.brake.record(Backend::mirror, ReadBrake::Clock::now(), read->latency,
                        ReadResult::mirror_fault(read->mirror_sqlstate));
  conflict::ConflictRecord record;
  record.idempotency_key = next_unit_key();
  if (const auto& statement = planner_.summary().representative) {
    record.statement_fingerprint = statement->fingerprint;
    record.statement_normalized = statement->normalized;
    record.tables = statement->tables;
  }
  record.kind = *kind;
  record.primary = primary;
  record.mirror = std::move(read->mirror);
  return record;
}

void MirrorReads::keep_on_primary(std::string_view why) {
  if (!primary_only_.empty()) return;
  primary_only_ = why;
  if (on_change_) on_change_();
}

void MirrorReads::keep_on_primary_for_good(std::string_view why) {
  if (for_good_.empty()) for_good_ = why;
  keep_on_primary(why);
}

void MirrorReads::session_reset() {
  if (primary_only_ == for_good_) return;
  primary_only_ = for_good_;
  if (on_change_) on_change_();
}

// The mirror broke off after part of its answer reached the client, which cannot be taken back:
// the client gets an error in its place, as when a server's connection fails mid-result.
Awaitable<void> MirrorReads::end_interrupted_read(protocol::TransactionStatus status) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::make_error("ERROR", protocol::sqlstate::kConnectionFailure,
                                        "the connection to the server serving this read was lost"),
                   out);
  protocol::encode(protocol::ReadyForQuery{status}, out);
  co_await asio::async_write(client_, asio::buffer(bytes), asio::as_tuple(use_awaitable));
}

}  // namespace pgdual::proxy
