#include "proxy/backend/simple_query.h"

#include <charconv>

#include "conflict/redact.h"
#include "protocol/error_response.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::backend_tag;

StatementRefused refusal(const protocol::Frame& frame) {
  const auto error = protocol::decode_error_response(frame.body);
  if (!error) throw SessionError{protocol::sqlstate::kProtocolViolation, "malformed ErrorResponse"};
  return StatementRefused{.sqlstate = std::string{error->sqlstate()},
                          .message = conflict::redact_error_message(*error)};
}

}  // namespace

std::int64_t number_in(const std::optional<std::string>& text) {
  std::int64_t value = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), value);
  return value;
}

std::string notification_payload(const protocol::Frame& frame) {
  const auto notification = protocol::decode_notification_response(frame.body);
  if (!notification) throw SessionError{protocol::sqlstate::kProtocolViolation, "malformed NotificationResponse"};
  return std::string{notification->payload};
}

Awaitable<SimpleAnswer> run_simple_query(BackendConnection& connection, std::string_view sql) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Query{sql}, out);
  co_return co_await run_until_ready(connection, bytes);
}

Awaitable<SimpleAnswer> run_until_ready(BackendConnection& connection, protocol::Bytes request) {
  co_await send_all(connection.stream(), request);
  SimpleAnswer answer;
  for (;;) {
    const auto frame = co_await connection.reader().next_frame(connection.stream());
    if (frame.tag == tags::kReadyForQuery) co_return answer;
    if (frame.tag == tags::kErrorResponse && !answer.refused) answer.refused = refusal(frame);
    if (frame.tag == tags::kNotificationResponse) answer.notifications.push_back(notification_payload(frame));
    if (frame.tag != tags::kDataRow) continue;  // RowDescription, CommandComplete, notices
    const auto row = protocol::decode_data_row(frame.body);
    if (!row) throw SessionError{protocol::sqlstate::kProtocolViolation, "malformed DataRow"};
    answer.rows.emplace_back(*row);
  }
}

Awaitable<void> say_goodbye(std::optional<BackendConnection>& connection) {
  if (!connection) co_return;
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Terminate{}, out);
  co_await asio::async_write(connection->stream(), asio::buffer(bytes), asio::as_tuple(use_awaitable));
  connection.reset();
}

}  // namespace pgdual::proxy
