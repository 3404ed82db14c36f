#include "proxy/cutover/role_swap.h"

#include <algorithm>
#include <utility>

#include <spdlog/fmt/fmt.h>

#include "conflict/compare.h"
#include "conflict/conflict_record.h"
#include "proxy/admin/live_settings.h"
#include "proxy/admin/metrics.h"
#include "proxy/conflict_sink.h"
#include "proxy/cutover/running_roles.h"
#include "proxy/cutover/write_gate.h"
#include "proxy/mirror/wal_mirrors.h"

namespace pgdual::proxy {

CutoverAudit audit_trail(ConflictSink& conflicts) {
  return [&conflicts](const std::string& who, std::string what) {
    conflict::ConflictRecord record;
    record.idempotency_key = "cutover";
    record.kind = conflict::ConflictKind::cutover;
    record.resolution = conflict::Resolution::resolved;
    record.resolved_by = who;
    record.resolution_note = std::move(what);
    conflicts.submit(std::move(record));
  };
}

// The mirrors first: until they run the other way round, no session may write on the new primary.
Awaitable<Expected<SwapReport, std::string>> swap_roles(const SwapParts& parts, const std::string& who,
                                                        std::chrono::milliseconds timeout) {
  const auto started = std::chrono::steady_clock::now();
  auto turned = parts.roles.turned();
  SwapReport report{.primary = turned->primary_backend().name, .mirror = turned->mirror_backend().name};
  parts.log.warn("SWAP ROLES by {}: {} is to become the primary, {} the mirror", who, report.primary, report.mirror);
  const auto swapped = co_await parts.mirrors.swap_roles(turned, started + timeout);
  report.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  if (!swapped) {
    const auto message = swapped.error() + "; the roles are as they were, and writes stay paused";
    parts.log.error("SWAP ROLES by {} failed after {} ms: {}", who, report.took.count(), message);
    parts.audit(who, "SWAP ROLES failed: " + message);
    parts.gate.end_swap("SWAP ROLES by " + who + " failed: " + swapped.error());
    co_return unexpected{message};
  }
  parts.roles.swapped(turned, who);
  parts.settings.keep_primary(turned->primary);
  parts.metrics.swap_roles();
  report.databases = swapped->size();
  for (const auto& database : *swapped) {
    report.drained = std::max(report.drained, database.drained_in);
    report.sequences_set += database.sequences_set;
  }
  parts.log.warn("roles swapped by {} in {} ms: {} is the primary, {} the mirror, fed from its WAL ({} databases); "
                 "writes stay paused until RESUME WRITES",
                 who, report.took.count(), report.primary, report.mirror, report.databases);
  parts.gate.end_swap(fmt::format("SWAP ROLES by {}: {} is the primary ({} ms)", who, report.primary, report.took.count()));
  parts.audit(who, fmt::format("SWAP ROLES: {} is the primary, {} the mirror; {} databases drained (the longest in {} "
                               "ms), {} sequences set, in {} ms",
                               report.primary, report.mirror, report.databases, report.drained.count(),
                               report.sequences_set, report.took.count()));
  co_return report;
}

}  // namespace pgdual::proxy
