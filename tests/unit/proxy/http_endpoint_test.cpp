#include "proxy/admin/http_endpoint.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kMetricsBody = "# HELP pgdual_sessions Client sessions open, logged in.\n"
                                          "# TYPE pgdual_sessions gauge\npgdual_sessions 3\n";

/// A blocking loopback client on plain POSIX sockets. Reads give up after 10 s, so an endpoint
/// that never answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) : fd_{::socket(AF_INET, SOCK_STREAM, 0)} {
    REQUIRE(fd_ >= 0);
    const timeval limit{.tv_sec = 10, .tv_usec = 0};
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) == 0);
    const tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), port};
    REQUIRE(::connect(fd_, endpoint.data(), static_cast<socklen_t>(endpoint.size())) == 0);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { ::close(fd_); }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      REQUIRE(sent > 0);
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
  }

  /// Everything the endpoint sends until it closes the connection (by FIN or reset).
  std::string read_to_end() {
    std::string received;
    char chunk[4096];
    for (;;) {
      const auto size = ::recv(fd_, chunk, sizeof chunk, 0);
      if (size > 0) {
        received.append(chunk, static_cast<std::size_t>(size));
        continue;
      }
      if (size < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) FAIL("the endpoint did not close the connection");
      return received;
    }
  }

 private:
  int fd_;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

Response parse_response(const std::string& raw) {
  Response response;
  const auto head_end = raw.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  REQUIRE(raw.starts_with("HTTP/1.1 "));
  response.status = std::stoi(raw.substr(9, 3));
  std::size_t line_start = raw.find("\r\n") + 2;
  while (line_start < head_end) {
    const auto line_end = raw.find("\r\n", line_start);
    const auto line = raw.substr(line_start, line_end - line_start);
    const auto colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    response.headers[line.substr(0, colon)] = line.substr(colon + 2);
    line_start = line_end + 2;
  }
  response.body = raw.substr(head_end + 4);
  return response;
}

/// An endpoint on an ephemeral loopback port, served by its own thread.
class RunningEndpoint {
 public:
  explicit RunningEndpoint(milliseconds timeout = milliseconds{200})
      : endpoint_{io_, config::MetricsConfig{.address = "127.0.0.1", .port = 0}, handlers(), timeout} {
    endpoint_.start();
    thread_ = std::thread{[this] { io_.run(); }};
  }
  RunningEndpoint(const RunningEndpoint&) = delete;
  RunningEndpoint& operator=(const RunningEndpoint&) = delete;
  ~RunningEndpoint() { stop(); }

  [[nodiscard]] std::uint16_t port() const { return endpoint_.local_port(); }

  /// Stops the endpoint and waits for its thread's io_context::run() to return.
  void stop() {
    endpoint_.stop();
    if (thread_.joinable()) thread_.join();
  }

  /// Sends `request` on a new connection and returns the whole answer.
  Response fetch(std::string_view request) {
    Client client{port()};
    client.send(request);
    return parse_response(client.read_to_end());
  }

  std::atomic<bool> healthy{true};
  std::atomic<bool> handlers_throw{false};

 private:
  HttpHandlers handlers() {
    return {.metrics_text =
                [this] {
                  if (handlers_throw) throw std::runtime_error{"no metrics"};
                  return std::string{kMetricsBody};
                },
            .health = [this] {
              return healthy ? HealthReport{.healthy = true, .body = R"({"status":"ok"})"}
                             : HealthReport{.healthy = false, .body = R"({"status":"braked"})"};
            }};
  }

  asio::io_context io_;
  HttpEndpoint endpoint_;
  std::thread thread_;
};

void check_closing_headers(const Response& response) {
  CHECK(response.headers.at("Connection") == "close");
  CHECK(response.headers.at("Content-Length") == std::to_string(response.body.size()));
}

}  // namespace

TEST_CASE("parse_request_line takes the method and the path without its query", "[unit][proxy][http]") {
  struct Case {
    std::string_view line;
    std::string_view method;
    std::string_view path;
  };
  const Case cases[] = {
      {"GET /metrics HTTP/1.1", "GET", "/metrics"},
      {"HEAD /metrics?name[]=up HTTP/1.0", "HEAD", "/metrics"},
      {"GET /health? HTTP/1.1", "GET", "/health"},
      {"POST / HTTP/1.1", "POST", "/"},
      {"GET http://host:9187/health?x=1 HTTP/1.1", "GET", "/health"},
      {"GET HTTPS://host HTTP/1.1", "GET", "/"},
      {"GET http://host?x=1 HTTP/1.1", "GET", "/"},
      {"OPTIONS * HTTP/1.1", "OPTIONS", "*"},
      {"get /metrics HTTP/1.1", "get", "/metrics"},
  };
  for (const auto& [line, method, path] : cases) {
    INFO(line);
    const auto parsed = parse_request_line(line);
    REQUIRE(parsed);
    CHECK(parsed->method == method);
    CHECK(parsed->path == path);
  }
}

TEST_CASE("parse_request_line rejects malformed lines", "[unit][proxy][http]") {
  using namespace std::string_view_literals;
  for (const auto line : {""sv, "GET"sv, "GET /metrics"sv, "GET  /metrics HTTP/1.1"sv, "GET /metrics  HTTP/1.1"sv,
                          "GET /metrics HTTP/1.1 "sv, " GET /metrics HTTP/1.1"sv, "GET /metrics HTTP/2.0"sv,
                          "GET /metrics http/1.1"sv, "GET /metrics HTTP/1.x"sv, "GET metrics HTTP/1.1"sv,
                          "G(T /metrics HTTP/1.1"sv, "GET /met\x01rics HTTP/1.1"sv, "GET /m\xC3\xA9trics HTTP/1.1"sv,
                          "GET ftp://host/metrics HTTP/1.1"sv, "GET http:///metrics HTTP/1.1"sv,
                          "GET http:// HTTP/1.1"sv, "PRI * HTTP/2.0"sv}) {
    INFO(line);
    CHECK_FALSE(parse_request_line(line));
  }
}

TEST_CASE("GET /metrics answers the metrics text", "[unit][proxy][http]") {
  RunningEndpoint endpoint;
  const auto response = endpoint.fetch("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  CHECK(response.status == 200);
  CHECK(response.headers.at("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(response.body == kMetricsBody);
  check_closing_headers(response);

  CHECK(endpoint.fetch("GET /metrics?debug=1 HTTP/1.0\r\n\r\n").status == 200);
  CHECK(endpoint.fetch("GET /metrics HTTP/1.1\n\n").body == kMetricsBody);  // bare LF line ends
  CHECK(endpoint.fetch("\r\nGET /metrics HTTP/1.1\r\n\r\n").status == 200);  // an empty line first
}

TEST_CASE("HEAD /metrics answers the headers alone", "[unit][proxy][http]") {
  RunningEndpoint endpoint;
  const auto response = endpoint.fetch("HEAD /metrics HTTP/1.1\r\n\r\n");
  CHECK(response.status == 200);
  CHECK(response.body.empty());
  CHECK(response.headers.at("Content-Length") == std::to_string(kMetricsBody.size()));
  CHECK(response.headers.at("Connection") == "close");
}

TEST_CASE("GET /health answers 200 when healthy and 503 when not", "[unit][proxy][http]") {
  RunningEndpoint endpoint;
  auto response = endpoint.fetch("GET /health HTTP/1.1\r\n\r\n");
  CHECK(response.status == 200);
  CHECK(response.headers.at("Content-Type") == "application/json");
  CHECK(response.body == R"({"status":"ok"})");
  check_closing_headers(response);

  endpoint.healthy = false;
  response = endpoint.fetch("GET /health HTTP/1.1\r\n\r\n");
  CHECK(response.status == 503);
  CHECK(response.body == R"({"status":"braked"})");
  check_closing_headers(response);
}

TEST_CASE("Unknown paths get 404, other methods 405, malformed requests 400", "[unit][proxy][http]") {
  RunningEndpoint endpoint;
  auto response = endpoint.fetch("GET /nope HTTP/1.1\r\n\r\n");
  CHECK(response.status == 404);
  check_closing_headers(response);

  response = endpoint.fetch("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  CHECK(response.status == 405);
  CHECK(response.headers.at("Allow") == "GET, HEAD");
  check_closing_headers(response);
  CHECK(endpoint.fetch("get /health HTTP/1.1\r\n\r\n").status == 405);

  response = endpoint.fetch("garbage\r\n\r\n");
  CHECK(response.status == 400);
  check_closing_headers(response);
  CHECK(endpoint.fetch("GET /metrics HTTP/2.0\r\n\r\n").status == 400);
}

TEST_CASE("A request head over 8 KiB gets 431", "[unit][proxy][http]") {
  RunningEndpoint endpoint;
  const auto request = "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(9000, 'a') + "\r\n\r\n";
  const auto response = endpoint.fetch(request);
  CHECK(response.status == 431);
  check_closing_headers(response);
}

TEST_CASE("A handler's exception is answered with 500", "[unit][proxy][http]") {
  RunningEndpoint endpoint;
  endpoint.handlers_throw = true;
  const auto response = endpoint.fetch("GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(response.status == 500);
  check_closing_headers(response);
}

TEST_CASE("A client that sends nothing is answered 408 and closed after the timeout", "[unit][proxy][http]") {
  RunningEndpoint endpoint{milliseconds{200}};
  Client silent{endpoint.port()};
  const auto start = Clock::now();
  const auto response = parse_response(silent.read_to_end());
  const auto waited = Clock::now() - start;
  CHECK(response.status == 408);
  CHECK(waited >= milliseconds{150});
  CHECK(waited < milliseconds{3000});
}

TEST_CASE("A silent client does not delay another client's answer", "[unit][proxy][http]") {
  RunningEndpoint endpoint{milliseconds{5000}};
  Client silent{endpoint.port()};
  Client partial{endpoint.port()};
  partial.send("GET /metr");
  const auto start = Clock::now();
  const auto response = endpoint.fetch("GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(response.status == 200);
  CHECK(Clock::now() - start < milliseconds{1000});
}

TEST_CASE("stop() closes open connections so the io_context's run() returns", "[unit][proxy][http]") {
  RunningEndpoint endpoint{milliseconds{5000}};
  Client silent{endpoint.port()};
  CHECK(endpoint.fetch("GET /health HTTP/1.1\r\n\r\n").status == 200);  // the silent one is accepted by now
  const auto start = Clock::now();
  endpoint.stop();
  CHECK(Clock::now() - start < milliseconds{1000});
  CHECK(silent.read_to_end().empty());
}

TEST_CASE("Binding fails with an error naming the metrics address", "[unit][proxy][http]") {
  asio::io_context io;
  const HttpEndpoint first{io, config::MetricsConfig{.address = "127.0.0.1", .port = 0}, HttpHandlers{}};
  const config::MetricsConfig taken{.address = "127.0.0.1", .port = first.local_port()};
  CHECK_THROWS_WITH(HttpEndpoint(io, taken, HttpHandlers{}), Catch::Contains("metrics.address:port 127.0.0.1:"));
  const config::MetricsConfig not_ip{.address = "localhost", .port = 0};
  CHECK_THROWS_WITH(HttpEndpoint(io, not_ip, HttpHandlers{}), Catch::Contains("metrics.address:port localhost:0"));
}

}  // namespace pgdual::proxy
