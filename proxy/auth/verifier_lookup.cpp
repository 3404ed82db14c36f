#include "proxy/auth/verifier_lookup.h"

#include <utility>
#include <vector>

#include "conflict/redact.h"
#include "protocol/backend_messages.h"
#include "protocol/error_response.h"
#include "protocol/frontend_messages.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/startup.h"
#include "protocol/writer.h"
#include "proxy/auth/client_auth.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/backend/simple_query.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {
namespace {

namespace tags = protocol::backend_tag;

BackendLogin lookup_login(const config::ProxyConfig& config, const config::BackendConfig& primary) {
  const auto& user = *config.find_user(config.auth.lookup_user);
  return BackendLogin{.user = user.name,
                      .password = user.password_for(primary),
                      .protocol_version = protocol::kProtocolVersion3,
                      .parameters = {{"user", user.name},
                                     {"database", config.auth.lookup_database},
                                     {"application_name", "pgdual auth lookup"}}};
}

// The extended protocol keeps the role name a parameter: it never becomes SQL text.
Awaitable<void> send_query(BackendConnection& connection, std::string_view query, std::string_view role) {
  std::vector<std::byte> parameter;
  protocol::Writer values{parameter};
  protocol::write_value(values, protocol::as_bytes(role));
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Parse{.statement_name = {}, .query = query, .parameter_type_oids = {}}, out);
  protocol::encode(protocol::Bind{.portal_name = {},
                                  .statement_name = {},
                                  .parameter_formats = {},
                                  .parameters = protocol::ValueList{1, parameter},
                                  .result_formats = {}},
                   out);
  protocol::encode(protocol::Execute{.portal_name = {}, .max_rows = 0}, out);
  protocol::encode(protocol::Sync{}, out);
  co_await send_all(connection.stream(), bytes);
}

/// The rows up to ReadyForQuery; throws VerifierLookupFailed on an ErrorResponse, once the
/// connection is ready again.
Awaitable<std::vector<protocol::OwnedDataRow>> read_rows(BackendConnection& connection) {
  std::vector<protocol::OwnedDataRow> rows;
  std::string refused;
  for (;;) {
    const auto frame = co_await connection.reader().next_frame(connection.stream());
    if (frame.tag == tags::kReadyForQuery) break;
    if (frame.tag == tags::kErrorResponse && refused.empty()) {
      const auto error = protocol::decode_error_response(frame.body);
      refused = error ? std::string{error->sqlstate()} + " " + conflict::redact_error_message(*error)
                      : std::string{"a malformed ErrorResponse"};
    }
    if (frame.tag != tags::kDataRow) continue;
    const auto row = protocol::decode_data_row(frame.body);
    if (!row) throw SessionError{protocol::sqlstate::kProtocolViolation, "malformed DataRow"};
    rows.emplace_back(*row);
  }
  if (!refused.empty()) throw VerifierLookupFailed{"auth.query failed on the primary: " + refused};
  co_return rows;
}

LookedUpVerifier verifier_in(const std::vector<protocol::OwnedDataRow>& rows) {
  if (rows.empty()) return {std::nullopt, "auth.query returned no row: no such role, or it may not log in"};
  if (rows.size() > 1) {
    throw VerifierLookupFailed{"auth.query returned " + std::to_string(rows.size()) + " rows, not one"};
  }
  const auto& columns = rows.front().columns;
  if (columns.size() < 2) throw VerifierLookupFailed{"auth.query returned fewer than two columns"};
  const auto& secret = columns[1];
  if (!secret) return {std::nullopt, "the role has no password"};
  if (secret->starts_with("md5")) return {std::nullopt, "the role has an md5 password, not a SCRAM verifier"};
  auto verifier = parse_scram_verifier(*secret);
  if (!verifier) return {std::nullopt, verifier.error()};
  return {std::move(*verifier), {}};
}

}  // namespace

Awaitable<LookedUpVerifier> look_up_verifier(const config::ProxyConfig& config, const config::BackendConfig& primary,
                                             const BackendTlsContexts& tls, std::string_view role) {
  const auto& primary_tls = tls.for_backend(primary);
  const auto login = lookup_login(config, primary);
  auto opened = co_await BackendConnection::open(primary, primary_tls, login, config.limits.max_message_bytes);
  std::optional<BackendConnection> connection{std::move(opened)};
  co_await send_query(*connection, config.auth.query, role);
  const auto rows = co_await read_rows(*connection);
  co_await say_goodbye(connection);
  co_return verifier_in(rows);
}

}  // namespace pgdual::proxy
