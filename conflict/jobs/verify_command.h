#pragma once

#include <cstdio>
#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual verify --config FILE --database NAME [--user NAME] [--table T…] [--chunk-rows N]
/// [--jobs J] [--settle-ms MS] [--progress | --no-progress]` (`args` are the words after "verify"):
/// proves database NAME identical on both backends, or names what differs (docs/verify.md).
///
/// Connects to the primary and the mirror as the user (the first configured one unless --user),
/// compares the schemas of every application table (or of each T), their row counts, and md5
/// checksums the servers compute over ranges of N primary key values (default 10000), narrowing
/// differing ranges down to keys; tables without a primary key get one hash over all rows. Then
/// the sequences' positions. Without --table, also the materialized views (definition, rows) and
/// the large objects (OIDs, content digests); the relations it cannot compare (unlogged and
/// foreign tables) are named. Each table is read in one snapshot per backend. Memory stays bounded
/// by N, J and the catalogs, whatever the tables' sizes.
///
/// J workers (default 1), each with its own pair of connections, take the tables in order; the
/// output is the same whatever J. What differs is read again after a pause of MS milliseconds
/// (default 1000; 0: not at all), outside the snapshots: differences gone by then are reported as
/// settled, those whose rows changed in between as possibly writes in flight. A progress line goes
/// to `err` when it is a terminal, or with --progress.
///
/// Prints to `out` as it goes: primary key values of differing rows, never other row values.
/// Returns the process exit code:
///   0  identical (differences that settled on re-check included);
///   1  something differs, or a table could not be compared (its error is printed);
///   3  everything compared is identical, but some relations cannot be compared (named): the
///      verdict is `identical except N objects not compared`, never the plain one;
///   2  bad arguments, an unreadable configuration, an unknown user or table, or a backend that
///      could not be reached or read by any worker (the message, on `err`, names it): nothing was
///      verified.
/// --help or -h anywhere prints verify_help() to `out`, and returns 0.
int run_verify_command(std::span<char*> args, std::FILE* out = stdout, std::FILE* err = stderr);

/// `pgdual verify --help`: its usage and what each option means.
[[nodiscard]] CommandHelp verify_help();

}  // namespace pgdual::jobs
