#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "proxy/net/asio.h"

namespace pgdual::proxy {

class Session;

/// What the admin console's SHOW SESSIONS tells of a session; published by the session itself.
struct SessionSummary {
  std::string user;
  std::string database;
  std::string application_name;
  std::string client_address;
  std::string connected_at;  ///< RFC 3339, UTC
  std::string mirror;        ///< "connected", "reconnecting"
  std::string reads;         ///< which backends may serve its reads, and why only the primary
  /// What of its connection's state SWAP ROLES could not move to another primary (a temporary
  /// table, a cursor, LISTEN); empty when none.
  std::string unmovable{};
};

/// The live sessions, so the server can ask each to shut down. Sessions add
/// and remove themselves on their own executor; `for_each` posts work onto
/// each session's executor and looks the session up again there, so it never
/// touches a session that has already ended.
class SessionRegistry {
 public:
  void add(std::uint64_t id, Session* session, asio::any_io_executor executor);
  void remove(std::uint64_t id);
  /// Runs `action` on every live session, each on its own executor.
  void for_each(std::function<void(Session&)> action);
  [[nodiscard]] std::size_t size() const;
  /// Runs `action` on client session `id` on its executor, as for_each does, if it has published a
  /// summary (SHOW SESSIONS lists it: never an admin console). Whether it had.
  bool with_client_session(std::uint64_t id, std::function<void(Session&)> action);

  /// Replaces what is shown of session `id`.
  void describe(std::uint64_t id, SessionSummary summary);
  /// The summary of every live session that has published one (a client session once it is
  /// logged in; never an admin console's), by id.
  [[nodiscard]] std::map<std::uint64_t, SessionSummary> summaries() const;

 private:
  struct Entry {
    Session* session;
    asio::any_io_executor executor;
    SessionSummary summary{};
  };
  /// Runs `action` on session `id` on `executor`, its own, if it is still there then.
  void post_to(std::uint64_t id, const asio::any_io_executor& executor, std::function<void(Session&)> action);

  mutable std::mutex mutex_;
  std::map<std::uint64_t, Entry> sessions_;
};

}  // namespace pgdual::proxy
