#include "proxy/backend/backend_tls.h"

#include <stdexcept>
#include <string>

#include <openssl/ssl.h>

namespace pgdual::proxy {
namespace {

// Stream::connect_tls names every host that is not an IP address in the ClientHello. OpenSSL
// calls a context's info callback with SSL_CB_HANDSHAKE_START before it writes the ClientHello,
// so clearing the name there leaves the extension out, as libpq's sslsni=0 does.
void leave_out_server_name(const SSL* connection, int where, int /*ret*/) {
  if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
  // SSL_set_tlsext_host_name(connection, nullptr) without the macro's C cast; the callback is
  // handed a const SSL* only because OpenSSL's signature says so.
  SSL_ctrl(const_cast<SSL*>(connection), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, nullptr);
}

void trust_roots(ssl::context& context, const config::BackendConfig& backend) {
  try {
    context.add_certificate_authority(asio::buffer(backend.sslrootcert_pem));
  } catch (const boost::system::system_error& error) {
    throw std::runtime_error{"backends." + backend.name + ".sslrootcert: cannot load the certificates in \"" +
                             backend.sslrootcert.string() + "\": " + error.code().message()};
  }
}

}  // namespace

std::shared_ptr<ssl::context> make_backend_tls(const config::BackendConfig& backend) {
  if (backend.sslmode == config::SslMode::disable) return nullptr;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  SSL_CTX_set_options(context->native_handle(), SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  if (backend.sslmode != config::SslMode::require) trust_roots(*context, backend);
  if (!backend.sslsni) SSL_CTX_set_info_callback(context->native_handle(), leave_out_server_name);
  return context;
}

PeerCheck peer_check(config::SslMode mode) noexcept {
  switch (mode) {
    case config::SslMode::verify_ca: return PeerCheck::chain;
    case config::SslMode::verify_full: return PeerCheck::chain_and_name;
    case config::SslMode::disable:
    case config::SslMode::require: break;
  }
  return PeerCheck::none;
}

BackendTlsContexts::BackendTlsContexts(const config::ProxyConfig& config)
    : onprem_{make_backend_tls(config.onprem)}, cloud_{make_backend_tls(config.cloud)} {}

const std::shared_ptr<ssl::context>& BackendTlsContexts::for_backend(
    const config::BackendConfig& backend) const noexcept {
  return backend.name == "cloud" ? cloud_ : onprem_;
}

}  // namespace pgdual::proxy
