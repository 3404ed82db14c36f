#include "tests/integration/harness/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "tests/integration/harness/temp_dir.h"

extern char** environ;

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;

struct Identity {
  uid_t uid;
  gid_t gid;
};

/// Everything the child needs, prepared before fork so the child only makes async-signal-safe calls.
struct ChildPlan {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* stdin_file;
  const char* stdout_file;
  const char* stderr_file;
  const char* working_dir;  ///< nullptr: keep ours
  std::optional<Identity> identity;
  std::optional<pid_t> parent_to_die_with;
};

std::optional<Identity> identity_for(const ProcessOptions& options) {
  if (!options.run_as || geteuid() != 0) return std::nullopt;
  errno = 0;
  const passwd* entry = getpwnam(options.run_as->c_str());
  if (entry == nullptr) {
    throw std::system_error(errno == 0 ? ENOENT : errno, std::generic_category(),
                            "getpwnam " + *options.run_as);
  }
  return Identity{entry->pw_uid, entry->pw_gid};
}

std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text{*entry};
    const auto name = std::string{text.substr(0, text.find('='))};
    if (name.starts_with("PG") || extra.contains(name)) continue;
    env.emplace_back(text);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> c_string_array(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

std::filesystem::path find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* search_path = std::getenv("PATH");
  std::string_view directories = search_path == nullptr ? "/usr/bin:/bin" : search_path;
  while (!directories.empty()) {
    const auto end = directories.find(':');
    const auto candidate = std::filesystem::path{directories.substr(0, end)} / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    directories = end == std::string_view::npos ? "" : directories.substr(end + 1);
  }
  throw std::system_error(ENOENT, std::generic_category(), "not found in PATH: " + name);
}

bool redirect(const char* file, int flags, int target_fd) {
  const int fd = open(file, flags, 0644);
  if (fd < 0) return false;
  const bool ok = dup2(fd, target_fd) >= 0;
  close(fd);
  return ok;
}

bool become(const Identity& identity) {
  return setgroups(1, &identity.gid) == 0 && setgid(identity.gid) == 0 && setuid(identity.uid) == 0;
}

// Set after become(): changing the effective user clears the parent-death signal.
bool die_with(pid_t parent) { return prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid() == parent; }

// The test process holds connections of its own (an in-process applier's replication stream,
// say), and Asio opens sockets without close-on-exec: a server started here, or restarted, would
// keep them open after the test closed them, and the primary's WAL sender with them. Async-signal
// safe, as the child of a threaded process must be.
void close_inherited_on_exec() {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  rlimit limit{};
  const auto last = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
  for (rlim_t fd = 3; fd < last; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);  // EBADF when unused
}

[[noreturn]] void exec_child(const ChildPlan& plan, int error_pipe) {
  close_inherited_on_exec();
  constexpr int kOutputFlags = O_WRONLY | O_CREAT | O_APPEND;
  const bool ready = redirect(plan.stdin_file, O_RDONLY, STDIN_FILENO) &&
                     redirect(plan.stdout_file, kOutputFlags, STDOUT_FILENO) &&
                     redirect(plan.stderr_file, kOutputFlags, STDERR_FILENO) &&
                     (plan.working_dir == nullptr || chdir(plan.working_dir) == 0) &&
                     (!plan.identity || become(*plan.identity)) &&
                     (!plan.parent_to_die_with || die_with(*plan.parent_to_die_with));
  if (ready) execve(plan.program, plan.argv, plan.envp);
  const int error = errno;
  // The parent reads this errno from the close-on-exec pipe; a successful exec closes it empty.
  [[maybe_unused]] const auto ignored = write(error_pipe, &error, sizeof error);
  _exit(127);
}

int exit_code_from(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

Subprocess::Subprocess(const std::vector<std::string>& argv, const ProcessOptions& options,
                       const std::filesystem::path& stdout_file, const std::filesystem::path& stderr_file) {
  const auto program = find_program(argv.at(0));
  auto arguments = argv;
  auto environment = child_environment(options.env);
  const auto argument_pointers = c_string_array(arguments);
  const auto environment_pointers = c_string_array(environment);
  const ChildPlan plan{program.c_str(),
                       argument_pointers.data(),
                       environment_pointers.data(),
                       options.stdin_file.c_str(),
                       stdout_file.c_str(),
                       stderr_file.c_str(),
                       options.working_dir.empty() ? nullptr : options.working_dir.c_str(),
                       identity_for(options),
                       options.dies_with_parent ? std::optional<pid_t>{getpid()} : std::nullopt};

  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  pid_ = fork();
  if (pid_ == 0) exec_child(plan, error_pipe[1]);
  const int fork_errno = errno;
  close(error_pipe[1]);
  if (pid_ < 0) {
    close(error_pipe[0]);
    throw std::system_error(fork_errno, std::generic_category(), "fork");
  }
  int child_errno = 0;
  const auto got = read(error_pipe[0], &child_errno, sizeof child_errno);
  close(error_pipe[0]);
  if (got > 0) {
    wait_for(5s);
    pid_ = -1;
    throw std::system_error(child_errno, std::generic_category(), "cannot start " + argv.at(0));
  }
}

Subprocess::~Subprocess() {
  if (pid_ <= 0 || exit_code_) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_code_(other.exit_code_) {}

std::optional<int> Subprocess::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exit_code_) {
    int status = 0;
    const pid_t reaped = waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      exit_code_ = exit_code_from(status);
    } else if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  return exit_code_;
}

bool Subprocess::running() { return !wait_for(0ms).has_value(); }

void Subprocess::send_signal(int signal_number) {
  if (pid_ > 0 && !exit_code_) kill(pid_, signal_number);
}

std::string RunResult::describe() const {
  const auto ending = timed_out ? std::string{"timed out"} : "exit code " + std::to_string(exit_code);
  return ending + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
}

RunResult run(const std::vector<std::string>& argv, const ProcessOptions& options,
              std::chrono::milliseconds timeout) {
  const TempDir capture{"pgdual-run"};
  RunResult result;
  {
    Subprocess child{argv, options, capture.path() / "stdout", capture.path() / "stderr"};
    const auto exit_code = child.wait_for(timeout);
    result.timed_out = !exit_code.has_value();
    result.exit_code = exit_code.value_or(-1);
  }  // a child that timed out is killed here, before its output is read
  result.out = read_file(capture.path() / "stdout");
  result.err = read_file(capture.path() / "stderr");
  return result;
}

}  // namespace pgdual::test
