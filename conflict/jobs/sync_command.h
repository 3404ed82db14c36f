#pragma once

#include <span>

#include "conflict/jobs/command_line.h"

namespace pgdual::jobs {

/// `pgdual sync --config FILE --database NAME [--user NAME] [--jobs N] [--force] [--progress |
/// --no-progress]` (docs/sync.md): copies one database of the live primary onto the mirror from
/// one consistent point, while pgdual serve serves clients, has serve's WAL mirror catch up from
/// that point, and ends with pgdual verify. Returns the exit code: 0 in sync and verified
/// identical, 1 a failure or a difference (named), 2 a wrong command line, 130 interrupted.
int run_sync_command(std::span<char*> args);

/// `pgdual sync --help`.
[[nodiscard]] CommandHelp sync_help();

}  // namespace pgdual::jobs
