#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/outcome.h"
#include "protocol/backend_messages.h"
#include "protocol/request_tracker.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/net/asio.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {

/// The mirror broke off: it did not answer in time, or the connection failed.
/// The session drops the connection and reconnects later.
class MirrorFailure : public std::runtime_error {
 public:
  MirrorFailure(conflict::Reachability reachability, const std::string& what)
      : std::runtime_error{what}, reachability_{reachability} {}
  [[nodiscard]] conflict::Reachability reachability() const noexcept { return reachability_; }

 private:
  conflict::Reachability reachability_;
};

/// `operation`, with every way it can fail turned into a MirrorFailure naming `what`: an I/O error
/// or a timeout (with_timeout) as the connection's loss, a protocol violation as unreachable.
template <class T>
Awaitable<T> as_mirror_failure(Awaitable<T> operation, std::string_view what) {
  try {
    co_return co_await std::move(operation);
  } catch (const boost::system::system_error& error) {
    const auto reachability = error.code() == asio::error::timed_out ? conflict::Reachability::timed_out
                                                                      : conflict::Reachability::unreachable;
    throw MirrorFailure{reachability, std::string{what} + ": " + error.code().message()};
  } catch (const SessionError& error) {
    throw MirrorFailure{conflict::Reachability::unreachable, std::string{what} + ": " + error.what()};
  }
}

/// A session's connection to the mirror. Nothing the mirror says reaches the
/// client: its answers are folded into an Outcome to compare with the
/// primary's. Statements pgdual adds of its own (BEGIN, the ledger insert,
/// COMMIT) are "injected": their answers are kept apart from the outcome.
///
/// Messages are queued, then sent in one write by flush(); finish() reads
/// until the mirror has answered everything sent, finish_through() until it
/// has answered what was queued up to a mark, so that a session may leave the
/// answers to several units unread and read them in order later. Both take a
/// deadline, past which they throw MirrorFailure (timed_out), as on any I/O
/// error or protocol violation (unreachable); the leg is unusable after that.
class MirrorLeg {
 public:
  using Clock = std::chrono::steady_clock;

  MirrorLeg(BackendConnection connection, protocol::Bytes rows_digest_key);

  [[nodiscard]] const BackendConnection& connection() const noexcept { return connection_; }
  /// From the mirror's last ReadyForQuery.
  [[nodiscard]] protocol::TransactionStatus transaction_status() const noexcept { return status_; }
  /// Nothing is queued, and everything sent is answered.
  [[nodiscard]] bool idle() const noexcept { return outgoing_.empty() && !owes_answers_before(answers_queued_); }
  /// How the outcomes of the client's part digest their rows from now on (conflict::OutcomeBuilder).
  void set_rows_order(conflict::RowsOrder order) noexcept { client_part_.set_rows_order(order); }

  /// Queues a Query of pgdual's own, whose answer is kept apart from the client's part.
  void queue_injected(std::string_view sql);
  /// Queues client messages (whole messages, as the mirror should get them).
  void queue_client(protocol::Bytes messages);
  Awaitable<void> flush(Clock::time_point deadline);

  /// How many ReadyForQuery answers the requests queued so far call for: a mark for finish_through().
  [[nodiscard]] std::uint64_t answers_queued() const noexcept { return answers_queued_; }
  /// Reads until every request sent is answered. Returns the outcome of the
  /// client's part (empty when there was none).
  Awaitable<conflict::Outcome> finish(Clock::time_point deadline);
  /// Reads until the requests queued before `mark` (answers_queued() then) are answered, and no
  /// further. Returns the outcome of their client's part, as finish() does.
  Awaitable<conflict::Outcome> finish_through(std::uint64_t mark, Clock::time_point deadline);
  /// What the injected statements of the last finish() answered: their
  /// first error, and their last command tag ("COMMIT", or "ROLLBACK" when
  /// the transaction had failed).
  [[nodiscard]] const conflict::Outcome& injected_outcome() const noexcept { return injected_outcome_; }
  /// The rows the injected statements of the last finish() returned.
  [[nodiscard]] const std::vector<protocol::OwnedDataRow>& injected_rows() const noexcept { return injected_rows_; }

  /// What serve() passed on to the client, and what it held back.
  struct ServedRead {
    bool answered = false;         ///< some of the mirror's answer reached the client
    std::string error_sqlstate;    ///< of the ErrorResponse the mirror answered with; empty without one
    std::optional<MirrorFailure> failure;  ///< the mirror broke off; the leg is unusable
    /// While `answered` is false: the answer received, none of it passed on. Whole when there was
    /// no failure; the caller passes it on or has the primary answer instead.
    std::vector<std::byte> held;
  };
  /// Sends what is queued and passes the mirror's answers on to `client`, until every request
  /// sent is answered: the mirror serves a read in the primary's place. The first `hold_bytes` of
  /// the answer are held back: an answer that fits is returned whole in `held`, never sent; a
  /// bigger one goes on as it arrives once that much has come. No deadline: a read may run long
  /// on either backend, and is cancelled like any other. An error writing to the client is
  /// thrown, as the relay from the primary throws it.
  Awaitable<ServedRead> serve(Stream& client, std::size_t hold_bytes);
  /// The outcome of an answer serve() held back, for a conflict record.
  [[nodiscard]] conflict::Outcome outcome_of(protocol::Bytes answer);

  /// Says goodbye (Terminate) at the end of the session; errors are ignored.
  Awaitable<void> terminate();
  /// Closes the connection now; the mirror rolls back what it had not committed.
  void close() noexcept;

 private:
  Awaitable<void> read_answers(std::uint64_t mark);
  /// Ends with a CopyFail a COPY FROM STDIN the mirror started for which no data is coming.
  Awaitable<void> refuse_copy();
  [[nodiscard]] bool owes_answers_before(std::uint64_t mark) const noexcept;
  /// Notes a request that ReadyForQuery answers, queued by pgdual or by the client.
  void expect_ready(bool injected);
  /// Notes a ReadyForQuery received: the transaction status, and whose answer ends with it.
  void take_ready(const protocol::Frame& frame);
  /// Follows one answer message the client is given: the requests it answers, its error, the status.
  void follow_served(const protocol::Frame& frame, ServedRead& served);
  void take(const protocol::Frame& frame);

  BackendConnection connection_;
  protocol::RequestTracker tracker_;
  conflict::OutcomeBuilder client_part_;
  conflict::OutcomeBuilder injected_part_;
  conflict::Outcome injected_outcome_;
  std::vector<protocol::OwnedDataRow> injected_rows_;
  std::vector<std::byte> outgoing_;
  /// For each ReadyForQuery still to come, in order: whether it ends an injected query's answer.
  std::deque<bool> injected_readies_;
  std::uint64_t answers_queued_ = 0;
  std::uint64_t answers_read_ = 0;
  protocol::TransactionStatus status_ = protocol::TransactionStatus::idle;
};

}  // namespace pgdual::proxy
