#pragma once

#include <cstdint>
#include <vector>

#include "conflict/conflict_record.h"
#include "proxy/net/asio.h"
#include "proxy/session/mirror_link.h"
#include "proxy/session/mirror_reads.h"
#include "proxy/session/session_context.h"

namespace pgdual::proxy {

/// A session's conflict records, on their way to the conflict log. Those of units whose COMMIT
/// the mirror may have applied before it broke off are kept too, by idempotency key, to be
/// looked up in the mirror's ledger on its next connection.
class ConflictRecorder {
 public:
  ConflictRecorder(const SessionContext& context, std::uint64_t session_id, MirrorReads& reads)
      : context_{context}, id_{session_id}, reads_{reads} {}

  /// Logs and counts `record` and hands it to the conflict log. From then on the mirror serves
  /// none of the session's reads: it may lack a write the session made. With `commit_in_flight`,
  /// a record whose mirror did not answer is also kept for resolve_unknown_commits().
  void submit(conflict::ConflictRecord record, bool commit_in_flight);
  /// Logs, counts and hands on the conflict of a read the mirror failed and the primary answered
  /// otherwise. The session's reads may still go to the mirror: no write of theirs is at stake,
  /// and the brake judges whether the mirror serves reads at all.
  void submit_read(conflict::ConflictRecord record);
  /// On a new mirror connection: the kept records whose key is in the mirror's ledger (the
  /// commit went through) are resolved.
  Awaitable<void> resolve_unknown_commits(MirrorLink& link);
  /// Some record waits for resolve_unknown_commits(): the mirror may lack a write or not.
  [[nodiscard]] bool commits_unknown() const noexcept { return !unknown_commits_.empty(); }

 private:
  void hand_on(conflict::ConflictRecord record);

  const SessionContext& context_;
  std::uint64_t id_;
  MirrorReads& reads_;
  std::vector<conflict::ConflictRecord> unknown_commits_;
};

}  // namespace pgdual::proxy
