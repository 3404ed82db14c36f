#include "proxy/mirror/apply_pipeline.h"

#include <utility>

#include "protocol/arrays.h"
#include "protocol/error_response.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/backend/mirror_leg.h"
#include "proxy/net/timeouts.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::backend_tag;

// Runs `operation` within `limit`, turning every way it can fail into a MirrorFailure.
template <class T>
Awaitable<T> bounded(Awaitable<T> operation, std::chrono::milliseconds limit, std::string_view what) {
  co_return co_await as_mirror_failure(with_timeout(std::move(operation), limit), what);
}

MirrorFailure out_of_step() {
  return MirrorFailure{conflict::Reachability::unreachable, "the mirror's answers do not match the apply's requests"};
}

constexpr std::string_view kCopyRefused =
    "COPY FROM STDIN is not run by the WAL apply: the rows it wrote on the primary follow in the stream";

// "UPDATE 0", "DELETE 0": the statement found no row.
bool counts_no_row(std::string_view tag) noexcept { return tag.ends_with(" 0"); }

}  // namespace

ApplyPipeline::ApplyPipeline(BackendConnection connection, std::chrono::milliseconds answer_timeout)
    : connection_{std::move(connection)}, answer_timeout_{answer_timeout} {}

void ApplyPipeline::parse(std::string_view name, std::string_view sql, const FailedChange& label) {
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Parse{.statement_name = name, .query = sql, .parameter_type_oids = {}}, out);
  expect(Pending{.request = Request::parse, .statement = std::string{name}, .label = label});
}

void ApplyPipeline::execute(std::string_view name, std::span<const ApplyParameter> parameters,
                            const FailedChange& label, bool expect_row) {
  scratch_formats_.clear();
  scratch_values_.clear();
  protocol::Writer formats{scratch_formats_};
  protocol::Writer values{scratch_values_};
  for (const auto& parameter : parameters) {
    formats.int16(parameter.binary ? 1 : 0);
    protocol::write_value(values, parameter.value);
  }
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Bind{.portal_name = {},
                                  .statement_name = name,
                                  .parameter_formats = protocol::Int16Array{scratch_formats_},
                                  .parameters = protocol::ValueList{static_cast<std::uint16_t>(parameters.size()),
                                                                    scratch_values_},
                                  .result_formats = {}},
                   out);
  protocol::encode(protocol::Execute{.portal_name = {}, .max_rows = 0}, out);
  expect(Pending{.request = Request::bind, .statement = {}, .label = label});
  expect(Pending{.request = Request::execute, .statement = {}, .label = label, .expect_row = expect_row});
}

void ApplyPipeline::fetch(std::string_view name, std::span<const ApplyParameter> parameters,
                          const FailedChange& label) {
  execute(name, parameters, label, false);
  // While the mirror skips to a Sync nothing is expected, this Execute's answer neither.
  if (!discarding_) expected_.back().keep_rows = true;
}

void ApplyPipeline::command(std::string_view sql, const FailedChange& label) {
  parse({}, sql, label);
  execute({}, {}, label, false);
}

Awaitable<void> ApplyPipeline::query(std::string_view sql, const FailedChange& label) {
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Query{.query = sql}, out);
  expect(Pending{.request = Request::query, .statement = {}, .label = label});
  // The Flush that drain_to sends is ignored by a COPY, and by a mirror skipping to a Sync after an
  // error, whose ErrorResponse it has sent at once: the answers come either way.
  co_await drain_to(0);
}

void ApplyPipeline::close_statement(std::string_view name) {
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Close{.kind = protocol::ObjectKind::statement, .name = name}, out);
  expect(Pending{.request = Request::close});
}

void ApplyPipeline::sync() {
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Sync{}, out);
  discarding_ = false;
  expected_.push_back(Pending{.request = Request::sync});
}

void ApplyPipeline::expect(Pending pending) {
  if (!discarding_) {
    expected_.push_back(std::move(pending));
  } else if (pending.request == Request::parse) {
    unparsed_.push_back(std::move(pending.statement));
  }
}

Awaitable<void> ApplyPipeline::write_out() {
  if (outgoing_.empty()) co_return;
  co_await bounded(send_all(connection_.stream(), outgoing_), answer_timeout_, "sending to the mirror");
  outgoing_.clear();
}

Awaitable<void> ApplyPipeline::drain_to(std::size_t in_flight) {
  // Without Flush the mirror keeps its answers buffered until a Sync.
  protocol::Writer out{outgoing_};
  protocol::encode(protocol::Flush{}, out);
  co_await write_out();
  while (expected_.size() > in_flight) co_await read_one();
}

Awaitable<void> ApplyPipeline::settle() {
  co_await write_out();
  while (!expected_.empty()) co_await read_one();
}

Awaitable<void> ApplyPipeline::read_one() {
  const auto frame = co_await bounded(connection_.reader().next_frame(connection_.stream()), answer_timeout_,
                                      "waiting for the mirror");
  take(frame);
  // Only a refused COPY is answered while reading: everything else was sent before.
  if (!outgoing_.empty()) co_await write_out();
}

void ApplyPipeline::take(const protocol::Frame& frame) {
  if (take_query_answer(frame)) return;
  switch (frame.tag) {
    case tags::kParseComplete: static_cast<void>(pop(frame.tag)); return;
    case tags::kBindComplete: static_cast<void>(pop(frame.tag)); return;
    case tags::kCloseComplete: static_cast<void>(pop(frame.tag)); return;
    case tags::kCommandComplete: take_command_complete(frame); return;
    case tags::kReadyForQuery:
      if (pop(frame.tag).request == Request::sync) aborted_by_query_ = false;
      return;
    case tags::kErrorResponse: take_error(frame); return;
    case tags::kDataRow: {
      const auto row = protocol::decode_data_row(frame.body);
      if (!row || row->columns.empty() || expected_.empty()) throw out_of_step();
      last_row_.clear();
      for (const auto& value : row->columns) {
        last_row_.push_back(value ? std::optional<std::string>{protocol::as_text(*value)} : std::nullopt);
      }
      if (expected_.front().keep_rows) rows_.push_back(last_row_.front());
      return;
    }
    case tags::kNoticeResponse:
    case tags::kParameterStatus:
    case tags::kNotificationResponse:
      return;
    default:
      throw out_of_step();
  }
}

bool ApplyPipeline::take_query_answer(const protocol::Frame& frame) {
  if (expected_.empty() || expected_.front().request != Request::query) return false;
  switch (frame.tag) {
    case tags::kRowDescription:
    case tags::kDataRow:
    case tags::kEmptyQueryResponse:
    case tags::kCopyOutResponse:
    case tags::kCopyData:
    case tags::kCopyDone:
      return true;
    case tags::kCommandComplete: {
      const auto complete = protocol::decode_command_complete(frame.body);
      if (!complete) throw out_of_step();
      last_tag_ = complete->command_tag;
      return true;
    }
    case tags::kCopyInResponse: {
      // Left waiting, the mirror would wait for rows until the answer timeout, on every retry.
      protocol::Writer out{outgoing_};
      protocol::encode(protocol::CopyFail{.error_message = kCopyRefused}, out);
      return true;
    }
    default:
      return false;  // ReadyForQuery, ErrorResponse and notices are read as for any request
  }
}

ApplyPipeline::Pending ApplyPipeline::pop(char tag) {
  static constexpr auto answers = [](Request request) {
    switch (request) {
      case Request::parse: return tags::kParseComplete;
      case Request::bind: return tags::kBindComplete;
      case Request::execute: return tags::kCommandComplete;
      case Request::close: return tags::kCloseComplete;
      case Request::sync: return tags::kReadyForQuery;
      case Request::query: return tags::kReadyForQuery;
    }
    return '\0';
  };
  if (expected_.empty() || answers(expected_.front().request) != tag) throw out_of_step();
  auto front = std::move(expected_.front());
  expected_.pop_front();
  return front;
}

void ApplyPipeline::take_command_complete(const protocol::Frame& frame) {
  const auto complete = protocol::decode_command_complete(frame.body);
  if (!complete) throw out_of_step();
  const auto request = pop(frame.tag);
  last_tag_ = complete->command_tag;
  if (request.expect_row && counts_no_row(last_tag_)) {
    auto failure = request.label;
    failure.sqlstate = protocol::sqlstate::kNoData;
    failure.message = "no row on the mirror matches the primary's row";
    failures_.push_back(std::move(failure));
  }
}

void ApplyPipeline::take_error(const protocol::Frame& frame) {
  const auto error = protocol::decode_error_response(frame.body);
  if (!error) throw out_of_step();
  const auto severity = error->field(protocol::error_field::kSeverityNonLocalized);
  if (severity == "FATAL" || severity == "PANIC" || expected_.empty() ||
      expected_.front().request == Request::sync) {
    throw MirrorFailure{conflict::Reachability::unreachable,
                        "the mirror ended the apply session: " + std::string{error->message()}};
  }
  auto failure = expected_.front().label;
  failure.sqlstate = error->sqlstate().empty() ? protocol::sqlstate::kInternalError : std::string{error->sqlstate()};
  failure.message = error->message();
  if (expected_.front().request == Request::query) {
    // The Query's ReadyForQuery follows, and the mirror goes on with the next request.
    if (!std::exchange(aborted_by_query_, true)) failures_.push_back(std::move(failure));
    return;
  }
  if (!std::exchange(aborted_by_query_, false)) failures_.push_back(std::move(failure));
  // The mirror skips everything up to the next Sync: those requests get no answer, nor do the
  // ones queued before that Sync is.
  while (!expected_.empty() && expected_.front().request != Request::sync) {
    if (expected_.front().request == Request::parse) unparsed_.push_back(std::move(expected_.front().statement));
    expected_.pop_front();
  }
  discarding_ = expected_.empty();
}

std::vector<FailedChange> ApplyPipeline::take_failures() { return std::exchange(failures_, {}); }

std::vector<std::optional<std::string>> ApplyPipeline::take_rows() { return std::exchange(rows_, {}); }

std::vector<std::string> ApplyPipeline::take_unparsed() { return std::exchange(unparsed_, {}); }

Awaitable<void> ApplyPipeline::terminate() {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Terminate{}, out);
  co_await asio::async_write(connection_.stream(), asio::buffer(bytes), asio::as_tuple(use_awaitable));
}

}  // namespace pgdual::proxy
