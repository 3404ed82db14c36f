#include "tests/unit/proxy/fake_postgres.h"

#include <utility>
#include <variant>

#include "protocol/authentication.h"
#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/writer.h"

namespace pgdual::proxy::test {
namespace {

template <class Message>
void append(const Message& message, std::vector<std::byte>& bytes) {
  protocol::Writer out{bytes};
  protocol::encode(message, out);
}

bool matches(const ScriptStep& step, const Received& message) {
  if (step.tag != message.tag) return false;
  if (step.tag != protocol::frontend_tag::kQuery) return true;
  return step.part_only ? message.query.find(step.query) != std::string::npos : message.query == step.query;
}

std::string describe(const ScriptStep& step) {
  if (step.expect == ScriptStep::Expect::cancel_request) return "a CancelRequest";
  return std::string{"'"} + step.tag + "' " + step.query + (step.part_only ? " (part)" : "");
}

void close(Stream& stream) {
  boost::system::error_code ignored;
  stream.lowest_layer().close(ignored);
}

}  // namespace

ScriptStep query_answered(std::string_view text, protocol::Bytes answer) {
  return {.query = std::string{text}, .answer = {answer.begin(), answer.end()}};
}

ScriptStep query_containing_answered(std::string_view part, protocol::Bytes answer) {
  return {.query = std::string{part}, .part_only = true, .answer = {answer.begin(), answer.end()}};
}

ScriptStep query_left_unanswered(std::string_view text) { return {.query = std::string{text}}; }

ScriptStep cancel_request() { return {.expect = ScriptStep::Expect::cancel_request}; }

FakePostgres::FakePostgres(asio::io_context& io, std::string password, std::vector<ScriptStep> script)
    : acceptor_{io, {asio::ip::make_address("127.0.0.1"), 0}},
      password_{std::move(password)},
      script_{std::move(script)} {}

std::vector<std::string> FakePostgres::queries() const {
  std::vector<std::string> texts;
  for (const auto& message : received_) {
    if (message.tag == protocol::frontend_tag::kQuery) texts.push_back(message.query);
  }
  return texts;
}

Awaitable<void> FakePostgres::serve() {
  Stream stream{co_await acceptor_.async_accept(use_awaitable)};
  MessageReader reader{protocol::kDefaultMaxMessageBody};
  co_await log_in(stream, reader);
  const bool followed = co_await play(stream, reader);
  if (!followed) co_return;
  // Past the script, only a goodbye is expected; anything else is left unanswered.
  auto message = co_await next_message(stream, reader);
  if (!message) co_return;
  terminated_ = message->tag == protocol::frontend_tag::kTerminate;
  if (!terminated_) deviation_ = std::string{"unscripted message '"} + message->tag + "' " + message->query;
  close(stream);
}

// As PostgreSQL greets a client: the authentication exchange, the settings a session starts
// with, the key for cancel requests, then ReadyForQuery.
Awaitable<void> FakePostgres::log_in(Stream& stream, MessageReader& reader) {
  const auto packet = co_await reader.next_startup_packet(stream);
  if (const auto* startup = std::get_if<protocol::StartupMessage>(&packet)) user_ = startup->parameter("user");
  std::vector<std::byte> bytes;
  if (!password_.empty()) {
    append(protocol::AuthenticationCleartextPassword{}, bytes);
    co_await send(stream, bytes);
    bytes.clear();
    const auto frame = co_await reader.next_frame(stream);
    if (const auto password = protocol::decode_password_message(frame.body)) {
      password_received_ = password->password;
    }
  }
  append(protocol::AuthenticationOk{}, bytes);
  append(protocol::ParameterStatus{"DateStyle", "ISO, MDY"}, bytes);
  append(protocol::ParameterStatus{"IntervalStyle", "postgres"}, bytes);
  append(protocol::ParameterStatus{"TimeZone", "UTC"}, bytes);
  append(kKey, bytes);
  append(protocol::ReadyForQuery{protocol::TransactionStatus::idle}, bytes);
  co_await send(stream, bytes);
}

Awaitable<bool> FakePostgres::play(Stream& stream, MessageReader& reader) {
  for (const auto& step : script_) {
    if (step.expect == ScriptStep::Expect::cancel_request) {
      co_await take_cancel_request();
      continue;
    }
    const auto message = co_await next_message(stream, reader);
    if (!message) {
      deviation_ = "the connection closed while the script expected " + describe(step);
      co_return false;
    }
    if (!matches(step, *message)) {
      deviation_ = std::string{"got '"} + message->tag + "' " + message->query + " where the script expected " +
                   describe(step);
      close(stream);
      co_return false;
    }
    if (!step.answer.empty()) co_await send(stream, step.answer);
  }
  co_return true;
}

// PostgreSQL reads the key, signals the backend and closes: the sender waits for that close.
Awaitable<void> FakePostgres::take_cancel_request() {
  Stream stream{co_await acceptor_.async_accept(use_awaitable)};
  MessageReader reader{protocol::kDefaultMaxMessageBody};
  const auto packet = co_await reader.next_startup_packet(stream);
  if (const auto* cancel = std::get_if<protocol::CancelRequest>(&packet)) cancel_ = *cancel;
  close(stream);
}

Awaitable<std::optional<Received>> FakePostgres::next_message(Stream& stream, MessageReader& reader) {
  std::optional<protocol::Frame> frame;
  try {
    frame = co_await reader.next_frame(stream);
  } catch (const boost::system::system_error&) {
    // End of file, or the connection reset: no more messages.
  }
  if (!frame) co_return std::nullopt;
  Received message{.tag = frame->tag};
  if (frame->tag == protocol::frontend_tag::kQuery) {
    if (const auto query = protocol::decode_query(frame->body)) message.query = query->query;
  }
  received_.push_back(message);
  co_return message;
}

Awaitable<void> FakePostgres::send(Stream& stream, protocol::Bytes bytes) { co_await send_all(stream, bytes); }

}  // namespace pgdual::proxy::test
