#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>

#include "proxy/net/asio.h"

namespace pgdual::proxy {

namespace ssl = asio::ssl;

/// How a TLS client checks the server it reached, as libpq's sslmode require, verify-ca and
/// verify-full do.
enum class PeerCheck {
  none,            ///< encrypt only
  chain,           ///< the certificate chains to a trusted root
  chain_and_name,  ///< ... and names the host that was asked for
};

/// A connection's bytes: plain TCP, or TLS once both sides agreed to switch (after an
/// SSLRequest). It is an Asio AsyncReadStream and AsyncWriteStream, so every read and write of a
/// client or a backend is written once, whatever the connection carries.
///
/// Like the socket it wraps, it allows one read and one write in flight at once, both from the
/// thread that runs its executor.
class Stream {
 public:
  using executor_type = tcp::socket::executor_type;

  explicit Stream(tcp::socket socket) : socket_{std::move(socket)} {}

  [[nodiscard]] executor_type get_executor() noexcept { return lowest_layer().get_executor(); }

  /// The TCP socket under any TLS: for endpoints, options, cancel() and close().
  [[nodiscard]] tcp::socket& lowest_layer() noexcept { return tls_ ? tls_->next_layer() : socket_; }
  [[nodiscard]] const tcp::socket& lowest_layer() const noexcept { return tls_ ? tls_->next_layer() : socket_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& into) {
          if (tls_) {
            tls_->async_read_some(into, std::move(handler));
          } else {
            socket_.async_read_some(into, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& from) {
          if (tls_) {
            tls_->async_write_some(from, std::move(handler));
          } else {
            socket_.async_write_some(from, std::move(handler));
          }
        },
        token, buffers);
  }

  /// Switches to TLS as the server, with `context`'s certificate; the stream holds the context
  /// for as long as the connection lasts, so a reload may replace it. Throws system_error when
  /// the handshake fails.
  Awaitable<void> accept_tls(std::shared_ptr<ssl::context> context);

  /// Switches to TLS as the client of `server_name` (sent as SNI unless it is an IP address),
  /// checking the server as `check` says. Throws system_error when the handshake or the check
  /// fails.
  Awaitable<void> connect_tls(std::shared_ptr<ssl::context> context, const std::string& server_name,
                              PeerCheck check);

  /// Sends TLS's close_notify, when on TLS, waiting for the peer's at most a moment, then
  /// closes. Errors are ignored: the connection ends either way.
  Awaitable<void> close_gracefully();

  [[nodiscard]] bool is_tls() const noexcept { return tls_ != nullptr; }

  /// Waits until a read would find bytes (received, or decrypted and kept by TLS) or `limit`
  /// passes; true when there are some. Reads nothing: unlike a read cut short by a timer, no byte
  /// can be lost. Throws system_error when the socket fails.
  Awaitable<bool> readable_within(std::chrono::milliseconds limit);

  /// RFC 5929 tls-server-end-point: the hash of the certificate this side presents as a TLS
  /// server, for SCRAM-SHA-256-PLUS; empty when not on TLS, or when the certificate's signature
  /// names no hash that channel binding can use.
  [[nodiscard]] std::vector<std::byte> tls_server_end_point() const;

 private:
  tcp::socket socket_;  ///< moved into tls_ when TLS starts
  std::shared_ptr<ssl::context> context_;
  std::unique_ptr<ssl::stream<tcp::socket>> tls_;  ///< a pointer: the stream's address must not change
};

}  // namespace pgdual::proxy
