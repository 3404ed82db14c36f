#include "proxy/route/read_failover.h"

#include "protocol/sqlstate.h"

namespace pgdual::proxy {

bool primary_answers_instead(const MirrorReadEnd& read) noexcept {
  using protocol::TransactionStatus;
  if (read.reached_client) return false;
  // Nothing reached the client: a mirror that broke off has left it with nothing to go on.
  if (read.connection_lost) return true;
  if (read.error_sqlstate.empty() || read.error_sqlstate == protocol::sqlstate::kQueryCanceled) return false;
  return read.status_before == TransactionStatus::idle && read.mirror_status_after == TransactionStatus::idle;
}

std::optional<conflict::ConflictKind> judge_failed_over_read(std::string_view mirror_sqlstate,
                                                             std::string_view primary_sqlstate) noexcept {
  if (primary_sqlstate == mirror_sqlstate) return std::nullopt;
  if (primary_sqlstate.empty()) return conflict::ConflictKind::mirror_error;
  return conflict::ConflictKind::different_errors;
}

}  // namespace pgdual::proxy
