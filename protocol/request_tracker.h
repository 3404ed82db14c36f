#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pgdual::protocol {

/// The frontend messages that ask the backend for an answer.
enum class RequestKind : std::uint8_t {
  none,           ///< no request: asynchronous and unexpected messages answer none
  query,          ///< Query: results, then ReadyForQuery
  parse,          ///< Parse: ParseComplete
  bind,           ///< Bind: BindComplete
  describe,       ///< Describe: [ParameterDescription] then RowDescription or NoData
  execute,        ///< Execute: DataRow* then CommandComplete, EmptyQueryResponse or PortalSuspended
  close,          ///< Close: CloseComplete
  sync,           ///< Sync: ReadyForQuery
  function_call,  ///< FunctionCall: FunctionCallResponse, then ReadyForQuery
};

/// The request's name in lower case ("function_call"), for logs.
[[nodiscard]] std::string_view to_string(RequestKind kind) noexcept;

/// How one backend message relates to the requests the frontend has sent.
struct TrackedResponse {
  RequestKind request = RequestKind::none;  ///< the request it answers
  bool completes = false;        ///< the last message answering `request`
  bool ready_for_query = false;  ///< a ReadyForQuery: the end of a Query, Sync or FunctionCall
  /// NoticeResponse, NotificationResponse or ParameterStatus, which may come at
  /// any time; or an ErrorResponse while nothing is pending (a FATAL error
  /// the server sends before closing, e.g. on shutdown or idle timeout).
  bool asynchronous = false;
  bool unexpected = false;  ///< no pending request can be answered by this message
};

/// Which side broke the protocol first, as far as message order shows.
enum class Violation : std::uint8_t { none, frontend, backend };

/// PgBouncer's outstanding request queue as a pure class: it pairs every
/// message the backend sends with the frontend request it answers.
/// https://www.postgresql.org/docs/15/protocol-flow.html
///
/// Feed it every tagged message of an established session (after the startup
/// phase's ReadyForQuery), in the order the proxy forwarded them to the
/// backend and received them from it. It models what the server does with
/// the frontend's stream, which is not always "one answer per request":
///   - after an ErrorResponse to an extended-query message the server skips
///     every message up to the next Sync, and those requests get no answer;
///   - while reading COPY FROM STDIN data the server swallows Sync and Flush
///     (libpq sends another Sync after CopyDone), and any other request ends
///     the connection;
///   - CopyData, CopyDone and CopyFail outside COPY are silently ignored.
///
/// Steady-state use does not allocate: pending requests live in a ring
/// buffer that only grows when a client pipelines more than ever before (an
/// allocation failure there terminates, as on_frontend is noexcept). Each
/// message costs O(1), amortized over the requests an error skips.
class RequestTracker {
 public:
  RequestTracker();

  /// Records a message the proxy sent to the backend. A tag that is no
  /// frontend message of an established session, or a request sent in the
  /// middle of COPY FROM STDIN data, sets violation() to frontend (the server
  /// answers both with a FATAL error).
  void on_frontend(char tag) noexcept;

  /// Classifies a message received from the backend and advances the state.
  /// A message no pending request allows is reported `unexpected` (and sets
  /// violation() to backend) without changing what is pending.
  [[nodiscard]] TrackedResponse on_backend(char tag) noexcept;

  /// No request awaits an answer and no extended-query batch is open: a safe
  /// point to stop the session or move it to another backend, as far as the
  /// protocol goes. Whether a transaction is open is ReadyForQuery's to say.
  [[nodiscard]] bool idle() const noexcept;

  /// The backend is in COPY FROM STDIN and waits for the frontend's data,
  /// up to its CopyDone or CopyFail.
  [[nodiscard]] bool awaiting_copy_data() const noexcept { return frontend_in_copy_; }

  /// Query, Sync and FunctionCall messages not yet answered by ReadyForQuery.
  [[nodiscard]] std::size_t pending_syncs() const noexcept { return pending_syncs_; }

  /// The first protocol violation seen; sticky.
  [[nodiscard]] Violation violation() const noexcept { return violation_; }

 private:
  // What is queued: a request, or the frontend's CopyDone/CopyFail, kept in
  // order because a COPY that starts later consumes it (see start_copy_in).
  enum class Entry : std::uint8_t {
    query, parse, bind, describe, execute, close, sync, function_call, copy_end,
  };

  static RequestKind kind_of(Entry entry) noexcept;

  void push(Entry entry);
  Entry pop_front() noexcept;
  [[nodiscard]] Entry front() const noexcept { return ring_[head_]; }
  [[nodiscard]] bool queue_empty() const noexcept { return size_ == 0; }
  void forget(Entry entry) noexcept;
  void violate(Violation side) noexcept;

  void on_frontend_in_copy(char tag) noexcept;
  void on_frontend_request(char tag);
  void request(Entry entry, bool extended);

  TrackedResponse classify(char tag) noexcept;
  TrackedResponse answer_query(char tag) noexcept;
  TrackedResponse answer_execute(char tag) noexcept;
  TrackedResponse answer_describe(char tag) noexcept;
  TrackedResponse start_copy(char tag) noexcept;
  void start_copy_in() noexcept;
  TrackedResponse answer_copy_out(char tag) noexcept;
  TrackedResponse answer_copy_in(char tag) noexcept;
  TrackedResponse answer_error() noexcept;
  void skip_until_sync() noexcept;
  void drop_stray_copy_ends() noexcept;
  [[nodiscard]] TrackedResponse part() const noexcept;
  TrackedResponse complete() noexcept;
  TrackedResponse unexpected() noexcept;

  std::vector<Entry> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  RequestKind current_ = RequestKind::none;  ///< the request the backend is answering
  std::size_t pending_syncs_ = 0;
  bool batch_open_ = false;            ///< extended-query messages sent since the last Sync
  bool discarding_until_sync_ = false; ///< the server skips the frontend's messages up to Sync
  bool copy_in_ = false;               ///< the backend is in COPY FROM STDIN
  bool frontend_in_copy_ = false;      ///< ... and the frontend has not ended its data yet
  bool copy_out_ = false;              ///< the backend is sending COPY TO STDOUT data
  Violation violation_ = Violation::none;
};

}  // namespace pgdual::protocol
