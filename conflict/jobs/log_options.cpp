#include "conflict/jobs/log_options.h"

namespace pgdual::jobs {

conflict::ConflictLogOptions conflict_log_options(const config::ConflictsConfig& settings) {
  return {.sync = settings.sync == config::ConflictSync::group ? conflict::SyncPolicy::on_flush
                                                               : conflict::SyncPolicy::every_append,
          .rotate_bytes = settings.rotate_bytes,
          .keep_rotated = settings.keep_rotated};
}

}  // namespace pgdual::jobs
