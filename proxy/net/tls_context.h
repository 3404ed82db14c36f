#pragma once

#include <memory>

#include "config/proxy_config.h"
#include "proxy/net/stream.h"

namespace pgdual::proxy {

/// The TLS context clients meet: `tls`'s certificate chain and key, TLS `tls.min_version` or
/// newer, no compression, no renegotiation. nullptr with tls.mode disable. Throws
/// std::runtime_error naming the tls.* key at fault when OpenSSL refuses the certificate or the
/// key, which includes a key that is not the certificate's.
[[nodiscard]] std::shared_ptr<ssl::context> make_client_facing_tls(const config::TlsConfig& tls);

}  // namespace pgdual::proxy
