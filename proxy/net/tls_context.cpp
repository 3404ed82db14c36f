#include "proxy/net/tls_context.h"

#include <stdexcept>
#include <string>

#include <openssl/ssl.h>

namespace pgdual::proxy {
namespace {

[[noreturn]] void refuse(const char* key, const boost::system::system_error& error) {
  throw std::runtime_error{std::string{key} + ": " + error.code().message()};
}

}  // namespace

std::shared_ptr<ssl::context> make_client_facing_tls(const config::TlsConfig& tls) {
  if (tls.mode == config::TlsMode::disable) return nullptr;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                       ssl::context::single_dh_use);
  SSL_CTX_set_options(context->native_handle(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  const int oldest = tls.min_version == config::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(context->native_handle(), oldest);
  try {
    context->use_certificate_chain(asio::buffer(tls.cert_pem));
  } catch (const boost::system::system_error& error) {
    refuse("tls.cert_file", error);
  }
  try {
    context->use_private_key(asio::buffer(tls.key_pem), ssl::context::pem);
  } catch (const boost::system::system_error& error) {
    refuse("tls.key_file", error);
  }
  return context;
}

}  // namespace pgdual::proxy
