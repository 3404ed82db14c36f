#include "proxy/session/refused_writes.h"

#include <utility>

#include "protocol/sqlstate.h"
#include "proxy/net/wire_io.h"
#include "proxy/route/uncarried_writes.h"

namespace pgdual::proxy {

RefusedWrites::RefusedWrites(const UnitPlanner& planner, std::string refusal, std::uint64_t session_id,
                             std::shared_ptr<spdlog::logger> log)
    : planner_{planner},
      statement_{raise_statement("object_not_in_prerequisite_state", "pgdual: " + refusal)},
      refusal_{std::move(refusal)},
      session_id_{session_id},
      log_{std::move(log)} {}

UnitPrefix RefusedWrites::open_unit(const UnitPlan&, std::vector<std::byte>& segment,
                                    std::vector<protocol::Frame>& frames) {
  const auto& unit = planner_.summary();
  const auto plan = plan_write_refusal(unit, frames, status_);
  if (plan.form != RefusalForm::none) {
    log_->info("session={}: refused a unit that may write: its database is not set up for mirroring", session_id_);
    return refuse_unit(plan, statement_, segment, frames);
  }
  // A failed transaction runs nothing until it ends: the server refuses the unit itself.
  if (unit.kind < sql::StatementKind::copy_in || status_ == protocol::TransactionStatus::failed) return {};
  throw SessionError{protocol::sqlstate::kObjectNotInPrerequisiteState, "pgdual: " + refusal_};
}

}  // namespace pgdual::proxy
