#pragma once

#include "config/proxy_config.h"
#include "conflict/conflict_log.h"

namespace pgdual::jobs {

/// How the configuration asks the conflict log to be written: by `pgdual serve`, and by
/// `pgdual reconcile` when no serve holds the log.
[[nodiscard]] conflict::ConflictLogOptions conflict_log_options(const config::ConflictsConfig& settings);

}  // namespace pgdual::jobs
