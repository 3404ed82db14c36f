#include "proxy/session_registry.h"

#include <vector>

namespace pgdual::proxy {

void SessionRegistry::add(std::uint64_t id, Session* session, asio::any_io_executor executor) {
  std::lock_guard lock{mutex_};
  sessions_.emplace(id, Entry{session, std::move(executor), {}});
}

void SessionRegistry::remove(std::uint64_t id) {
  std::lock_guard lock{mutex_};
  sessions_.erase(id);
}

void SessionRegistry::for_each(std::function<void(Session&)> action) {
  std::vector<std::pair<std::uint64_t, asio::any_io_executor>> targets;
  {
    std::lock_guard lock{mutex_};
    for (const auto& [id, entry] : sessions_) targets.emplace_back(id, entry.executor);
  }
  for (auto& [id, executor] : targets) post_to(id, executor, action);
}

bool SessionRegistry::with_client_session(std::uint64_t id, std::function<void(Session&)> action) {
  asio::any_io_executor executor;
  {
    std::lock_guard lock{mutex_};
    const auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second.summary.user.empty()) return false;
    executor = it->second.executor;
  }
  post_to(id, executor, std::move(action));
  return true;
}

void SessionRegistry::post_to(std::uint64_t id, const asio::any_io_executor& executor,
                              std::function<void(Session&)> action) {
  asio::post(executor, [this, id, action = std::move(action)] {
    Session* session = nullptr;
    {
      std::lock_guard lock{mutex_};
      if (auto it = sessions_.find(id); it != sessions_.end()) session = it->second.session;
    }
    // Safe: a session is removed only on this same executor, so it cannot end while this runs.
    if (session != nullptr) action(*session);
  });
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock{mutex_};
  return sessions_.size();
}

void SessionRegistry::describe(std::uint64_t id, SessionSummary summary) {
  std::lock_guard lock{mutex_};
  if (auto it = sessions_.find(id); it != sessions_.end()) it->second.summary = std::move(summary);
}

std::map<std::uint64_t, SessionSummary> SessionRegistry::summaries() const {
  std::lock_guard lock{mutex_};
  std::map<std::uint64_t, SessionSummary> all;
  for (const auto& [id, entry] : sessions_) {
    if (!entry.summary.user.empty()) all.emplace(id, entry.summary);
  }
  return all;
}

}  // namespace pgdual::proxy
