#pragma once

#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual ctl --config FILE [--user NAME] COMMAND...`: runs COMMAND (the words after the options,
/// joined by spaces) on the admin console of the pgdual FILE configures, for scripts: PAUSE WRITES,
/// SWAP ROLES, RESUME WRITES, SHOW CUTOVER, or any other console command. Prints each row of the
/// answer on stdout, columns separated by '|'. Returns the process exit code: 0 when the console
/// answered without an error; 1 when it refused the command (its message and SQLSTATE on stderr),
/// pgdual could not be reached, or FILE is invalid; 2 for a wrong command line; 0 after printing
/// ctl_help() for --help or -h before COMMAND.
int run_ctl_command(std::span<char*> args);

/// `pgdual ctl --help`: its usage and what each option means.
[[nodiscard]] CommandHelp ctl_help();

}  // namespace pgdual::jobs
