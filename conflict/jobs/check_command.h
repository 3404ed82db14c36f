#pragma once

#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual check --config FILE [--database NAME]... [--swapped]`: validates FILE, then runs check_readiness()
/// (with --swapped on the configuration with the roles swapped, as SWAP ROLES leaves them)
/// and prints its report (render_report) on stdout. Returns the process exit code: 0 when no check
/// failed (warnings allowed), 1 when one did (an invalid FILE too, named by key and line), 2 for a
/// wrong command line, named on stderr; 0 after printing check_help() for --help or -h anywhere.
int run_check_command(std::span<char*> args);

/// `pgdual check --help`: its usage and what each option means.
[[nodiscard]] CommandHelp check_help();

}  // namespace pgdual::jobs
