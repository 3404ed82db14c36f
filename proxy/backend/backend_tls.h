#pragma once

#include <memory>

#include "config/proxy_config.h"
#include "proxy/net/stream.h"

namespace pgdual::proxy {

/// The TLS context pgdual's connections to `backend` use as TLS clients: TLS 1.2 or newer, no
/// compression, no renegotiation, trusting the root certificates of backend.sslrootcert_pem (with
/// verify-ca and verify-full), and without Server Name Indication when backend.sslsni is false.
/// nullptr with sslmode disable. Throws std::runtime_error naming backends.<name>.sslrootcert when
/// OpenSSL cannot load a certificate from it.
[[nodiscard]] std::shared_ptr<ssl::context> make_backend_tls(const config::BackendConfig& backend);

/// What Stream::connect_tls checks of the server under `mode` (which is not disable): nothing with
/// require, the chain with verify-ca, the chain and the host name with verify-full.
[[nodiscard]] PeerCheck peer_check(config::SslMode mode) noexcept;

/// The TLS contexts of both backends, made once when the server starts and shared by every
/// session on every thread: an ssl::context is not changed once made, so OpenSSL lets many
/// connections use it at once. A reload does not change them; the backends' settings need a
/// restart.
class BackendTlsContexts {
 public:
  /// Makes both contexts. Throws std::runtime_error as make_backend_tls() does.
  explicit BackendTlsContexts(const config::ProxyConfig& config);

  /// The context for `backend`, one of the two in the configuration this was made from (told
  /// apart by name); nullptr when its sslmode is disable.
  [[nodiscard]] const std::shared_ptr<ssl::context>& for_backend(const config::BackendConfig& backend) const noexcept;

 private:
  std::shared_ptr<ssl::context> onprem_;
  std::shared_ptr<ssl::context> cloud_;
};

}  // namespace pgdual::proxy
