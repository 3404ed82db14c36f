#include "tests/integration/harness/process_tree.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "tests/integration/harness/loopback.h"

namespace pgdual::test {
namespace {

struct ProcessStat {
  char state = '?';
  pid_t parent = 0;
};

// /proc/PID/stat is "pid (comm) state ppid ...", where comm may hold spaces and parentheses: the
// fields after it start behind the last ')'.
std::optional<ProcessStat> stat_of(pid_t pid) {
  std::ifstream file{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(file, line)) return std::nullopt;
  const auto comm_end = line.rfind(')');
  if (comm_end == std::string::npos) return std::nullopt;
  std::istringstream rest{line.substr(comm_end + 1)};
  ProcessStat stat;
  if (!(rest >> stat.state >> stat.parent)) return std::nullopt;
  return stat;
}

std::optional<pid_t> pid_named(const std::string& name) {
  pid_t pid = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (error != std::errc{} || end != name.data() + name.size()) return std::nullopt;
  return pid;
}

}  // namespace

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator{"/proc"}) {
    const auto pid = pid_named(entry.path().filename().string());
    if (!pid) continue;
    const auto stat = stat_of(*pid);
    if (stat && stat->parent == parent) children.push_back(*pid);
  }
  return children;
}

bool has_exited(pid_t pid) {
  const auto stat = stat_of(pid);
  return !stat || stat->state == 'Z';
}

bool wait_until_exited(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
  return wait_until([&] { return std::ranges::all_of(pids, has_exited); }, timeout);
}

}  // namespace pgdual::test
