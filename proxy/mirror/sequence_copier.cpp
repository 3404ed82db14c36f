#include "proxy/mirror/sequence_copier.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <utility>

#include "conflict/redact.h"
#include "conflict/sql_text.h"
#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/backend/simple_query.h"
#include "proxy/net/timeouts.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::backend_tag;

// Every sequence's state as `SELECT last_value, is_called FROM` it shows, in one round trip.
//
// The catalogs cannot give it: pg_sequences.last_value and pg_sequence_last_value() are NULL
// whenever is_called is false, and the value then is not always the start value (setval(s, 42,
// false) and ALTER SEQUENCE ... RESTART WITH 7 leave 42 and 7). Only the sequence relation itself
// holds it, so each one is read by a statement built for it, run inside this query by
// query_to_xml(); its one-row XML answer is taken apart with regexp_match, which, unlike xpath(),
// works on a server built without libxml. query_to_xml is volatile, so the lateral subquery is
// not flattened: both columns come from one read of the sequence.
//
// Reading a sequence needs SELECT on it and USAGE on its schema; one the login may not read comes
// back with NULL state instead of failing the whole query. pgdual's own schema and every session's
// temporary schema are left out: each server keeps its own.
constexpr std::string_view kReadSequencesSql = R"SQL(
SELECT n.nspname, c.relname,
       (pg_catalog.regexp_match(s.state::text, '<last_value>(-?[0-9]+)</last_value>'))[1],
       (pg_catalog.regexp_match(s.state::text, '<is_called>(true|false)</is_called>'))[1]
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
  SELECT CASE WHEN pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                   AND pg_catalog.has_sequence_privilege(c.oid, 'SELECT')
              THEN pg_catalog.query_to_xml(
                     pg_catalog.format('SELECT last_value, is_called FROM %I.%I', n.nspname, c.relname),
                     false, true, '')
         END AS state) s
WHERE c.relkind = 'S' AND n.nspname <> 'pgdual' AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY 1, 2)SQL";

/// Statements sent before their answers are read: few enough that the answers to them never fill
/// the socket buffers while the copier is still writing, which would stall both sides.
constexpr std::size_t kPipelineDepth = 256;
/// Answers here are a few short rows: anything near this is no answer to pgdual's statements.
constexpr std::uint32_t kMaxMessageBody = std::uint32_t{1} << 20;

struct ServerError {
  std::string sqlstate;
  std::string message;
  std::string redacted;  ///< the message without values (conflict::redact_error_message), for warnings
};

/// What a server answered to one simple Query, up to its ReadyForQuery.
struct Answer {
  std::vector<protocol::OwnedDataRow> rows;
  std::optional<ServerError> error;
};

/// `operation`, with a broken connection, silence past `limit` or a malformed answer turned into a
/// SequenceCopyError naming `what`.
template <class T>
Awaitable<T> bounded(Awaitable<T> operation, std::chrono::milliseconds limit, std::string_view what) {
  try {
    co_return co_await with_timeout(std::move(operation), limit);
  } catch (const boost::system::system_error& error) {
    throw SequenceCopyError{std::string{what} + ": " + error.code().message()};
  } catch (const SessionError& error) {
    throw SequenceCopyError{std::string{what} + ": " + error.what()};
  }
}

ServerError server_error(const protocol::Frame& frame) {
  const auto error = protocol::decode_error_response(frame.body);
  if (!error) throw SessionError{protocol::sqlstate::kProtocolViolation, "malformed ErrorResponse"};
  return ServerError{.sqlstate = std::string{error->sqlstate()},
                     .message = std::string{error->message()},
                     .redacted = conflict::redact_error_message(*error)};
}

Awaitable<Answer> read_answer(BackendConnection& connection) {
  Answer answer;
  for (;;) {
    const auto frame = co_await connection.reader().next_frame(connection.stream());
    if (frame.tag == tags::kReadyForQuery) co_return answer;
    if (frame.tag == tags::kErrorResponse && !answer.error) answer.error = server_error(frame);
    if (frame.tag != tags::kDataRow) continue;  // RowDescription, CommandComplete, notices
    const auto row = protocol::decode_data_row(frame.body);
    if (!row) throw SessionError{protocol::sqlstate::kProtocolViolation, "malformed DataRow"};
    answer.rows.emplace_back(*row);
  }
}

/// Runs each of `statements` as a simple Query of its own, so that one refused does not abort the
/// others, pipelined: one round trip for up to kPipelineDepth statements.
Awaitable<std::vector<Answer>> run_queries(BackendConnection& connection, std::span<const std::string> statements) {
  std::vector<Answer> answers;
  std::vector<std::byte> bytes;
  while (answers.size() < statements.size()) {
    const auto batch = statements.subspan(answers.size(), std::min(kPipelineDepth, statements.size() - answers.size()));
    bytes.clear();
    protocol::Writer out{bytes};
    for (const auto& statement : batch) protocol::encode(protocol::Query{statement}, out);
    co_await send_all(connection.stream(), bytes);
    for (std::size_t read = 0; read < batch.size(); ++read) {
      auto answer = co_await read_answer(connection);
      answers.push_back(std::move(answer));
    }
  }
  co_return answers;
}

std::int64_t parse_last_value(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    throw SequenceCopyError{"the primary answered a sequence's last_value that is no bigint"};
  }
  return value;
}

std::string database_of(const BackendLogin& login) {
  for (const auto& [name, value] : login.parameters) {
    if (name == "database") return value;
  }
  return login.user;  // PostgreSQL's default database
}

}  // namespace

SequenceCopier::SequenceCopier(config::BackendConfig primary, std::shared_ptr<ssl::context> primary_tls,
                               config::BackendConfig mirror, std::shared_ptr<ssl::context> mirror_tls,
                               Options options, std::shared_ptr<spdlog::logger> log)
    : primary_{std::move(primary)},
      primary_tls_{std::move(primary_tls)},
      mirror_{std::move(mirror)},
      mirror_tls_{std::move(mirror_tls)},
      options_{std::move(options)},
      log_{std::move(log)},
      database_{database_of(options_.primary_login)} {}

Awaitable<void> SequenceCopier::run() {
  while (!stop_.requested()) {
    std::optional<std::string> failure;
    if (options_.paused && options_.paused()) {
      last_set_.clear();
      co_await stop_.pause(options_.interval);
      continue;
    }
    try {
      co_await copy_once();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    if (stop_.requested()) break;
    if (failure) log_->warn("sequence copy of {}: {}; trying again at the next pass", database_, *failure);
    co_await stop_.pause(options_.interval);
  }
  co_await say_goodbye(primary_connection_);
  co_await say_goodbye(mirror_connection_);
}

void SequenceCopier::stop() noexcept {
  stop_.request();
}

SequenceCopierProgress SequenceCopier::progress() const {
  const std::lock_guard lock{progress_mutex_};
  return progress_;
}

Awaitable<std::size_t> SequenceCopier::copy_once() {
  std::size_t copied = 0;
  try {
    co_await connect();
    const auto sequences = co_await read_primary();
    const auto changed = to_set(sequences);
    copied = co_await set_on_mirror(changed);
    forget_all_but(sequences);
  } catch (const std::exception& error) {
    primary_connection_.reset();
    mirror_connection_.reset();
    const std::lock_guard lock{progress_mutex_};
    progress_.last_error = error.what();
    throw;
  }
  {
    const std::lock_guard lock{progress_mutex_};
    ++progress_.passes;
    progress_.sequences_copied += copied;
  }
  co_return copied;
}

Awaitable<void> SequenceCopier::connect() {
  if (!primary_connection_) {
    auto connection = co_await BackendConnection::open(primary_, primary_tls_, options_.primary_login, kMaxMessageBody);
    primary_connection_.emplace(std::move(connection));
  }
  if (!mirror_connection_) {
    auto connection = co_await BackendConnection::open(mirror_, mirror_tls_, options_.mirror_login, kMaxMessageBody);
    mirror_connection_.emplace(std::move(connection));
    // A new connection may meet a mirror changed meanwhile (restarted, restored from a backup):
    // every sequence is set once more.
    last_set_.clear();
  }
}

Awaitable<std::vector<SequenceCopier::PrimarySequence>> SequenceCopier::read_primary() {
  const std::array statements{std::string{kReadSequencesSql}};
  auto answers = co_await bounded(run_queries(*primary_connection_, statements), options_.answer_timeout,
                                  "reading the primary's sequences");
  const auto& answer = answers.front();
  if (answer.error) {
    throw SequenceCopyError{"the primary refused reading its sequences: " + answer.error->sqlstate + " " +
                            answer.error->message};
  }
  std::vector<PrimarySequence> sequences;
  for (const auto& row : answer.rows) {
    const auto& columns = row.columns;
    if (columns.size() != 4 || !columns[0] || !columns[1]) {
      throw SequenceCopyError{"the primary answered the sequences' query with rows of another shape"};
    }
    auto& sequence = sequences.emplace_back();
    sequence.name = conflict::quote_identifier(*columns[0]) + "." + conflict::quote_identifier(*columns[1]);
    if (columns[2] && columns[3]) {
      sequence.state = SequenceState{.last_value = parse_last_value(*columns[2]), .is_called = *columns[3] == "true"};
    }
  }
  co_return sequences;
}

std::vector<const SequenceCopier::PrimarySequence*> SequenceCopier::to_set(
    const std::vector<PrimarySequence>& sequences) {
  std::vector<const PrimarySequence*> changed;
  for (const auto& sequence : sequences) {
    if (!sequence.state) {
      last_set_.erase(sequence.name);
      note_not_copied(sequence.name, "the primary's login may not read it (it needs SELECT on the sequence and "
                                     "USAGE on its schema)");
      continue;
    }
    const auto set = last_set_.find(sequence.name);
    if (set == last_set_.end() || set->second != *sequence.state) changed.push_back(&sequence);
  }
  return changed;
}

Awaitable<std::size_t> SequenceCopier::set_on_mirror(const std::vector<const PrimarySequence*>& changed) {
  if (changed.empty()) co_return 0;
  std::vector<std::string> statements;
  for (const auto* sequence : changed) {
    statements.push_back("SELECT pg_catalog.setval(" + conflict::quote_literal(sequence->name) + ", " +
                         std::to_string(sequence->state->last_value) + ", " +
                         (sequence->state->is_called ? "true" : "false") + ")");
  }
  const auto answers = co_await bounded(run_queries(*mirror_connection_, statements), options_.answer_timeout,
                                        "setting sequences on the mirror");
  std::size_t copied = 0;
  for (std::size_t index = 0; index < changed.size(); ++index) {
    const auto& sequence = *changed[index];
    if (const auto& error = answers[index].error) {
      last_set_.erase(sequence.name);
      log_->debug("sequence copy of {}: the mirror refused setval of {}: {}", database_, sequence.name, error->message);
      note_not_copied(sequence.name, "the mirror refused setval: " + error->sqlstate + " " + error->redacted);
      continue;
    }
    log_->debug("sequence copy of {}: {} set to {}, is_called {}", database_, sequence.name,
                sequence.state->last_value, sequence.state->is_called);
    last_set_[sequence.name] = *sequence.state;
    note_copied(sequence.name);
    ++copied;
  }
  co_return copied;
}

void SequenceCopier::forget_all_but(const std::vector<PrimarySequence>& sequences) {
  std::set<std::string_view> names;
  for (const auto& sequence : sequences) names.insert(sequence.name);
  const auto gone = [&](const auto& entry) { return !names.contains(entry.first); };
  std::erase_if(last_set_, gone);
  std::erase_if(failing_, gone);
}

void SequenceCopier::note_not_copied(const std::string& name, const std::string& reason) {
  auto& warned = failing_[name];
  if (warned == reason) {
    log_->debug("sequence copy of {}: {} still not copied: {}", database_, name, reason);
  } else {
    log_->warn("sequence copy of {}: {} not copied: {}; every pass tries again", database_, name, reason);
    warned = reason;
  }
  const std::lock_guard lock{progress_mutex_};
  progress_.last_error = name + " not copied: " + reason;
}

void SequenceCopier::note_copied(const std::string& name) {
  if (failing_.erase(name) != 0) log_->info("sequence copy of {}: {} copied again", database_, name);
}

}  // namespace pgdual::proxy
