#include "tests/integration/harness/raw_client.h"

#include "tests/integration/harness/loopback.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace pgdual::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kErrorResponseTag = 'E';
constexpr char kReadyForQueryTag = 'Z';
constexpr std::int32_t kProtocolVersion3 = 196608;
constexpr std::int32_t kCancelRequestCode = 80877102;
/// How long a connection to a full backlog is given to complete before we call the backlog full.
constexpr std::chrono::milliseconds kBacklogProbe{300};
constexpr int kMaxFillers = 16;

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

int tcp_socket() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket");
  return fd;
}

std::int32_t read_int32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  return static_cast<std::int32_t>(value);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

/// Starts a non-blocking connect to 127.0.0.1:`port` and waits up to `limit` for it; true when it
/// completed. The socket is returned either way, through `fd`.
bool connects_within(std::uint16_t port, std::chrono::milliseconds limit, int& fd) {
  fd = tcp_socket();
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  const auto address = loopback_address(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) return true;
  if (errno != EINPROGRESS) throw_errno("connect");
  pollfd watch{fd, POLLOUT, 0};
  if (poll(&watch, 1, static_cast<int>(limit.count())) <= 0) return false;
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  return error == 0;
}

std::string first_error_field(std::string_view bytes, char code) {
  for (const auto& message : backend_messages(bytes)) {
    if (message.tag == kErrorResponseTag) return error_field(message, code);
  }
  return {};
}

}  // namespace

RawClient::RawClient(std::uint16_t port) : fd_(tcp_socket()) {
  const auto address = loopback_address(port);
  if (connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "connect 127.0.0.1:" + std::to_string(port));
  }
}

RawClient::~RawClient() { close(); }

bool RawClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

void RawClient::finish_sending() { shutdown(fd_, SHUT_WR); }

void RawClient::close() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
}

bool RawClient::receive_some(std::chrono::milliseconds limit, Reception& into) {
  pollfd watch{fd_, POLLIN, 0};
  if (poll(&watch, 1, static_cast<int>(limit.count())) <= 0) return false;
  std::array<char, 64 * 1024> buffer{};
  const auto received = recv(fd_, buffer.data(), buffer.size(), 0);
  if (received <= 0) {
    into.closed = true;
  } else {
    into.bytes.append(buffer.data(), static_cast<std::size_t>(received));
  }
  return true;
}

RawClient::Reception RawClient::receive_until_closed(std::chrono::milliseconds limit) {
  Reception reception;
  const auto deadline = Clock::now() + limit;
  while (!reception.closed && receive_some(std::chrono::milliseconds{remaining_ms(deadline)}, reception)) {
  }
  return reception;
}

RawClient::Reception RawClient::receive_until_message(char tag, std::chrono::milliseconds limit) {
  Reception reception;
  const auto deadline = Clock::now() + limit;
  while (!reception.closed && !holds_message(reception.bytes, tag) &&
         receive_some(std::chrono::milliseconds{remaining_ms(deadline)}, reception)) {
  }
  return reception;
}

SilentListener::SilentListener(Kind kind) : fd_(tcp_socket()) {
  auto address = loopback_address(0);
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) throw_errno("bind 127.0.0.1:0");
  socklen_t length = sizeof address;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) throw_errno("getsockname");
  port_ = ntohs(address.sin_port);
  if (listen(fd_, kind == Kind::full_backlog ? 0 : SOMAXCONN) != 0) throw_errno("listen");
  if (kind == Kind::full_backlog) fill_backlog();
}

SilentListener::~SilentListener() {
  for (const int filler : fillers_) ::close(filler);
  ::close(fd_);
}

// Connections of our own go into the backlog until one no longer completes: from then on the
// kernel drops every SYN for this port, and connect() waits in vain.
void SilentListener::fill_backlog() {
  for (int attempt = 0; attempt < kMaxFillers; ++attempt) {
    int filler = -1;
    const bool connected = connects_within(port_, kBacklogProbe, filler);
    fillers_.push_back(filler);
    if (!connected) return;
  }
  throw std::runtime_error{"the backlog of 127.0.0.1:" + std::to_string(port_) + " did not fill up"};
}

std::string int32_bytes(std::int32_t value) {
  const auto bits = static_cast<std::uint32_t>(value);
  return {static_cast<char>(bits >> 24), static_cast<char>(bits >> 16), static_cast<char>(bits >> 8),
          static_cast<char>(bits)};
}

std::string startup_packet(const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string body = int32_bytes(kProtocolVersion3);
  for (const auto& [name, value] : parameters) {
    body += name;
    body += '\0';
    body += value;
    body += '\0';
  }
  body += '\0';
  return int32_bytes(static_cast<std::int32_t>(body.size() + 4)) + body;
}

std::string cancel_request_packet(std::int32_t process_id, std::int32_t secret_key) {
  return int32_bytes(16) + int32_bytes(kCancelRequestCode) + int32_bytes(process_id) + int32_bytes(secret_key);
}

std::string tagged_message(char tag, std::string_view body) {
  return std::string{tag} + int32_bytes(static_cast<std::int32_t>(body.size() + 4)) + std::string{body};
}

std::string query_message(std::string_view sql) { return tagged_message('Q', std::string{sql} + '\0'); }

std::vector<BackendMessage> backend_messages(std::string_view bytes) {
  std::vector<BackendMessage> messages;
  while (bytes.size() >= 5) {
    const auto length = read_int32(bytes.substr(1));
    if (length < 4 || bytes.size() < static_cast<std::size_t>(length) + 1) break;
    messages.push_back({bytes[0], std::string{bytes.substr(5, static_cast<std::size_t>(length) - 4)}});
    bytes.remove_prefix(static_cast<std::size_t>(length) + 1);
  }
  return messages;
}

std::string error_field(const BackendMessage& message, char code) {
  std::string_view fields = message.body;
  while (!fields.empty() && fields[0] != '\0') {
    const auto end = fields.find('\0');
    if (end == std::string_view::npos) break;
    if (fields[0] == code) return std::string{fields.substr(1, end - 1)};
    fields.remove_prefix(end + 1);
  }
  return {};
}

std::string first_error_sqlstate(std::string_view bytes) { return first_error_field(bytes, 'C'); }

std::string first_error_message(std::string_view bytes) { return first_error_field(bytes, 'M'); }

std::string log_in_trusted(RawClient& client, const std::string& user, const std::string& database,
                           std::chrono::milliseconds limit) {
  client.send(startup_packet({{"user", user}, {"database", database}, {"application_name", kRawApplicationName}}));
  return client.receive_until_message(kReadyForQueryTag, limit).bytes;
}

bool holds_message(std::string_view bytes, char tag) {
  for (const auto& message : backend_messages(bytes)) {
    if (message.tag == tag) return true;
  }
  return false;
}

}  // namespace pgdual::test
