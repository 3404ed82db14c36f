#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

namespace pgdual::test {

/// The processes whose parent is `parent`, from /proc: a server's backends and helpers.
[[nodiscard]] std::vector<pid_t> children_of(pid_t parent);

/// True once `pid` has exited: no such process, or a zombie. Orphans of a killed server are
/// re-parented to PID 1, which in some containers never reaps them; they are dead all the same.
[[nodiscard]] bool has_exited(pid_t pid);

/// Waits up to `timeout` until every process of `pids` has exited. Returns whether they have.
bool wait_until_exited(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout);

}  // namespace pgdual::test
