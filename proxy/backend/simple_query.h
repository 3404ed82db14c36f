#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backend_messages.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// A server's refusal of one of pgdual's own statements, fit for a log line.
struct StatementRefused {
  std::string sqlstate;
  std::string message;  ///< conflict::redact_error_message of the server's: no values
};

/// What a server answered to one simple Query, up to its ReadyForQuery.
struct SimpleAnswer {
  std::vector<protocol::OwnedDataRow> rows;
  std::optional<StatementRefused> refused;  ///< the first ErrorResponse, if any
  std::vector<std::string> notifications;  ///< the payloads of the NOTIFYs delivered meanwhile
};

/// A row's integer column as the server printed it; 0 for NULL or anything else. Pure.
[[nodiscard]] std::int64_t number_in(const std::optional<std::string>& text);

/// The payload of NotificationResponse `frame`. Throws SessionError when it is malformed.
[[nodiscard]] std::string notification_payload(const protocol::Frame& frame);

/// Runs `sql` as one simple Query on `connection` and reads its whole answer, so that the
/// connection is ready for the next statement whether or not the server refused this one. Throws
/// boost::system::system_error (a broken connection) or SessionError (a malformed answer).
Awaitable<SimpleAnswer> run_simple_query(BackendConnection& connection, std::string_view sql);

/// Sends `request`, messages that end with one Sync, and reads the answers as run_simple_query() does.
Awaitable<SimpleAnswer> run_until_ready(BackendConnection& connection, protocol::Bytes request);

/// Says goodbye (Terminate) on `connection`, if any, and drops it; a broken connection is no error.
Awaitable<void> say_goodbye(std::optional<BackendConnection>& connection);

}  // namespace pgdual::proxy
