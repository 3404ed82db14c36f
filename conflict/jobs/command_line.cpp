#include "conflict/jobs/command_line.h"

#include <algorithm>

namespace pgdual::jobs {

constexpr int kUsageError = 2;

bool asks_for_help(std::span<char* const> args) {
  return std::ranges::any_of(args, [](const char* arg) {
    const std::string_view word = arg;
    return word == "--help" || word == "-h";
  });
}

int print_help(const CommandHelp& help, std::FILE* out) {
  std::fputs((help.synopsis + help.details).c_str(), out);
  return 0;
}

int usage_error(const CommandHelp& help, std::string_view problem, std::FILE* err) {
  const std::string name{help.name};
  std::fprintf(err, "pgdual %s: %.*s\n%ssee \"pgdual %s --help\" for what each option means\n", name.c_str(),
               static_cast<int>(problem.size()), problem.data(), help.synopsis.c_str(), name.c_str());
  return kUsageError;
}

}  // namespace pgdual::jobs
