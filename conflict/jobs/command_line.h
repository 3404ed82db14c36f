#pragma once

#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace pgdual::jobs {

/// What `pgdual CMD --help` prints, kept next to CMD's parser so the options are listed once.
struct CommandHelp {
  std::string_view name;  ///< as typed after "pgdual", e.g. "conflicts report"
  std::string synopsis;   ///< the "usage: pgdual NAME …" lines
  std::string details;    ///< what the command does, then one line per option
};

/// True when `--help` or `-h` is among `args`: help wins over any other problem with them.
[[nodiscard]] bool asks_for_help(std::span<char* const> args);

/// Prints `help` whole to `out`; returns exit code 0.
int print_help(const CommandHelp& help, std::FILE* out = stdout);

/// Prints "pgdual NAME: PROBLEM", the synopsis and where the options are explained to `err`;
/// returns exit code 2, that of a wrong command line.
int usage_error(const CommandHelp& help, std::string_view problem, std::FILE* err = stderr);

}  // namespace pgdual::jobs
