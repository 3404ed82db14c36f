#pragma once

#include <cstdio>

#include "config/proxy_config.h"
#include "conflict/resolution.h"

namespace pgdual::jobs {

/// Resolves, in the conflict log of `settings`, the open conflicts `scope` settles
/// (conflict::settles): appends a resolution record for each, directly when no `pgdual serve`
/// holds the log, or else through the log's inbox, which that serve appends within a second.
/// Prints what it did to `out`, never a record's contents. False, with the reason printed, when
/// the log could not be read or written; a log that does not exist holds nothing to resolve.
[[nodiscard]] bool resolve_conflicts(const config::ConflictsConfig& settings, const conflict::VerifiedScope& scope,
                                     std::FILE* out);

/// Now, as the conflict records' times are compared.
[[nodiscard]] conflict::Timestamp now_as_timestamp();

}  // namespace pgdual::jobs
