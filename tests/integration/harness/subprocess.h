#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgdual::test {

/// How to start a child process. The child gets our environment without any PG* variable
/// (so a developer's PGHOST or PGSERVICE cannot leak into a test), plus `env`.
struct ProcessOptions {
  std::map<std::string, std::string> env;
  std::filesystem::path stdin_file = "/dev/null";
  std::filesystem::path working_dir;  ///< empty: ours
  /// OS user to run as. Honoured only when we are root; otherwise the child runs as us.
  std::optional<std::string> run_as;
  /// Kill the child (SIGKILL) if this process dies first, so an interrupted test run leaves no
  /// psql or pgdual behind. Only a watchdog that must outlive us turns it off.
  bool dies_with_parent = true;
};

/// A child process, started with fork/exec. Signals go to its own PID only, never to a group.
/// The destructor kills (SIGKILL) and reaps a child that is still running.
class Subprocess {
 public:
  /// Starts `argv` (argv[0] looked up in PATH unless it contains '/'), appending its stdout and
  /// stderr to the given files (which may be the same file).
  /// Throws std::system_error when the program cannot be found or started.
  Subprocess(const std::vector<std::string>& argv, const ProcessOptions& options,
             const std::filesystem::path& stdout_file, const std::filesystem::path& stderr_file);
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Waits up to `timeout` for the child to exit. Returns its exit code (128 + signal number when
  /// a signal ended it, as shells report it), or nullopt if it is still running.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);

  /// True until the child has exited (and been reaped by wait_for).
  [[nodiscard]] bool running();

  /// Sends `signal_number` to the child. Does nothing once it has been reaped.
  void send_signal(int signal_number);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

/// What a finished command printed and how it ended.
struct RunResult {
  int exit_code = -1;  ///< as Subprocess::wait_for; meaningless when timed_out
  bool timed_out = false;
  std::string out;
  std::string err;

  /// "exit code 2" or "timed out", then stdout and stderr, for failure messages.
  [[nodiscard]] std::string describe() const;
};

/// Runs `argv` to completion, capturing stdout and stderr. A child still running after `timeout`
/// is killed and reported as timed out. Throws std::system_error when it cannot be started.
[[nodiscard]] RunResult run(const std::vector<std::string>& argv, const ProcessOptions& options,
                            std::chrono::milliseconds timeout);

}  // namespace pgdual::test
