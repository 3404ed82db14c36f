#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgdual::test {

/// A plain TCP connection to 127.0.0.1, for the bytes no well-behaved client sends: malformed
/// packets, a message cut short, one byte a second, a result never read. Bytes travel as
/// std::string. Signals never come from it (writes use MSG_NOSIGNAL).
class RawClient {
 public:
  /// Connects to 127.0.0.1:`port`. Throws std::system_error when the connection fails.
  explicit RawClient(std::uint16_t port);
  ~RawClient();

  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  /// Writes all of `bytes`; false once the peer has closed or reset the connection.
  bool send(std::string_view bytes);

  /// Half-closes the connection: the peer reads end of file, and can still answer.
  void finish_sending();

  /// Closes the connection now, discarding whatever arrived unread.
  void close();

  /// What arrived, and whether the peer closed the connection (end of file or reset).
  struct Reception {
    std::string bytes;
    bool closed = false;
  };

  /// Reads until the peer closes the connection or `limit` passes.
  [[nodiscard]] Reception receive_until_closed(std::chrono::milliseconds limit);

  /// Reads until what this call read holds a complete message tagged `tag`, the peer closes, or
  /// `limit` passes. Bytes after that message, read in the same go, are returned with it.
  [[nodiscard]] Reception receive_until_message(char tag, std::chrono::milliseconds limit);

 private:
  /// Waits up to `limit` for bytes and appends them; false when none came in time.
  bool receive_some(std::chrono::milliseconds limit, Reception& into);

  int fd_ = -1;
};

/// A TCP port on 127.0.0.1 that looks like a server yet never says a word: for a backend that hangs
/// a login. The listening socket lives as long as the object.
class SilentListener {
 public:
  /// How the silence looks from a client.
  enum class Kind {
    /// connect() succeeds (the kernel completes the handshake into a roomy backlog that nobody
    /// drains), and whatever the client sends is never answered.
    answers_nothing,
    /// The backlog is full (listen(fd, 0), filled by connections of our own): connect() itself
    /// hangs, its SYNs dropped.
    full_backlog,
  };

  /// Binds a free port of 127.0.0.1 and listens. Throws std::system_error, or std::runtime_error
  /// when the backlog cannot be filled.
  explicit SilentListener(Kind kind);
  ~SilentListener();

  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

 private:
  void fill_backlog();

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;  ///< our own connections that keep a full backlog full
};

/// Int32 in network byte order, as the protocol writes every length and code.
[[nodiscard]] std::string int32_bytes(std::int32_t value);

/// A protocol 3.0 StartupMessage with `parameters` (name, value).
[[nodiscard]] std::string startup_packet(const std::vector<std::pair<std::string, std::string>>& parameters);

/// A CancelRequest for the session with BackendKeyData (`process_id`, `secret_key`).
[[nodiscard]] std::string cancel_request_packet(std::int32_t process_id, std::int32_t secret_key);

/// A tagged frontend message: `tag`, Int32 length (4 + body), `body`.
[[nodiscard]] std::string tagged_message(char tag, std::string_view body);

/// A simple-protocol Query for `sql`.
[[nodiscard]] std::string query_message(std::string_view sql);

/// One backend message: its tag and body.
struct BackendMessage {
  char tag = 0;
  std::string body;
};

/// The complete messages at the start of `bytes`, in order; a cut-off one at the end is left out.
[[nodiscard]] std::vector<BackendMessage> backend_messages(std::string_view bytes);

/// Field `code` ('C' SQLSTATE, 'M' message, 'S' severity...) of an ErrorResponse or NoticeResponse
/// body; "" when absent.
[[nodiscard]] std::string error_field(const BackendMessage& message, char code);

/// The SQLSTATE of the first ErrorResponse in `bytes`; "" when there is none.
[[nodiscard]] std::string first_error_sqlstate(std::string_view bytes);

/// The message text of the first ErrorResponse in `bytes`; "" when there is none.
[[nodiscard]] std::string first_error_message(std::string_view bytes);

/// An [[hba]] rule for pgdual's config that trusts every loopback client: raw clients do no SCRAM.
inline constexpr const char* kTrustLoopbackClients =
    "\n[[hba]]\nusers = [\"all\"]\ndatabases = [\"all\"]\naddress = \"127.0.0.0/8\"\nmethod = \"trust\"\n";

/// The application_name log_in_trusted() gives its sessions, to find them in pg_stat_activity.
inline constexpr const char* kRawApplicationName = "pgdual_raw_client";

/// Logs in with a StartupMessage for `user` and `database` (application_name kRawApplicationName)
/// on a server or pgdual that trusts the client (no password asked), and reads up to the first
/// ReadyForQuery. Returns what arrived; it holds a ReadyForQuery ('Z') when the login worked.
[[nodiscard]] std::string log_in_trusted(RawClient& client, const std::string& user, const std::string& database,
                                         std::chrono::milliseconds limit);

/// True when `bytes` holds a complete message tagged `tag`.
[[nodiscard]] bool holds_message(std::string_view bytes, char tag);

}  // namespace pgdual::test
