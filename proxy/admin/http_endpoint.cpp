#include "proxy/admin/http_endpoint.h"

#include <algorithm>
#include <array>
#include <exception>
#include <stdexcept>
#include <utility>

#include "proxy/net/timeouts.h"

namespace pgdual::proxy {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";
constexpr std::string_view kMetricsText = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kJson = "application/json";
/// How much a client may still send after its answer before the endpoint stops waiting for it to close.
constexpr std::size_t kMaxLingerBytes = 64 * 1024;

/// An answer, before serialize() puts it on the wire.
struct Response {
  int status = 200;
  std::string_view reason = "OK";
  std::string_view content_type = kPlainText;
  std::string body{};
  bool allow_header = false;  ///< Allow: GET, HEAD (with 405)
  bool send_body = true;      ///< false for HEAD: headers only, with the body's length
};

Response plain(int status, std::string_view reason) {
  return {.status = status, .reason = reason, .body = std::string{reason} + "\n"};
}

// RFC 9110 §5.6.2: tchar.
bool is_token_char(char c) noexcept {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         kSymbols.find(c) != std::string_view::npos;
}

// RFC 5234 VCHAR: printable ASCII without space.
bool is_visible_char(char c) noexcept { return c > 0x20 && c < 0x7f; }

bool is_http1_version(std::string_view version) noexcept {
  return version.size() == 8 && version.starts_with("HTTP/1.") && version[7] >= '0' && version[7] <= '9';
}

bool is_http_scheme(std::string_view scheme) noexcept {
  const auto equals_ignoring_case = [scheme](std::string_view expected) {
    return std::ranges::equal(scheme, expected, [](char a, char b) { return (a | 0x20) == b; });
  };
  return equals_ignoring_case("http") || equals_ignoring_case("https");
}

// The path of a request target in origin, absolute or asterisk form, without its query string.
std::optional<std::string_view> target_path(std::string_view target) noexcept {
  if (target.empty() || !std::ranges::all_of(target, is_visible_char)) return std::nullopt;
  if (target == "*") return target;
  if (!target.starts_with('/')) {
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || !is_http_scheme(target.substr(0, scheme_end))) return std::nullopt;
    target.remove_prefix(scheme_end + 3);
    const auto path_start = target.find_first_of("/?");
    if (target.empty() || path_start == 0) return std::nullopt;  // no authority
    target = path_start == std::string_view::npos ? std::string_view{} : target.substr(path_start);
    if (target.empty() || target.front() == '?') return "/";
  }
  return target.substr(0, target.find('?'));
}

// Where the request's head begins: past the empty lines a server should ignore before the request
// line (RFC 9112 §2.2), or npos while there are only those.
std::size_t head_start(std::string_view head) noexcept { return head.find_first_not_of("\r\n"); }

// Whether `head` holds the empty line that ends a request head. Bare LF line ends are accepted
// too (RFC 9112 §2.2), so a person typing into nc is answered.
bool holds_complete_head(std::string_view head) noexcept {
  const auto start = head_start(head);
  if (start == std::string_view::npos) return false;
  for (auto newline = head.find('\n', start); newline != std::string_view::npos; newline = head.find('\n', newline + 1)) {
    auto next = newline + 1;
    if (next < head.size() && head[next] == '\r') ++next;
    if (next < head.size() && head[next] == '\n') return true;
  }
  return false;
}

// The request line of a complete head, without its line end.
std::string_view request_line_of(std::string_view head) noexcept {
  head.remove_prefix(head_start(head));
  auto line = head.substr(0, head.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

// /metrics and /health, by method. A handler's exception is the endpoint's fault: 500.
Response route(const RequestLine& request, const HttpHandlers& handlers) {
  const bool metrics = request.path == "/metrics";
  if (!metrics && request.path != "/health") return plain(404, "Not Found");
  if (request.method != "GET" && request.method != "HEAD") {
    auto response = plain(405, "Method Not Allowed");
    response.allow_header = true;
    return response;
  }
  try {
    if (metrics) return {.content_type = kMetricsText, .body = handlers.metrics_text()};
    auto report = handlers.health();
    return {.status = report.healthy ? 200 : 503,
            .reason = report.healthy ? "OK" : "Service Unavailable",
            .content_type = kJson,
            .body = std::move(report.body)};
  } catch (const std::exception&) {
    return plain(500, "Internal Server Error");
  }
}

Response answer(std::string_view head, const HttpHandlers& handlers) {
  const auto request = parse_request_line(request_line_of(head));
  if (!request) return plain(400, "Bad Request");
  auto response = route(*request, handlers);
  response.send_body = request->method != "HEAD";
  return response;
}

std::string serialize(const Response& response) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " ";
  out.append(response.reason).append("\r\nContent-Type: ").append(response.content_type);
  out.append("\r\nContent-Length: ").append(std::to_string(response.body.size()));
  if (response.allow_header) out.append("\r\nAllow: GET, HEAD");
  out.append("\r\nConnection: close\r\n\r\n");
  if (response.send_body) out.append(response.body);
  return out;
}

enum class HeadOutcome { complete, too_large, timed_out, closed };

Awaitable<HeadOutcome> read_head(tcp::socket& socket, std::string& head) {
  std::array<char, 2048> chunk{};
  for (;;) {
    const auto room = std::min(chunk.size(), HttpEndpoint::kMaxRequestHeadBytes - head.size());
    auto [error, size] = co_await socket.async_read_some(asio::buffer(chunk.data(), room), asio::as_tuple(use_awaitable));
    if (error) co_return HeadOutcome::closed;
    head.append(chunk.data(), size);
    if (holds_complete_head(head)) co_return HeadOutcome::complete;
    if (head.size() == HttpEndpoint::kMaxRequestHeadBytes) co_return HeadOutcome::too_large;
  }
}

Awaitable<HeadOutcome> read_head_within(tcp::socket& socket, std::string& head, milliseconds limit) {
  try {
    co_return co_await with_timeout(read_head(socket, head), limit);
  } catch (const boost::system::system_error& error) {
    if (error.code() != asio::error::timed_out) throw;
  }
  co_return HeadOutcome::timed_out;
}

// Writes `bytes`, then reads until the client closes: closing with unread bytes (a request body,
// the rest of an oversized head) would reset the connection, and the reset can destroy the answer
// before the client has read it (RFC 9112 §9.6).
Awaitable<void> send_then_linger(tcp::socket& socket, const std::string& bytes) {
  auto [error, written] = co_await asio::async_write(socket, asio::buffer(bytes), asio::as_tuple(use_awaitable));
  if (error) co_return;
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 2048> discarded{};
  for (std::size_t total = 0; total < kMaxLingerBytes;) {
    auto [read_error, size] = co_await socket.async_read_some(asio::buffer(discarded), asio::as_tuple(use_awaitable));
    if (read_error) co_return;
    total += size;
  }
}

Awaitable<void> send_within(tcp::socket& socket, const std::string& bytes, milliseconds limit) {
  try {
    co_await with_timeout(send_then_linger(socket, bytes), limit);
  } catch (const boost::system::system_error& error) {
    if (error.code() != asio::error::timed_out) throw;
  }
}

/// Lists a connection's socket for stop() while the connection lives.
class Registration {
 public:
  Registration(std::set<tcp::socket*>& connections, tcp::socket& socket) : connections_{connections}, socket_{&socket} {
    connections_.insert(socket_);
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { connections_.erase(socket_); }

 private:
  std::set<tcp::socket*>& connections_;
  tcp::socket* socket_;
};

tcp::acceptor listen_on(const asio::any_io_executor& executor, const config::MetricsConfig& config) {
  tcp::acceptor acceptor{executor};
  try {
    const tcp::endpoint endpoint{asio::ip::make_address(config.address), config.port};
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address{true});
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& error) {
    throw std::runtime_error{"could not listen on metrics.address:port " + config.address + ":" +
                             std::to_string(config.port) + ": " + error.code().message()};
  }
  return acceptor;
}

}  // namespace

std::optional<RequestLine> parse_request_line(std::string_view line) noexcept {
  const auto method_end = line.find(' ');
  if (method_end == std::string_view::npos) return std::nullopt;
  const auto target_end = line.find(' ', method_end + 1);
  if (target_end == std::string_view::npos) return std::nullopt;
  const auto method = line.substr(0, method_end);
  if (method.empty() || !std::ranges::all_of(method, is_token_char)) return std::nullopt;
  if (!is_http1_version(line.substr(target_end + 1))) return std::nullopt;
  const auto path = target_path(line.substr(method_end + 1, target_end - method_end - 1));
  if (!path) return std::nullopt;
  return RequestLine{.method = method, .path = *path};
}

HttpEndpoint::HttpEndpoint(asio::io_context& io, const config::MetricsConfig& config, HttpHandlers handlers,
                           milliseconds request_timeout)
    : strand_{asio::make_strand(io)},
      acceptor_{listen_on(strand_, config)},
      port_{acceptor_.local_endpoint().port()},
      handlers_{std::move(handlers)},
      request_timeout_{request_timeout} {}

void HttpEndpoint::start() { asio::co_spawn(strand_, accept_loop(), asio::detached); }

void HttpEndpoint::stop() {
  asio::dispatch(strand_, [this] { close_everything(); });
}

void HttpEndpoint::close_everything() {
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto* socket : connections_) socket->close(ignored);
}

Awaitable<void> HttpEndpoint::accept_loop() {
  asio::steady_timer pause{strand_};
  for (;;) {
    auto [error, socket] = co_await acceptor_.async_accept(asio::as_tuple(use_awaitable));
    if (stopped_ || error == asio::error::operation_aborted) co_return;
    if (error) {
      // Out of descriptors, typically: back off instead of spinning.
      pause.expires_after(std::chrono::milliseconds{100});
      co_await pause.async_wait(asio::as_tuple(use_awaitable));
      continue;
    }
    // detached: whatever a connection throws ends that connection alone.
    asio::co_spawn(strand_, serve(std::move(socket)), asio::detached);
  }
}

Awaitable<void> HttpEndpoint::serve(tcp::socket socket) {
  if (stopped_) co_return;
  const Registration registration{connections_, socket};
  co_await converse(socket);
}

Awaitable<void> HttpEndpoint::converse(tcp::socket& socket) {
  std::string head;
  const auto outcome = co_await read_head_within(socket, head, request_timeout_);
  if (outcome == HeadOutcome::closed) co_return;
  Response response;
  if (outcome == HeadOutcome::timed_out) {
    response = plain(408, "Request Timeout");
  } else if (outcome == HeadOutcome::too_large) {
    response = plain(431, "Request Header Fields Too Large");
  } else {
    response = answer(head, handlers_);
  }
  const auto bytes = serialize(response);
  co_await send_within(socket, bytes, request_timeout_);
}

}  // namespace pgdual::proxy
