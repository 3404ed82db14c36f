#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "proxy/asio.h"

namespace pgdual::proxy {

class Session;

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

 private:
  struct Entry {
    Session* session;
    asio::any_io_executor executor;
  };
  mutable std::mutex mutex_;
  std::map<std::uint64_t, Entry> sessions_;
};

}  // namespace pgdual::proxy
