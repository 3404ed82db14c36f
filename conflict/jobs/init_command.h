#pragma once

#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual init --config FILE --database NAME [--user NAME] [--drop]`: creates
/// pgdual's own schema, with the idempotency ledger, in database NAME on both
/// backends. Idempotent. Returns the process exit code: 2 for a wrong command line, named on
/// stderr; 0 after printing init_help() for --help or -h anywhere.
int run_init_command(std::span<char*> args);

/// `pgdual init --help`: its usage and what each option means.
[[nodiscard]] CommandHelp init_help();

}  // namespace pgdual::jobs
