#include "proxy/net/stream.h"

#include <chrono>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "proxy/net/timeouts.h"

namespace pgdual::proxy {
namespace {

/// How long close_gracefully() waits for the peer's close_notify.
constexpr std::chrono::milliseconds kCloseNotifyWait{200};

bool is_ip_address(const std::string& host) {
  boost::system::error_code error;
  static_cast<void>(asio::ip::make_address(host, error));
  return !error;
}

}  // namespace

Awaitable<void> Stream::accept_tls(std::shared_ptr<ssl::context> context) {
  context_ = std::move(context);
  tls_ = std::make_unique<ssl::stream<tcp::socket>>(std::move(socket_), *context_);
  co_await tls_->async_handshake(ssl::stream_base::server, use_awaitable);
}

Awaitable<void> Stream::connect_tls(std::shared_ptr<ssl::context> context, const std::string& server_name,
                                    PeerCheck check) {
  context_ = std::move(context);
  tls_ = std::make_unique<ssl::stream<tcp::socket>>(std::move(socket_), *context_);
  // SSL_set_tlsext_host_name, without the macro's C cast.
  if (!is_ip_address(server_name) &&
      SSL_ctrl(tls_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(server_name.c_str())) != 1) {
    throw boost::system::system_error{asio::error::invalid_argument, "could not set the TLS server name"};
  }
  if (check == PeerCheck::none) {
    tls_->set_verify_mode(ssl::verify_none);
  } else {
    tls_->set_verify_mode(ssl::verify_peer);
    if (check == PeerCheck::chain_and_name) tls_->set_verify_callback(ssl::host_name_verification{server_name});
  }
  co_await tls_->async_handshake(ssl::stream_base::client, use_awaitable);
}

Awaitable<void> Stream::close_gracefully() {
  if (tls_) {
    try {
      co_await with_timeout(tls_->async_shutdown(use_awaitable), kCloseNotifyWait);
    } catch (const boost::system::system_error&) {
      // The peer closed first, or never answered: both end the connection.
    }
  }
  boost::system::error_code ignored;
  lowest_layer().close(ignored);
}

// As PostgreSQL's be_tls_get_certificate_hash: the certificate's own signature hash, except that
// MD5 and SHA-1 become SHA-256 (RFC 5929, section 4.1).
Awaitable<bool> Stream::readable_within(std::chrono::milliseconds limit) {
  if (tls_ && SSL_pending(tls_->native_handle()) > 0) co_return true;
  asio::steady_timer timer{co_await asio::this_coro::executor, limit};
  auto winner = co_await (lowest_layer().async_wait(tcp::socket::wait_read, asio::as_tuple(use_awaitable)) ||
                          timer.async_wait(asio::as_tuple(use_awaitable)));
  if (winner.index() == 1) co_return false;
  const auto [error] = std::get<0>(winner);
  if (error) throw boost::system::system_error{error};
  co_return true;
}

std::vector<std::byte> Stream::tls_server_end_point() const {
  if (!tls_) return {};
  X509* certificate = SSL_get_certificate(tls_->native_handle());
  int digest_nid = NID_undef;
  if (certificate == nullptr ||
      OBJ_find_sigid_algs(X509_get_signature_nid(certificate), &digest_nid, nullptr) == 0) {
    return {};
  }
  if (digest_nid == NID_md5 || digest_nid == NID_sha1) digest_nid = NID_sha256;
  const EVP_MD* digest = EVP_get_digestbynid(digest_nid);
  if (digest == nullptr) return {};
  std::vector<std::byte> hash(EVP_MAX_MD_SIZE);
  unsigned length = 0;
  if (X509_digest(certificate, digest, reinterpret_cast<unsigned char*>(hash.data()), &length) != 1) return {};
  hash.resize(length);
  return hash;
}

}  // namespace pgdual::proxy
