// Session, continued: eligible reads the mirror serves in the primary's place, by the read
// steering's percentage (DESIGN.md, "Routing rules"; docs/read-ramp.md).

#include <random>

#include "protocol/backend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"
#include "proxy/metrics.h"
#include "proxy/route/read_eligibility.h"
#include "proxy/session.h"
#include "proxy/session_registry.h"

namespace pgdual::proxy {
namespace {

std::uint64_t random_draw() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator();
}

ReadResult read_result(const MirrorLeg::ServedRead& served) {
  if (served.failure) return ReadResult::connection_error();
  if (!served.error_sqlstate.empty()) return ReadResult::sql_error(served.error_sqlstate);
  return ReadResult::ok();
}

}  // namespace

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

Awaitable<bool> Session::serve_read_from_mirror(char last_tag) {
  if (!read_may_go_to_mirror(last_tag)) co_return false;
  const bool in_transaction = primary_tap_.transaction_status() != protocol::TransactionStatus::idle;
  if (in_transaction ? !transaction_reads_on_mirror_ : !steering_picks_mirror()) co_return false;
  // The mirror runs what it is sent in order: a write's COMMIT still unanswered is applied before
  // the read. If it failed, the conflict it records keeps the read on the primary.
  co_await settle_pending();
  if (!reads_on_primary_only_.empty()) co_return false;
  if (!mirror_) {
    // The mirror is down or being reconnected: a read steered to it that it cannot serve.
    context_.brake.record(Backend::mirror, ReadBrake::Clock::now(), {}, ReadResult::connection_error());
    context_.metrics.count_read_failover();
    co_return false;
  }
  const auto frames = protocol::split_frames(segment_);
  std::vector<std::byte> copy;
  planner_.copy_for_mirror(frames, copy);
  mirror_->queue_client(copy);
  const auto started = ReadBrake::Clock::now();
  let_cancels_reach_mirror(true);
  const auto served = co_await mirror_->serve(client_);
  let_cancels_reach_mirror(false);
  record_mirror_read(started, served);
  if (served.failure) {
    drop_mirror(*served.failure);
    if (!served.answered) co_return false;  // nothing reached the client: the primary answers instead
    co_await end_interrupted_read();
  }
  planner_.served_by_mirror();
  planner_.start_unit();
  segment_.clear();
  co_return true;
}

bool Session::read_may_go_to_mirror(char last_tag) const {
  namespace tags = protocol::frontend_tag;
  const ReadFacts facts{
      .whole_unit = !unit_.open && (last_tag == tags::kQuery || last_tag == tags::kSync),
      .primary_status = primary_tap_.transaction_status(),
      .transaction_reads_on_mirror = transaction_reads_on_mirror_,
      .mirror_status = mirror_ ? std::optional{mirror_->transaction_status()} : std::nullopt,
      .reads_on_primary_only = reads_on_primary_only_,
      .unknown_commits_pending = !unknown_commits_.empty(),
      .own_answers_filtered = own_answers_.active(),
      .mirror_serves_reads = serves_steered_reads(context_.config->mirror_backend()),
      .planner_allows = planner_.may_read_from_mirror()};
  return read_eligibility(facts) == ReadVerdict::eligible;
}

void Session::steer_transaction(protocol::TransactionStatus status_before) {
  const auto& first = planner_.summary().representative;
  if (status_before != protocol::TransactionStatus::idle || !first ||
      first->transaction != sql::TransactionControl::begin_read_only) {
    return;
  }
  transaction_reads_on_mirror_ = reads_on_primary_only_.empty() && steering_picks_mirror();
}

bool Session::steering_picks_mirror() const {
  const auto percent = context_.steering.percent_for(steering_facts_);
  if (context_.steering.stickiness() == config::ReadStickiness::session) return to_mirror_for_session(id_, percent);
  return to_mirror_for_draw(random_draw(), percent);
}

void Session::record_mirror_read(ReadBrake::Clock::time_point started, const MirrorLeg::ServedRead& served) {
  const auto now = ReadBrake::Clock::now();
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - started);
  context_.brake.record(Backend::mirror, now, latency, read_result(served));
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

void Session::keep_reads_on_primary(std::string_view why) {
  if (!reads_on_primary_only_.empty()) return;
  reads_on_primary_only_ = why;
  publish_summary();
}

void Session::publish_summary() const {
  const auto reads = reads_on_primary_only_.empty() ? "primary or mirror" : "primary only: " + reads_on_primary_only_;
  context_.sessions.describe(id_, {.user = session_info_.user, .database = session_info_.database,
                                   .application_name = session_info_.application_name,
                                   .client_address = session_info_.client_address, .connected_at = connected_at_,
                                   .mirror = mirror_ ? "connected" : "reconnecting", .reads = reads});
}

void Session::count_primary_answer() {
  const auto now = ReadBrake::Clock::now();
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - unit_.started);
  const auto sqlstate = primary_tap_.take_error_sqlstate();
  const auto kind = planner_.summary().kind;
  context_.metrics.count_query(Backend::primary, kind);
  context_.metrics.observe_latency(Backend::primary, latency);
  if (!sqlstate.empty()) context_.metrics.count_error(Backend::primary, sqlstate);
  if (unit_.plan.mirror != MirrorMode::none || unit_.plan.unclassified) return;
  context_.metrics.count_steered_read(false);
  context_.brake.record(Backend::primary, now, latency,
                        sqlstate.empty() ? ReadResult::ok() : ReadResult::sql_error(sqlstate));
}

void Session::count_mirror_answer(const conflict::Outcome& mirror, sql::StatementKind kind) {
  if (mirror.reachability != conflict::Reachability::reached) return;
  context_.metrics.count_query(Backend::mirror, kind);
  if (mirror.error) context_.metrics.count_error(Backend::mirror, mirror.error->sqlstate);
}

// The mirror broke off after part of its answer reached the client, which cannot be taken back:
// the client gets an error in its place, as when a server's connection fails mid-result.
Awaitable<void> Session::end_interrupted_read() {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::make_error("ERROR", "08006", "the connection to the server serving this read was lost"),
                   out);
  protocol::encode(protocol::ReadyForQuery{primary_tap_.transaction_status()}, out);
  co_await send_bytes(bytes);
}

}  // namespace pgdual::proxy
