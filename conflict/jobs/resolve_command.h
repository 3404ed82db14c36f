#pragma once

#include <cstdio>
#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual conflicts resolve --config FILE --id ID... --by NAME --reason TEXT` (`args` are the
/// words after "resolve").
///
/// Resolves the named conflicts of the configuration's conflict log (conflict::operator_resolutions):
/// the way to close a conflict no reconcile can, because it names no table (a COMMIT, a large
/// object, a bare `SELECT nextval`), and a conflict an operator repaired by hand. The records say
/// who (`--by`) and why (`--reason`). Appends them directly, or through the log's inbox while
/// `pgdual serve` holds the log (jobs::deliver_resolutions). Prints what it did to `out` and each
/// id it could not resolve to `err`. Returns the process exit code:
///   0  every id given was resolved;
///   1  some ids were not (unknown, or resolved already; each is named), or the log could not be
///      read or written; the others were resolved;
///   2  bad arguments or configuration (the message names the option); nothing was resolved.
/// --help or -h anywhere prints resolve_help() to `out`, and returns 0.
int run_resolve_command(std::span<char*> args, std::FILE* out = stdout, std::FILE* err = stderr);

/// `pgdual conflicts resolve --help`: its usage and what each option means.
[[nodiscard]] CommandHelp resolve_help();

}  // namespace pgdual::jobs
