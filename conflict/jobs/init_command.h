#pragma once

#include <span>

namespace pgdual::jobs {

/// `pgdual init --config FILE --database NAME [--user NAME]`: creates
/// pgdual's own schema, with the idempotency ledger, in database NAME on both
/// backends. Idempotent. Returns the process exit code.
int run_init_command(std::span<char*> args);

}  // namespace pgdual::jobs
