#include "protocol/sql/classification.h"

namespace pgdual::sql {

std::string_view to_string(StatementKind kind) noexcept {
  switch (kind) {
    case StatementKind::read: return "read";
    case StatementKind::copy_out: return "copy_out";
    case StatementKind::transaction_control: return "transaction_control";
    case StatementKind::listen: return "listen";
    case StatementKind::session_state: return "session_state";
    case StatementKind::copy_in: return "copy_in";
    case StatementKind::write: return "write";
  }
  return "unknown";
}

std::string_view to_string(TransactionControl control) noexcept {
  switch (control) {
    case TransactionControl::none: return "none";
    case TransactionControl::begin: return "begin";
    case TransactionControl::begin_read_only: return "begin_read_only";
    case TransactionControl::commit: return "commit";
    case TransactionControl::rollback: return "rollback";
    case TransactionControl::savepoint: return "savepoint";
    case TransactionControl::release_savepoint: return "release_savepoint";
    case TransactionControl::rollback_to_savepoint: return "rollback_to_savepoint";
    case TransactionControl::prepare_transaction: return "prepare_transaction";
    case TransactionControl::commit_prepared: return "commit_prepared";
    case TransactionControl::rollback_prepared: return "rollback_prepared";
  }
  return "unknown";
}

}  // namespace pgdual::sql
