#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "conflict/conflict_record.h"
#include "protocol/authentication.h"
#include "protocol/frame.h"
#include "protocol/startup.h"
#include "proxy/auth/client_auth.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/net/asio.h"
#include "proxy/net/stream.h"
#include "proxy/net/wire_io.h"
#include "proxy/route/client_address.h"
#include "proxy/session/session_context.h"

namespace pgdual::proxy {

/// Each backend's login for a client: the user and startup parameters the client asked for,
/// with the password pgdual holds for that user on that backend, or for a role it looked up
/// ([auth]), the ClientKey the client proved.
struct BackendLogins {
  BackendLogin primary;
  BackendLogin mirror;
};

/// The login the client asked for in `startup`, without a password, copied out of the packet,
/// whose views last only until the next read.
[[nodiscard]] BackendLogin login_as_asked(const protocol::StartupMessage& startup);

/// The client proves who it is, by the first [[hba]] rule that matches it, before any backend
/// connection is opened for it.
class ClientLogin {
 public:
  ClientLogin(Stream& client, MessageReader& reader, const SessionContext& context, std::uint64_t session_id)
      : client_{client}, reader_{reader}, context_{context}, id_{session_id} {}

  /// Checks the client's proof within limits.startup_timeout. Throws SessionError: the [[hba]]
  /// rule's refusal or a failed proof (after a fixed pause), 08P01 when the time runs out.
  Awaitable<void> authenticate(const conflict::SessionInfo& who, const std::optional<ClientAddress>& address);

  /// Once the client proved who it is: each backend's login for what it `asked`. Throws
  /// SessionError 28P01, as for a wrong password, when pgdual holds neither a password for the
  /// user nor a ClientKey from its SCRAM exchange.
  [[nodiscard]] BackendLogins backend_logins(const BackendLogin& asked) const;

 private:
  Awaitable<void> authenticate_by_rule(const conflict::SessionInfo& who, const std::optional<ClientAddress>& address);
  Awaitable<std::optional<AuthFailure>> authenticate_scram(const std::string& user);
  Awaitable<ScramSha256Server> scram_exchange(const std::string& user);
  Awaitable<std::optional<ScramVerifier>> looked_up_verifier(const config::ProxyConfig& settings,
                                                            const std::string& role);
  Awaitable<std::optional<AuthFailure>> authenticate_md5(const std::string& user);
  Awaitable<void> send(const protocol::Authentication& request);
  Awaitable<protocol::Frame> read_password_message();

  Stream& client_;
  MessageReader& reader_;
  const SessionContext& context_;
  std::uint64_t id_;
  bool looked_up_ = false;  ///< the SCRAM exchange checked a verifier auth.query returned
  /// For a looked-up role, once its proof is checked: what logs in to the backends for it. Held
  /// for the session's life (the mirror may reconnect), wiped when the last login lets go of it.
  std::shared_ptr<const ScramClientKey> looked_up_key_;
};

}  // namespace pgdual::proxy
