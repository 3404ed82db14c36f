#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backend_messages.h"
#include "protocol/bytes.h"
#include "protocol/replication.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/mirror/apply_statements.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// A change the mirror did not take, as reports show it: never a row value.
struct FailedChange {
  std::size_t change_number = 0;  ///< 1 for the transaction's first change; 0 for BEGIN, the ledger row, COMMIT
  std::string relation{};         ///< "schema"."table" (several, comma-separated, for a TRUNCATE)
  ChangeKind kind = ChangeKind::insert;
  std::string sqlstate{};
  std::string message{};  ///< the mirror's primary message, without DETAIL (which may quote values)
  /// What the refused statement looked like, safe to log (a DDL's normalized text, ddl_summary());
  /// empty for row changes and the apply's own statements, which `kind` names.
  std::string statement{};
  /// The commit LSN of the primary transaction the change belongs to: several may share one
  /// mirror transaction (ApplyOptions::max_batch), and an error comes back after later ones were sent.
  protocol::XLogRecPtr commit_lsn = 0;
};

/// One statement parameter: text or binary bytes, or NULL (std::nullopt).
struct ApplyParameter {
  std::optional<protocol::Bytes> value;
  bool binary = false;
};

/// `text` as a parameter in text form; it must outlive the request.
[[nodiscard]] inline ApplyParameter text_parameter(std::string_view text) {
  return ApplyParameter{.value = protocol::as_bytes(text)};
}

/// The extended-protocol pipeline of one apply connection: requests are queued and sent without
/// waiting for their answers, and each answer is paired with its request as it is read, so that
/// an error names the change it belongs to. After an error the mirror skips every request up to
/// the next Sync; the pipeline forgets them too (a Parse among them never happened, see
/// take_unparsed()). A simple Query may follow the requests, in order (query()).
///
/// Reads are bounded by `answer_timeout` per message: past it, or on any I/O error or protocol
/// violation, a call throws MirrorFailure and the pipeline is unusable.
class ApplyPipeline {
 public:
  ApplyPipeline(BackendConnection connection, std::chrono::milliseconds answer_timeout);

  /// Queues Parse of a named statement, which the change `label` uses first.
  void parse(std::string_view name, std::string_view sql, const FailedChange& label);
  /// Queues Bind and Execute of statement `name` (empty: the unnamed one). With `expect_row`, a
  /// command tag counting no row (UPDATE 0, DELETE 0) fails the change: the mirror had no row
  /// matching the primary's.
  void execute(std::string_view name, std::span<const ApplyParameter> parameters, const FailedChange& label,
               bool expect_row);
  /// Queues Bind and Execute of statement `name`, whose rows' first values take_rows() gives.
  void fetch(std::string_view name, std::span<const ApplyParameter> parameters, const FailedChange& label);
  /// Queues `sql` (no parameters) through the unnamed statement.
  void command(std::string_view sql, const FailedChange& label);
  /// Sends a simple Query, `sql` as it is (several statements if it holds them, which the extended
  /// protocol cannot run), after the requests queued before it, and reads every answer: nothing
  /// may be sent behind it, which a COPY FROM STDIN in it would take for its rows. Such a COPY is
  /// refused (no rows but the WAL's are applied). The Query's refusal does not make the mirror
  /// skip to a Sync; the next request fails instead, in the aborted transaction, and only the
  /// Query's refusal is reported.
  Awaitable<void> query(std::string_view sql, const FailedChange& label);
  /// Queues Close of a prepared statement; closing one that does not exist is no error.
  void close_statement(std::string_view name);
  /// Queues Sync: the end of a batch, answered by ReadyForQuery.
  void sync();

  /// Sends what is queued, asks the mirror to send its answers (Flush), and reads until no more
  /// than `in_flight` requests await theirs: the pipeline stays deep, its memory bounded.
  Awaitable<void> drain_to(std::size_t in_flight);
  /// Sends what is queued and reads every answer. Precondition: the last request queued is a Sync.
  Awaitable<void> settle();
  [[nodiscard]] std::size_t in_flight() const noexcept { return expected_.size(); }
  /// Bytes queued and not sent yet.
  [[nodiscard]] std::size_t queued_bytes() const noexcept { return outgoing_.size(); }

  /// The changes the mirror refused since the last call, in order.
  [[nodiscard]] std::vector<FailedChange> take_failures();
  /// The names of statements whose Parse failed or was skipped since the last call: they do not
  /// exist on the mirror.
  [[nodiscard]] std::vector<std::string> take_unparsed();
  /// The first value of each row fetch() requests returned since the last call, in order;
  /// std::nullopt for NULL.
  [[nodiscard]] std::vector<std::optional<std::string>> take_rows();
  /// Every column of the last DataRow read (std::nullopt for NULL); empty for none.
  [[nodiscard]] const std::vector<std::optional<std::string>>& last_row() const noexcept { return last_row_; }
  /// The command tag of the last CommandComplete read.
  [[nodiscard]] const std::string& last_command_tag() const noexcept { return last_tag_; }

  /// Says goodbye (Terminate); errors are ignored.
  Awaitable<void> terminate();

 private:
  enum class Request : std::uint8_t { parse, bind, execute, close, sync, query };
  struct Pending {
    Request request = Request::sync;
    std::string statement{};  ///< Parse: the statement's name
    FailedChange label{};     ///< what an error is reported as
    bool expect_row = false;
    bool keep_rows = false;  ///< fetch(): its DataRows are kept
  };

  /// Notes a request's answer to come, unless the mirror is skipping to a Sync not queued yet.
  void expect(Pending pending);
  Awaitable<void> write_out();
  Awaitable<void> read_one();
  void take(const protocol::Frame& frame);
  void take_error(const protocol::Frame& frame);
  void take_command_complete(const protocol::Frame& frame);
  /// A Query's answers before its ReadyForQuery; false for any other frame.
  bool take_query_answer(const protocol::Frame& frame);
  [[nodiscard]] Pending pop(char tag);

  BackendConnection connection_;
  std::chrono::milliseconds answer_timeout_;
  std::deque<Pending> expected_;
  std::vector<std::byte> outgoing_;
  std::vector<std::byte> scratch_formats_;
  std::vector<std::byte> scratch_values_;
  std::vector<FailedChange> failures_;
  std::vector<std::string> unparsed_;
  std::vector<std::optional<std::string>> rows_;
  std::vector<std::optional<std::string>> last_row_;
  std::string last_tag_;
  bool discarding_ = false;  ///< after an error, before the Sync that ends the mirror's skipping is queued
  /// A Query was refused: the transaction is aborted, and the next request's error until a Sync
  /// says only that.
  bool aborted_by_query_ = false;
};

}  // namespace pgdual::proxy
