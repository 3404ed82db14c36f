#pragma once

#include <cstdio>
#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual reconcile --config FILE --database NAME [--user NAME] [--table T…] [--chunk-rows N]
/// [--dry-run | --apply]` (`args` are the words after "reconcile"): makes the mirror's copy of
/// database NAME equal to the primary's, which is authoritative (docs/reconcile.md).
///
/// Finds the differences as `pgdual verify` does and plans, per table: schema repairs (DDL on the
/// mirror, or "by hand" for what pgdual does not change), rows to insert, update and delete on
/// the mirror by primary key, or by content for a table without one, and sequence positions.
/// --dry-run (the default) prints the plan and changes nothing. --apply runs it, each batch of at
/// most a few hundred rows in its own transaction on the mirror, then verifies again. Running it
/// twice changes nothing the second time. Prints keys, never other row values.
///
/// Returns the process exit code:
///   0  nothing to do, or everything done and verified identical;
///   1  with --dry-run: there is something to do; with --apply: something is left (by hand, or
///      an error, printed);
///   2  bad arguments, configuration, user or table, or a backend that could not be reached.
/// --help or -h anywhere prints reconcile_help() to `out`, and returns 0.
int run_reconcile_command(std::span<char*> args, std::FILE* out = stdout, std::FILE* err = stderr);

/// `pgdual reconcile --help`: its usage and what each option means.
[[nodiscard]] CommandHelp reconcile_help();

}  // namespace pgdual::jobs
