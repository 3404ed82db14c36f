#include "conflict/jobs/pg_tools.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace pgdual::jobs {
namespace {

/// How often a waiting run looks at `stop`.
constexpr int kPollMilliseconds = 200;
/// How much of a failed program's stderr an error message quotes, from its end.
constexpr std::size_t kQuotedErrors = 2000;

/// Both ends of a pipe, closed when they go.
struct Pipe {
  std::array<int, 2> ends{-1, -1};
  Pipe() {
    if (pipe(ends.data()) != 0) throw std::runtime_error{std::string{"pipe failed: "} + std::strerror(errno)};
  }
  ~Pipe() {
    for (const int end : ends) {
      if (end >= 0) close(end);
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_end(int which) {
    close(ends[static_cast<std::size_t>(which)]);
    ends[static_cast<std::size_t>(which)] = -1;
  }
};

/// The environment as it is, PGPASSWORD replaced.
std::vector<std::string> environment_with(const std::string& password) {
  std::vector<std::string> variables;
  for (char** variable = environ; *variable != nullptr; ++variable) {
    if (std::strncmp(*variable, "PGPASSWORD=", 11) != 0) variables.emplace_back(*variable);
  }
  if (!password.empty()) variables.push_back("PGPASSWORD=" + password);
  return variables;
}

std::vector<char*> pointers_to(std::vector<std::string>& texts) {
  std::vector<char*> pointers;
  for (auto& text : texts) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

pid_t spawn(const std::string& program, std::vector<std::string> arguments, const std::string& password, Pipe& out,
            Pipe& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out.ends[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.ends[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, out.ends[0]);
  posix_spawn_file_actions_addclose(&actions, err.ends[0]);
  arguments.insert(arguments.begin(), program);
  auto argv = pointers_to(arguments);
  auto variables = environment_with(password);
  auto envp = pointers_to(variables);
  pid_t child = 0;
  const int failed = posix_spawnp(&child, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (failed != 0) throw std::runtime_error{"cannot run " + program + ": " + std::strerror(failed)};
  return child;
}

/// Reads both pipes until the child closes them, so that neither fills up and stalls it.
void drain(Pipe& out, Pipe& err, ToolRun& run, pid_t child, const std::atomic<bool>& stop) {
  std::array<pollfd, 2> ends{pollfd{.fd = out.ends[0], .events = POLLIN, .revents = 0},
                             pollfd{.fd = err.ends[0], .events = POLLIN, .revents = 0}};
  std::array<std::string*, 2> into{&run.output, &run.errors};
  bool signalled = false;
  while (ends[0].fd >= 0 || ends[1].fd >= 0) {
    if (stop && !signalled) {
      kill(child, SIGTERM);
      signalled = true;
    }
    if (poll(ends.data(), ends.size(), kPollMilliseconds) < 0 && errno != EINTR) break;
    for (std::size_t index = 0; index < ends.size(); ++index) {
      if (ends[index].fd < 0 || ends[index].revents == 0) continue;
      std::array<char, 65536> buffer{};
      const auto got = read(ends[index].fd, buffer.data(), buffer.size());
      if (got > 0) {
        into[index]->append(buffer.data(), static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ends[index].fd = -1;  // the pipe closes with its Pipe
      }
    }
  }
}

}  // namespace

ToolRun run_tool(const std::string& program, const std::vector<std::string>& arguments, const std::string& password,
                 const std::atomic<bool>& stop) {
  Pipe out;
  Pipe err;
  const auto child = spawn(program, arguments, password, out, err);
  out.close_end(1);
  err.close_end(1);
  ToolRun run;
  drain(out, err, run, child, stop);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

std::string tool_failure(const std::string& program, const ToolRun& run) {
  auto errors = run.errors;
  if (errors.size() > kQuotedErrors) errors = "..." + errors.substr(errors.size() - kQuotedErrors);
  while (!errors.empty() && errors.back() == '\n') errors.pop_back();
  return program + " failed (exit code " + std::to_string(run.exit_code) + ")" + (errors.empty() ? "" : ": " + errors);
}

}  // namespace pgdual::jobs
