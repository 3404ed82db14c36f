#pragma once

#include <atomic>
#include <string>
#include <vector>

/// PostgreSQL's own programs (pg_dump, pg_restore), run by `pgdual sync` as child processes.
namespace pgdual::jobs {

/// How a program ended, and what it printed.
struct ToolRun {
  int exit_code = 0;   ///< its exit status; 128 + the signal when a signal ended it
  std::string output;  ///< its stdout
  std::string errors;  ///< its stderr: PostgreSQL's programs name objects there, never row data
};

/// Runs `program` (looked up in PATH) with `arguments`, with PGPASSWORD set to `password` in its
/// environment only (never on its command line, where ps shows it), and waits for it. While it runs,
/// a true `stop` ends it with SIGTERM. Throws std::runtime_error when it cannot be started.
ToolRun run_tool(const std::string& program, const std::vector<std::string>& arguments, const std::string& password,
                 const std::atomic<bool>& stop);

/// "pg_dump failed (exit code 1): <its last lines on stderr>", for an error message.
[[nodiscard]] std::string tool_failure(const std::string& program, const ToolRun& run);

}  // namespace pgdual::jobs
