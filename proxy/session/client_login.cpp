#include "proxy/session/client_login.h"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <vector>

#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "proxy/admin/live_settings.h"
#include "proxy/auth/backend_auth.h"
#include "proxy/auth/client_credentials.h"
#include "proxy/auth/verifier_lookup.h"
#include "proxy/net/timeouts.h"
#include "proxy/route/client_rules.h"

namespace pgdual::proxy {
namespace {

/// Every failed login waits this long before its answer, whatever failed: a wrong password, an
/// unknown user, a malformed message. The answer's timing then tells nothing, and guessing is slow.
constexpr std::chrono::milliseconds kFailureDelay{250};

/// SessionError keeps its SQLSTATE as a literal.
const char* literal_sqlstate(std::string_view sqlstate) {
  for (const char* known :
       {protocol::sqlstate::kInvalidPassword, protocol::sqlstate::kInvalidAuthorizationSpecification,
        protocol::sqlstate::kProtocolViolation, protocol::sqlstate::kFeatureNotSupported}) {
    if (sqlstate == known) return known;
  }
  return protocol::sqlstate::kInvalidAuthorizationSpecification;
}

std::string_view text_of(protocol::Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string where(const conflict::SessionInfo& session, bool tls) {
  const auto host = session.client_address.substr(0, session.client_address.rfind(':'));
  return "host \"" + host + "\", user \"" + session.user + "\", database \"" + session.database + "\", " +
         (tls ? "SSL encryption" : "no encryption");
}

AuthFailure malformed(std::string_view what) {
  return {protocol::sqlstate::kProtocolViolation, "malformed " + std::string{what} + " message", {}};
}

}  // namespace

Awaitable<void> ClientLogin::authenticate(const conflict::SessionInfo& who,
                                          const std::optional<ClientAddress>& address) {
  try {
    co_await with_timeout(authenticate_by_rule(who, address), context_.config->limits.startup_timeout);
  } catch (const boost::system::system_error& error) {
    if (error.code() != asio::error::timed_out) throw;
    throw SessionError{protocol::sqlstate::kProtocolViolation, "canceling authentication due to timeout"};
  }
}

Awaitable<void> ClientLogin::authenticate_by_rule(const conflict::SessionInfo& who,
                                                  const std::optional<ClientAddress>& address) {
  const auto settings = context_.settings.current();
  const bool tls = client_.is_tls();
  const auto* rule = match_rule(settings->hba, who.user, who.database, address.value_or(ClientAddress{}), tls);
  std::optional<AuthFailure> failure;
  if (rule == nullptr) {
    failure = AuthFailure{
        protocol::sqlstate::kInvalidAuthorizationSpecification, "no pgdual [[hba]] entry for " + where(who, tls), {}};
  } else if (rule->method == config::AuthMethod::reject) {
    failure = AuthFailure{protocol::sqlstate::kInvalidAuthorizationSpecification,
                          "pgdual [[hba]] rejects connection for " + where(who, tls),
                          {}};
  } else if (rule->method == config::AuthMethod::scram_sha_256) {
    failure = co_await authenticate_scram(who.user);
  } else if (rule->method == config::AuthMethod::md5) {
    failure = co_await authenticate_md5(who.user);
  }
  if (!failure) co_return;
  context_.log->info("session={} login refused with {}", id_, failure->sqlstate);
  asio::steady_timer pause{client_.get_executor(), kFailureDelay};
  co_await pause.async_wait(use_awaitable);
  throw SessionError{literal_sqlstate(failure->sqlstate), failure->message};
}

// A role the file lists is checked against the file. Another one, with [auth] lookups on, is
// checked against the verifier the primary holds for it; one that cannot log in that way gets the
// exchange of an unknown user, which fails as a wrong password does: no user enumeration.
Awaitable<ScramSha256Server> ClientLogin::scram_exchange(const std::string& user) {
  const auto settings = context_.settings.current();
  const auto credentials = context_.settings.credentials();
  auto tls_end_point = client_.tls_server_end_point();
  if (settings->find_user(user) != nullptr || !settings->auth.enabled()) {
    co_return credentials->scram(user, std::move(tls_end_point));
  }
  auto verifier = co_await looked_up_verifier(*settings, user);
  if (!verifier) co_return credentials->scram(user, std::move(tls_end_point));
  looked_up_ = true;
  co_return ScramSha256Server{user, std::move(*verifier), std::move(tls_end_point)};
}

// A lookup that fails says nothing about the role, so the client may learn that it failed; the
// reason, which may name the primary's objects, goes to the log only.
Awaitable<std::optional<ScramVerifier>> ClientLogin::looked_up_verifier(const config::ProxyConfig& settings,
                                                                        const std::string& role) {
  std::string failure;
  try {
    const auto& primary = context_.config->primary_backend();  // the backend pgdual runs with
    auto found = co_await look_up_verifier(settings, primary, context_.backend_tls, role);
    if (found.verifier) co_return std::move(found.verifier);
    context_.log->info("session={} role \"{}\" gets no SCRAM login by auth.query: {}", id_, role, found.why_not);
    co_return std::nullopt;
  } catch (const std::exception& error) {
    failure = error.what();
  }
  context_.log->warn("session={} looking up role \"{}\" on the primary failed: {}", id_, role, failure);
  throw SessionError{protocol::sqlstate::kConnectionFailure,
                     "pgdual could not look up the role on the primary server; pgdual's log says why"};
}

Awaitable<std::optional<AuthFailure>> ClientLogin::authenticate_scram(const std::string& user) {
  auto exchange = co_await scram_exchange(user);
  const auto offered = exchange.mechanisms();
  protocol::AuthenticationSASL sasl;
  for (const auto& mechanism : offered) sasl.mechanisms.push_back(mechanism);
  const protocol::Authentication request{std::move(sasl)};
  co_await send(request);

  const auto initial_frame = co_await read_password_message();
  const auto initial = protocol::decode_sasl_initial_response(initial_frame.body);
  if (!initial) co_return malformed("SASLInitialResponse");
  const auto server_first = exchange.first(initial->mechanism, text_of(initial->data));
  if (!server_first) co_return server_first.error();
  const protocol::Authentication challenge{protocol::AuthenticationSASLContinue{protocol::as_bytes(*server_first)}};
  co_await send(challenge);

  const auto response_frame = co_await read_password_message();
  const auto response = protocol::decode_sasl_response(response_frame.body);
  if (!response) co_return malformed("SASLResponse");
  const auto server_final = exchange.final(text_of(response->data));
  if (!server_final) co_return server_final.error();
  if (looked_up_) looked_up_key_ = exchange.client_key();
  const protocol::Authentication outcome{protocol::AuthenticationSASLFinal{protocol::as_bytes(*server_final)}};
  co_await send(outcome);
  co_return std::nullopt;
}

Awaitable<std::optional<AuthFailure>> ClientLogin::authenticate_md5(const std::string& user) {
  protocol::AuthenticationMD5Password challenge;
  const auto random = random_bytes(challenge.salt.size());
  std::copy(random.begin(), random.end(), challenge.salt.begin());
  const protocol::Authentication request{challenge};
  co_await send(request);
  const auto frame = co_await read_password_message();
  const auto answer = protocol::decode_password_message(frame.body);
  if (!answer) co_return malformed("password");
  const auto credentials = context_.settings.credentials();
  const auto* secret = credentials->md5(user);
  if (secret == nullptr || !check_md5_response(*secret, challenge.salt, answer->password)) {
    co_return password_authentication_failed(user);
  }
  co_return std::nullopt;
}

Awaitable<void> ClientLogin::send(const protocol::Authentication& request) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(request, out);
  co_await asio::async_write(client_, asio::buffer(bytes), asio::as_tuple(use_awaitable));
}

// Anything else here is a protocol violation, which ends the session as PostgreSQL ends it.
Awaitable<protocol::Frame> ClientLogin::read_password_message() {
  const auto frame = co_await reader_.next_frame(client_);
  if (frame.tag != protocol::frontend_tag::kPasswordMessage) {
    throw SessionError{protocol::sqlstate::kProtocolViolation,
                       "expected password response, got message type " + std::string(1, frame.tag)};
  }
  co_return frame;
}

BackendLogin login_as_asked(const protocol::StartupMessage& startup) {
  BackendLogin asked{std::string{startup.parameter("user")}, {}, startup.protocol_version, {}};
  for (const auto& [name, value] : startup.parameters) asked.parameters.emplace_back(name, value);
  return asked;
}

BackendLogins ClientLogin::backend_logins(const BackendLogin& asked) const {
  const auto& running = *context_.config;  // the backends as pgdual started with them
  const auto settings = context_.settings.current();  // the users as last loaded
  BackendLogins logins{asked, asked};
  if (const auto* configured = settings->find_user(asked.user)) {
    logins.primary.password = configured->password_for(running.primary_backend());
    logins.mirror.password = configured->password_for(running.mirror_backend());
    return logins;
  }
  if (looked_up_key_) {
    logins.primary.scram_client_key = looked_up_key_;
    logins.mirror.scram_client_key = looked_up_key_;
    return logins;
  }
  context_.log->info("session={} rejected: user is not configured", id_);
  throw SessionError{protocol::sqlstate::kInvalidPassword,
                     "password authentication failed for user \"" + asked.user + "\""};
}

}  // namespace pgdual::proxy
