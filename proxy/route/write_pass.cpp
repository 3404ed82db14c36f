#include "proxy/route/write_pass.h"

namespace pgdual::proxy {

// A SWAP ROLES cannot move a transaction open on the primary: every transaction that may write is
// held before its first statement, reads inside it included, while autocommit reads and READ ONLY
// transactions go on. Transaction control that opens nothing (a COMMIT outside a transaction) may
// wait too: it costs the client a pause, never an answer.
WritePass write_pass_for(const UnitSummary& unit, protocol::TransactionStatus primary_status, bool holding) noexcept {
  if (holding || !unit.executes) return WritePass::none;
  const bool writes = unit.kind == sql::StatementKind::write || unit.kind == sql::StatementKind::copy_in;
  if (primary_status != protocol::TransactionStatus::idle) return writes ? WritePass::join : WritePass::none;
  return writes || unit.may_begin_writes ? WritePass::enter : WritePass::none;
}

}  // namespace pgdual::proxy
