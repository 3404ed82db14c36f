#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "proxy/auth/scram_secret.h"
#include "proxy/backend/backend_tls.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// What auth.query answered for one role (docs/auth-lookup.md).
struct LookedUpVerifier {
  std::optional<ScramVerifier> verifier;  ///< nullopt: the role cannot log in with SCRAM-SHA-256
  std::string why_not;                    ///< then why, for the log; never the secret itself
};

/// The lookup itself failed: auth.query was refused or answered in a shape pgdual cannot read.
class VerifierLookupFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Runs config.auth.query with `role` as $1 on `primary`, in auth.lookup_database, logged in as
/// auth.lookup_user with that user's password for the primary, on a connection of its own that it
/// closes afterwards. `config` is the configuration as last loaded (its [auth] and [[users]]),
/// `primary` and `tls` the backend pgdual runs with. No row, a NULL, an md5 password or anything else that is not a SCRAM-SHA-256
/// verifier in the second column give a LookedUpVerifier without one.
///
/// Precondition: config.auth.enabled() (validation made lookup_user a [[users]] entry).
/// Throws what BackendConnection::open throws (the primary unreachable, or refusing the lookup
/// user), VerifierLookupFailed (an ErrorResponse to the query, more than one row, fewer than two
/// columns), boost::system::system_error (the connection lost).
Awaitable<LookedUpVerifier> look_up_verifier(const config::ProxyConfig& config, const config::BackendConfig& primary,
                                             const BackendTlsContexts& tls, std::string_view role);

}  // namespace pgdual::proxy
