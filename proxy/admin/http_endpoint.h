#pragma once

// The HTTP endpoint Prometheus scrapes (issue 5): GET /metrics and GET /health, one request per
// connection. Hand-written and small on purpose: it serves two fixed documents to trusted
// scrapers on an operator's network, and needs neither keep-alive nor request bodies.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// What /health answers: 200 when healthy, else 503, with `body` (JSON) either way.
struct HealthReport {
  bool healthy = false;
  std::string body{};
};

/// Where the endpoint's documents come from. Both are called on the endpoint's io_context thread
/// (one call per request, possibly while sessions run on other threads), so whatever they read
/// must be safe to read from that thread; Metrics::render is. An exception from either is
/// answered with 500.
struct HttpHandlers {
  std::function<std::string()> metrics_text{};  ///< the body of /metrics (Metrics::render)
  std::function<HealthReport()> health{};
};

/// The parts of an HTTP/1.x request line the endpoint routes on, viewing the parsed line.
struct RequestLine {
  std::string_view method{};  ///< case-sensitive, as RFC 9110 §9.1 says: "get" is not GET
  std::string_view path{};    ///< the target's path, without its query string
};

/// Parses `line` (without its CRLF) as `method SP request-target SP HTTP-version` (RFC 9112 §3).
/// The method must be a token; the target in origin form ("/metrics?x=1"), absolute form
/// ("http://host:9187/metrics", whose path is "/" when it has none) or asterisk form ("*"); the
/// version HTTP/1.0 or HTTP/1.1 (any HTTP/1.digit). Pure.
///
/// @return std::nullopt when the line is malformed: missing or extra spaces, an empty or non-token
///         method, a target in another form or holding control characters, another version
[[nodiscard]] std::optional<RequestLine> parse_request_line(std::string_view line) noexcept;

/// Serves /metrics and /health over HTTP/1.1 on the configured address:
///
///   GET or HEAD /metrics → 200, Content-Type: text/plain; version=0.0.4; charset=utf-8
///   GET or HEAD /health  → 200 or 503 (HealthReport), Content-Type: application/json
///   another path → 404; another method on these paths → 405 with Allow: GET, HEAD;
///   a malformed request line → 400; a request head over 8 KiB → 431; a head not complete within
///   the request timeout → 408.
///
/// Every answer carries Content-Length and Connection: close, and the connection closes after it.
/// Each connection is its own coroutine under the request timeout (which also bounds writing the
/// answer), so a slow or silent client delays no one else.
///
/// Thread safety: start() and stop() may be called from any thread; the endpoint's work runs on a
/// strand of the io_context, so the io_context may be run by any number of threads. Lifetime: the
/// endpoint's coroutines refer to it, so destroy it only after stop() and after they have ended
/// (once io_context::run() has returned, say).
class HttpEndpoint {
 public:
  /// How long a client has to send its request head, and again to read the answer.
  static constexpr std::chrono::milliseconds kDefaultRequestTimeout{5000};
  /// The largest request head (request line and header fields) answered with anything but 431.
  static constexpr std::size_t kMaxRequestHeadBytes = 8192;

  /// Binds `config.address:config.port` and listens. The configuration's port 0 means "no
  /// endpoint", so a caller constructs none then; given port 0 anyway, the endpoint binds an
  /// ephemeral port (local_port() tells which), as the tests do. `request_timeout` bounds reading
  /// a request head, writing the answer, and waiting for the client to close.
  ///
  /// @throws std::runtime_error naming "metrics.address:port" when the address is no IP literal or
  ///         cannot be bound
  HttpEndpoint(asio::io_context& io, const config::MetricsConfig& config, HttpHandlers handlers,
               std::chrono::milliseconds request_timeout = kDefaultRequestTimeout);
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  /// Starts accepting connections once the io_context runs.
  void start();
  /// Closes the listening socket and every open connection, so that the endpoint's coroutines end
  /// and io_context::run() can return. Idempotent.
  void stop();
  /// The port bound, which differs from the configured one only when that was 0.
  [[nodiscard]] std::uint16_t local_port() const noexcept { return port_; }

 private:
  Awaitable<void> accept_loop();
  Awaitable<void> serve(tcp::socket socket);
  Awaitable<void> converse(tcp::socket& socket);
  void close_everything();

  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  HttpHandlers handlers_;
  std::chrono::milliseconds request_timeout_;
  std::set<tcp::socket*> connections_;  ///< open connections, for stop(); touched on strand_ only
  bool stopped_ = false;                ///< touched on strand_ only
};

}  // namespace pgdual::proxy
