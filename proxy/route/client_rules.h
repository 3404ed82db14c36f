#pragma once

// Client authentication rules: which [[hba]] rule, and so which method, applies to a client that
// has sent its startup packet. Pure and free of I/O; the session supplies what it knows about the
// client.

#include <span>
#include <string_view>

#include "config/proxy_config.h"
#include "proxy/route/client_address.h"

namespace pgdual::proxy {

/// How a client must prove who it is: the method of the rule that matched it. One enum serves the
/// configuration and the proxy, so a rule's method needs no translation.
using config::AuthMethod;

/// The first of `rules` that matches a client logging in as `user` to `database` from `address`,
/// over TLS when `tls`; nullptr when none does, and the client is to be refused.
///
/// A rule matches when all of these hold, as in pg_hba.conf:
/// - one of its users is `user`, or is "all"; names are compared exactly, as PostgreSQL does;
/// - one of its databases is `database`, or is "all" (the admin console's database is "pgdual");
/// - its address is "all" (nullopt), or `address` lies in its network (IPv4 networks also match
///   IPv4-mapped IPv6 addresses: ClientAddress keeps IPv4 that way);
/// - its connection is any, or tls when `tls`, or plain when not.
[[nodiscard]] const config::HbaRule* match_rule(std::span<const config::HbaRule> rules, std::string_view user,
                                                std::string_view database, const ClientAddress& address,
                                                bool tls) noexcept;

}  // namespace pgdual::proxy
