#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "config/proxy_config.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/mirror/task_stop.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// A pass could not read the primary's sequences or set them on the mirror: a server refused
/// pgdual's own statement, a connection broke, or a server was silent past answer_timeout.
class SequenceCopyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where a copier stands, for SHOW BACKENDS, /metrics and tests.
struct SequenceCopierProgress {
  std::uint64_t passes = 0;            ///< passes that read the primary and heard every answer of the mirror
  std::uint64_t sequences_copied = 0;  ///< setvals the mirror took, over all passes
  /// The last failure: a pass that failed, or a sequence not copied (only names, never a value);
  /// empty while none has happened.
  std::string last_error;
};

/// Copies the state of every sequence of one database (last_value and is_called) from the primary
/// to the mirror (docs/wal-mirror.md, "What WAL does not carry"): logical decoding does not carry
/// sequences, so without it the mirror would hand out, after cutover, ids the primary already used.
///
/// A pass reads every sequence on the primary in one query and sets, on the mirror, those whose
/// state differs from what this copier last set there, in one pipelined round trip. A sequence
/// the primary's login may not read, or the mirror refuses (missing there, a login without UPDATE
/// on it, other bounds), is logged as a warning once, when it starts failing; the others are
/// copied all the same, and every pass tries it again. Connections are kept between passes; a
/// failed pass drops them, and the next pass opens new ones.
///
/// run(), stop() and copy_once() on the executor run() was spawned on; progress() from any thread.
class SequenceCopier {
 public:
  struct Options {
    /// The primary's login, with its database: a role that may SELECT every sequence (a
    /// superuser, or the owner of the application's schemas).
    BackendLogin primary_login;
    /// The mirror's login, same database: a role that may UPDATE every sequence (setval).
    BackendLogin mirror_login;
    std::chrono::milliseconds interval{1'000};
    /// While this answers true (pgdual sync copies the database, or it waits for a sync: the
    /// restore sets the sequences back to the copy's point), run() sets nothing and forgets what it
    /// set, so that it sets every sequence again once the copy is over. Never pauses when empty.
    std::function<bool()> paused{};
    /// How long a server may take to answer one pass's statements before its connection is given up.
    std::chrono::milliseconds answer_timeout{30'000};
  };

  SequenceCopier(config::BackendConfig primary, std::shared_ptr<ssl::context> primary_tls,
                 config::BackendConfig mirror, std::shared_ptr<ssl::context> mirror_tls, Options options,
                 std::shared_ptr<spdlog::logger> log);

  /// Copies every interval until stop(). A failed pass is logged, kept in progress().last_error,
  /// and the next pass reconnects: nothing is thrown but the coroutine's own cancellation, which
  /// ends it too (terminal cancellation through the slot of the completion token it was spawned with).
  Awaitable<void> run();
  /// Ends run() at once when it is waiting for the next pass, else when the pass under way is over
  /// (at the latest after answer_timeout).
  void stop() noexcept;

  /// One pass, now: returns how many sequences it set on the mirror. Sequences not copied are
  /// logged and left out, as in run(). Precondition: run() is not running (it uses the same
  /// connections): stop() it and let it end first. Throws BackendUnavailable or BackendRefused (a
  /// login), SequenceCopyError (a server refused pgdual's statement, a broken or silent
  /// connection); the connections are dropped then, and the next call opens new ones.
  Awaitable<std::size_t> copy_once();

  [[nodiscard]] SequenceCopierProgress progress() const;

 private:
  /// What a sequence looks like from outside: `SELECT last_value, is_called FROM` it.
  struct SequenceState {
    std::int64_t last_value = 0;
    bool is_called = false;
    friend bool operator==(const SequenceState&, const SequenceState&) = default;
  };
  /// A sequence of the primary; no state when the primary's login may not read it.
  struct PrimarySequence {
    std::string name;  ///< "schema"."name", quoted
    std::optional<SequenceState> state;
  };

  Awaitable<void> connect();
  Awaitable<std::vector<PrimarySequence>> read_primary();
  /// The sequences whose state differs from what this copier last set; the unreadable ones are
  /// noted as not copied.
  std::vector<const PrimarySequence*> to_set(const std::vector<PrimarySequence>& sequences);
  /// Sets `changed` on the mirror; returns how many the mirror took.
  Awaitable<std::size_t> set_on_mirror(const std::vector<const PrimarySequence*>& changed);
  /// Forgets what this copier set for sequences the primary no longer has.
  void forget_all_but(const std::vector<PrimarySequence>& sequences);
  /// Warns the first time `name` fails for `reason`; later passes failing alike log at debug only.
  void note_not_copied(const std::string& name, const std::string& reason);
  void note_copied(const std::string& name);

  config::BackendConfig primary_;
  std::shared_ptr<ssl::context> primary_tls_;
  config::BackendConfig mirror_;
  std::shared_ptr<ssl::context> mirror_tls_;
  Options options_;
  std::shared_ptr<spdlog::logger> log_;
  std::string database_;
  std::optional<BackendConnection> primary_connection_;
  std::optional<BackendConnection> mirror_connection_;
  /// By name: the state this copier last set on the mirror, which it needs not set again.
  std::map<std::string, SequenceState> last_set_;
  /// By name: why a sequence is not copied, as last warned about.
  std::map<std::string, std::string> failing_;
  TaskStop stop_;
  mutable std::mutex progress_mutex_;
  SequenceCopierProgress progress_;
};

}  // namespace pgdual::proxy
